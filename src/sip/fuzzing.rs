//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test: each
//! feeds untrusted bytes to one parser we own. They must never panic or hang.

use super::sdp::{Direction, LocalMedia};
use super::transfer::{parse_sipfrag, reason_cause};
use crate::media::g711::G711;
use crate::media::rtp::RtpSession;

fn local() -> LocalMedia {
    LocalMedia {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 17000)),
        codecs: vec![G711::Ulaw, G711::Alaw],
        dtmf_pt: 101,
        session_id: 1,
        version: 1,
    }
}

/// SDP from a peer, read as an answer and as an offer; an accepted offer's answer must
/// itself read back.
pub fn sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let l = local();
    let _ = l.read_answer(&text);
    if let Ok((answer, _)) = l.answer(&text) {
        assert!(l.read_answer(&answer).is_ok(), "our own answer must parse");
    }
    let _ = l.offer(Direction::SendRecv);
}

/// A NOTIFY body.
pub fn sipfrag(data: &[u8]) {
    if let Some(c) = parse_sipfrag(data) {
        assert!((100..=699).contains(&c));
    }
}

/// A BYE's `Reason` header value (the bridge fallback reads its cause).
pub fn reason(data: &[u8]) {
    if let Some(c) = reason_cause(&String::from_utf8_lossy(data)) {
        assert!((100..=699).contains(&c));
    }
}

/// A sequence of datagrams into one RTP session (the first two bytes of each chunk pick
/// its arrival time), with playout between them.
pub fn rtp(data: &[u8]) {
    let mut s = RtpSession::new(G711::Alaw, Some(101), 1, 0, 0);
    let mut t = 0u64;
    for chunk in data.split(|&b| b == 0xA5) {
        t += u64::from(chunk.first().copied().unwrap_or(0));
        let _ = s.on_datagram(chunk, crate::time::Millis(t));
        let _ = s.pop_frame();
        let _ = s.tick_out(&[0; crate::media::rtp::FRAME_SAMPLES]);
    }
    let _ = s.stats();
}

/// A SIP URI from a command line or a campaign.
pub fn sip_uri(data: &[u8]) {
    let _ = super::ua::check_uri(&String::from_utf8_lossy(data));
}
