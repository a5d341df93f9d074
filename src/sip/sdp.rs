//! SDP offer/answer (RFC 3264) for one audio stream of G.711 plus telephone-event.
//!
//! Parsing goes through the `sdp` crate (RFC 4566 grammar); this module adds the
//! negotiation rules a phone line needs and says, in words an engineer can act on, why
//! an answer or offer cannot be used (no audio, only SRTP, no common codec, ...).

use crate::media::g711::G711;
use sdp::description::media::MediaDescription;
use sdp::description::session::SessionDescription;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// Why a session description cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    /// The text is not SDP by RFC 4566.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No usable audio stream (none, or all ports 0).
    #[error("no audio stream in the SDP (m=audio missing or its port is 0)")]
    NoAudio,
    /// The peer wants a profile we do not speak (e.g. RTP/SAVP: SRTP).
    #[error("audio profile {0} is not supported (only RTP/AVP: plain RTP)")]
    Profile(String),
    /// No codec in common.
    #[error("no common codec: we offer {ours}, the peer has {theirs}")]
    NoCommonCodec {
        /// What we can do.
        ours: String,
        /// What the peer listed.
        theirs: String,
    },
    /// No address to send media to.
    #[error("no usable connection address (c=) for the audio stream: {0}")]
    Address(String),
}

/// Which way media flows, from the peer's point of view as written in its SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Both ways (the default).
    SendRecv,
    /// The peer only sends (it put us on hold when this is in its offer... or it is listening-only).
    SendOnly,
    /// The peer only receives.
    RecvOnly,
    /// Neither way (hold).
    Inactive,
}

impl Direction {
    fn from_attrs(m: &MediaDescription, s: &SessionDescription) -> Direction {
        let has = |k: &str| m.has_attribute(k) || s.has_attribute(k);
        if has("inactive") {
            Direction::Inactive
        } else if has("sendonly") {
            Direction::SendOnly
        } else if has("recvonly") {
            Direction::RecvOnly
        } else {
            Direction::SendRecv
        }
    }

    /// The direction we answer with (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// What offer/answer settled for the audio stream.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MediaParams {
    /// Where to send RTP (before symmetric-RTP latching corrects it).
    pub remote: SocketAddr,
    /// The codec both sides use.
    pub codec: G711,
    /// The peer's telephone-event payload type, when it has one.
    pub dtmf_pt: Option<u8>,
    /// The peer's direction attribute.
    pub direction: Direction,
    /// The peer's packet time in ms, when stated.
    pub ptime: Option<u32>,
}

/// Our side of a session: where we receive and what we can do.
#[derive(Clone, Debug)]
pub struct LocalMedia {
    /// Our RTP address (the c= and m= port).
    pub addr: SocketAddr,
    /// Codecs in preference order.
    pub codecs: Vec<G711>,
    /// Our telephone-event payload type.
    pub dtmf_pt: u8,
    /// o= session id, fixed for the call.
    pub session_id: u64,
    /// o= version, bumped on every new offer in the call.
    pub version: u64,
}

impl LocalMedia {
    /// A new offer (initial INVITE, or a re-INVITE with `direction` sendonly for hold).
    pub fn offer(&self, direction: Direction) -> String {
        let pts: Vec<String> = self
            .codecs
            .iter()
            .map(|c| c.payload_type().to_string())
            .chain(std::iter::once(self.dtmf_pt.to_string()))
            .collect();
        let mut s = self.header(&pts.join(" "));
        for c in &self.codecs {
            s.push_str(&format!(
                "a=rtpmap:{} {}/8000\r\n",
                c.payload_type(),
                c.name()
            ));
        }
        s.push_str(&format!(
            "a=rtpmap:{0} telephone-event/8000\r\na=fmtp:{0} 0-16\r\n",
            self.dtmf_pt
        ));
        s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction.attr()));
        s
    }

    fn header(&self, formats: &str) -> String {
        let (ip, fam) = match self.addr.ip() {
            IpAddr::V4(ip) => (ip.to_string(), "IP4"),
            IpAddr::V6(ip) => (ip.to_string(), "IP6"),
        };
        format!(
            "v=0\r\no=voxdial {} {} IN {fam} {ip}\r\ns=voxdial\r\nc=IN {fam} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {formats}\r\n",
            self.session_id,
            self.version,
            self.addr.port()
        )
    }

    /// Our answer to the peer's `offer` (an incoming INVITE or re-INVITE), and what was agreed.
    pub fn answer(&self, offer: &str) -> Result<(String, MediaParams), SdpError> {
        let (sd, m) = parse_audio(offer)?;
        // The answerer picks from the offer, in the offerer's order (RFC 3264 §6.1).
        let params = negotiate(&sd, m, &self.codecs, true)?;
        let mut fmts = vec![params.codec.payload_type().to_string()];
        let mut extra = format!(
            "a=rtpmap:{} {}/8000\r\n",
            params.codec.payload_type(),
            params.codec.name()
        );
        if let Some(pt) = params.dtmf_pt {
            fmts.push(pt.to_string());
            extra.push_str(&format!(
                "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
            ));
        }
        let mut s = self.header(&fmts.join(" "));
        s.push_str(&extra);
        s.push_str(&format!(
            "a=ptime:20\r\na={}\r\n",
            params.direction.answer().attr()
        ));
        Ok((s, params))
    }

    /// Read the peer's answer to our offer.
    pub fn read_answer(&self, answer: &str) -> Result<MediaParams, SdpError> {
        let (sd, m) = parse_audio(answer)?;
        negotiate(&sd, m, &self.codecs, false)
    }
}

fn parse_audio(text: &str) -> Result<(SessionDescription, usize), SdpError> {
    // The crate wants CRLF or LF line ends and no trailing junk; trim what peers add.
    // SDP comes from outside; a panic inside the third-party parser must become an
    // error for this call, not take the process down.
    let parsed = std::panic::catch_unwind(|| {
        SessionDescription::unmarshal(&mut Cursor::new(text.trim_start().as_bytes()))
    })
    .map_err(|_| SdpError::Malformed("the SDP parser could not read it".into()))?;
    let sd = parsed.map_err(|e| SdpError::Malformed(e.to_string()))?;
    let idx = sd
        .media_descriptions
        .iter()
        .position(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or(SdpError::NoAudio)?;
    Ok((sd, idx))
}

fn negotiate(
    sd: &SessionDescription,
    idx: usize,
    ours: &[G711],
    peer_is_offerer: bool,
) -> Result<MediaParams, SdpError> {
    let m = &sd.media_descriptions[idx];
    let proto = m.media_name.protos.join("/");
    if proto != "RTP/AVP" {
        return Err(SdpError::Profile(proto));
    }
    // Map each listed format to a codec: static PTs 0/8, or an rtpmap naming PCMU/PCMA.
    let mut rtpmap = std::collections::HashMap::new();
    for a in &m.attributes {
        if a.key == "rtpmap" {
            if let Some(v) = &a.value {
                if let Some((pt, enc)) = v.split_once(' ') {
                    if let Ok(pt) = pt.trim().parse::<u8>() {
                        rtpmap.insert(pt, enc.trim().to_ascii_lowercase());
                    }
                }
            }
        }
    }
    let mut listed = vec![];
    let mut dtmf_pt = None;
    for f in &m.media_name.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let enc = rtpmap.get(&pt).map(String::as_str);
        let codec = match (pt, enc) {
            (_, Some(e)) if e.starts_with("pcmu/8000") => Some(G711::Ulaw),
            (_, Some(e)) if e.starts_with("pcma/8000") => Some(G711::Alaw),
            (0, None) => Some(G711::Ulaw),
            (8, None) => Some(G711::Alaw),
            (_, Some(e)) if e.starts_with("telephone-event/8000") => {
                dtmf_pt = dtmf_pt.or(Some(pt));
                None
            }
            _ => None,
        };
        if let Some(c) = codec {
            listed.push((pt, c));
        }
    }
    // The offerer's order wins when the peer offered; our order when the peer answered
    // (a compliant answer lists only what we offered anyway).
    let chosen = if peer_is_offerer {
        listed.iter().find(|(_, c)| ours.contains(c)).copied()
    } else {
        ours.iter()
            .find_map(|o| listed.iter().find(|(_, c)| c == o).copied())
    };
    let Some((pt, codec)) = chosen else {
        return Err(SdpError::NoCommonCodec {
            ours: ours.iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
            theirs: m.media_name.formats.join(" "),
        });
    };
    if pt != codec.payload_type() {
        // A dynamic PT for a static codec is legal but we send static PTs: refuse clearly.
        return Err(SdpError::NoCommonCodec {
            ours: format!("{} as payload type {}", codec.name(), codec.payload_type()),
            theirs: format!("{} as payload type {pt}", codec.name()),
        });
    }
    let conn = m
        .connection_information
        .as_ref()
        .or(sd.connection_information.as_ref())
        .ok_or_else(|| SdpError::Address("no c= line".into()))?;
    let addr_text = conn
        .address
        .as_ref()
        .map(|a| a.address.clone())
        .ok_or_else(|| SdpError::Address("c= without an address".into()))?;
    let ip: IpAddr = addr_text
        .parse()
        .map_err(|_| SdpError::Address(format!("{addr_text:?} is not an IP address")))?;
    let port = u16::try_from(m.media_name.port.value)
        .map_err(|_| SdpError::Address(format!("port {} out of range", m.media_name.port.value)))?;
    let ptime = m
        .attribute("ptime")
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    Ok(MediaParams {
        remote: SocketAddr::new(ip, port),
        codec,
        dtmf_pt,
        direction: Direction::from_attrs(m, sd),
        ptime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "127.0.0.1:17000".parse().expect("addr"),
            codecs: vec![G711::Ulaw, G711::Alaw],
            dtmf_pt: 101,
            session_id: 42,
            version: 1,
        }
    }

    const PCMA_ONLY: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";

    #[test]
    fn our_offer_parses_and_lists_both_laws_and_dtmf() {
        let o = local().offer(Direction::SendRecv);
        let p = local().read_answer(&o).expect("our own offer reads back");
        assert_eq!(p.codec, G711::Ulaw);
        assert_eq!(p.dtmf_pt, Some(101));
        assert_eq!(p.remote, "127.0.0.1:17000".parse().expect("addr"));
        assert!(o.contains("m=audio 17000 RTP/AVP 0 8 101\r\n"), "{o}");
        assert!(local().offer(Direction::SendOnly).contains("a=sendonly"));
    }

    #[test]
    fn a_pcma_only_answer_selects_pcma() {
        let p = local().read_answer(PCMA_ONLY).expect("answer");
        assert_eq!(p.codec, G711::Alaw);
        assert_eq!(p.dtmf_pt, Some(101));
        assert_eq!(p.ptime, Some(20));
        assert_eq!(p.direction, Direction::SendRecv);
    }

    #[test]
    fn an_incoming_offer_is_answered_in_the_offerers_order_with_mirrored_direction() {
        let offer = PCMA_ONLY.replace(
            "m=audio 16000 RTP/AVP 8 101",
            "m=audio 16000 RTP/AVP 8 0 101",
        ) + "a=sendonly\r\n";
        let (ans, p) = local().answer(&offer).expect("answer");
        assert_eq!(p.codec, G711::Alaw);
        assert_eq!(p.direction, Direction::SendOnly);
        assert!(ans.contains("m=audio 17000 RTP/AVP 8 101\r\n"), "{ans}");
        assert!(
            ans.contains("a=recvonly"),
            "hold is answered recvonly: {ans}"
        );
    }

    #[test]
    fn unusable_descriptions_are_refused_with_a_reason() {
        let l = local();
        let g729 = PCMA_ONLY
            .replace("RTP/AVP 8 101", "RTP/AVP 18")
            .replace("a=rtpmap:8 PCMA/8000\r\n", "a=rtpmap:18 G729/8000\r\n");
        let e = l.read_answer(&g729).expect_err("g729 only");
        assert!(e.to_string().contains("no common codec"), "{e}");
        assert!(e.to_string().contains("18"), "{e}");
        let srtp = PCMA_ONLY.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(
            l.read_answer(&srtp),
            Err(SdpError::Profile("RTP/SAVP".into()))
        );
        let held = PCMA_ONLY.replace("m=audio 16000", "m=audio 0");
        assert_eq!(l.read_answer(&held), Err(SdpError::NoAudio));
        let video = PCMA_ONLY.replace("m=audio", "m=video");
        assert_eq!(l.read_answer(&video), Err(SdpError::NoAudio));
        let noc = PCMA_ONLY.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert!(matches!(l.read_answer(&noc), Err(SdpError::Address(_))));
        let host = PCMA_ONLY.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example");
        assert!(matches!(l.read_answer(&host), Err(SdpError::Address(_))));
        for junk in ["", "hello", "v=0\r\n", "v=0\r\no=\r\n", "\u{0}\u{1}"] {
            assert!(l.read_answer(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn media_level_connection_overrides_session_level() {
        let s = PCMA_ONLY.replace("a=rtpmap:8", "c=IN IP4 127.0.0.9\r\na=rtpmap:8");
        let p = local().read_answer(&s).expect("answer");
        assert_eq!(p.remote.ip().to_string(), "127.0.0.9");
    }
}
