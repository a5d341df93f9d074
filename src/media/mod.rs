//! Call media: G.711, the RTP session (sans-IO), and the UDP driver that paces it.
//!
//! `g711` and `rtp` are pure and take time as an argument; `stream` owns the socket and
//! the 20 ms clock and hands the speech pipeline 16 kHz frames in and a flushable
//! playout queue out.

pub mod g711;
pub mod resample;
pub mod rtp;
pub mod stream;
