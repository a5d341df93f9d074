//! voxdial's phone line: SIP signalling (on rsipstack), SDP negotiation, call progress,
//! and transfer by REFER.

pub mod agent;
pub mod call;
pub mod fuzzing;
pub mod outcome;
pub mod ratelimit;
pub mod scripted;
pub mod sdp;
pub mod timer;
pub mod transfer;
pub mod trunk;
pub mod ua;
pub mod uas;
