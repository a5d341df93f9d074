//! Call media: G.711, the RTP session (sans-IO), and the UDP driver that paces it.
//!
//! `g711` and `rtp` are pure and take time as an argument; `stream` is one call's media
//! (socket, session, recording, and the speech pipeline's API: 16 kHz frames in, a
//! flushable playout queue out); `worker` runs many streams per core from one clock (it
//! uses `stream`, never the other way round).

pub mod g711;
pub mod pcap;
pub mod resample;
pub mod rtp;
pub mod stream;
pub mod worker;
