//! The dialer side: pacing controllers, queueing formulas and the campaign simulator.
//! (Campaign lists, storage and the contact-policy engine come next.)

pub mod erlang;
pub mod pacing;
pub mod sim;
