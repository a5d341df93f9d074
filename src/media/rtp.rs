//! A sans-IO RTP session for one call leg: packetises our 20 ms G.711 frames, reads the
//! peer's packets into an adaptive jitter buffer, and carries RFC 4733 DTMF both ways;
//! and the [`SourceFilter`] that decides which source's packets reach it at all.
//!
//! No sockets and no clock live here: the driver passes datagrams and the time in, and
//! asks for one outbound packet and one inbound frame per 20 ms tick. That keeps every
//! timing rule (reordering, loss, jitter, DTMF timing) testable without sleeps.

use super::g711::G711;
use crate::time::Millis;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The frame period.
pub const FRAME: Duration = Duration::from_millis(20);
const CLOCK_HZ: u32 = 8000;

/// What an inbound datagram turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Audio, queued for playout.
    Audio,
    /// The start of a DTMF key press (reported once per press).
    Dtmf(char),
    /// A packet that belongs to nothing we play (repeated DTMF, comfort noise, other PT).
    Ignored,
    /// Arrived after its playout time: dropped.
    Late,
    /// Not RTP, or not for us; the reason is kept for the stats and the logs.
    Invalid(&'static str),
}

/// Counters a call reports at its end and the benchmark reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RtpStats {
    /// Packets we sent.
    pub sent: u64,
    /// Valid audio packets received.
    pub received: u64,
    /// Frames played from the buffer.
    pub played: u64,
    /// Frames concealed because their packet was missing at playout time.
    pub concealed: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Packets dropped because the buffer ran ahead of its target (delay catch-up).
    pub dropped: u64,
    /// Datagrams that were not valid RTP for this session.
    pub invalid: u64,
    /// Interarrival jitter, RFC 3550 A.8, in timestamp units (1/8000 s).
    pub jitter_ts: u32,
}

/// One frame handed to playout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// The peer's frame, decoded to 8 kHz PCM.
    Frame(Vec<i16>),
    /// The frame is missing: the caller conceals.
    Lost,
    /// Nothing to play yet (before the first packet, or while the buffer refills).
    Silence,
}

/// Key press state on the sending side.
struct DtmfOut {
    event: u8,
    ts: u32,
    sent_frames: u32,
    frames: u32,
    end_repeats: u32,
}

/// The adaptive jitter buffer: decoded audio keyed by extended RTP timestamp, played
/// 160 samples at a time from a timestamp cursor, so any packetisation (10, 20, 30 ms)
/// plays at the right speed, at a depth that follows the measured jitter.
struct JitterBuffer {
    /// Start timestamp (extended) -> decoded samples.
    slots: BTreeMap<u64, Vec<i16>>,
    /// Next timestamp to play; `None` until playout starts.
    cursor: Option<u64>,
    /// Highest extended timestamp end seen.
    max_end: Option<u64>,
    /// Highest extended timestamp start seen (for extension).
    max_ts: Option<u64>,
    /// Whether we are waiting for the buffer to fill to its target before playing.
    filling: bool,
    min_depth: usize,
    max_depth: usize,
    /// Frames per packet as last received (30 ms packets need a deeper floor).
    pkt_frames: usize,
}

impl JitterBuffer {
    fn new(min_depth: usize, max_depth: usize) -> Self {
        JitterBuffer {
            slots: BTreeMap::new(),
            cursor: None,
            max_end: None,
            max_ts: None,
            filling: true,
            min_depth,
            max_depth,
            pkt_frames: 1,
        }
    }

    /// Extend a 32-bit timestamp to 64 bits relative to the highest seen.
    fn extend(&self, ts: u32) -> u64 {
        let Some(max) = self.max_ts else {
            // Start high enough that reordered earlier packets stay positive.
            return (1u64 << 33) + u64::from(ts);
        };
        let cand = (max & !0xFFFF_FFFF) | u64::from(ts);
        [cand.wrapping_sub(1 << 32), cand, cand + (1 << 32)]
            .into_iter()
            .min_by_key(|c| c.abs_diff(max))
            .unwrap_or(cand)
    }

    /// Buffered audio ahead of the cursor, in frames.
    fn depth(&self) -> usize {
        match (
            self.max_end,
            self.cursor.or_else(|| self.slots.keys().next().copied()),
        ) {
            (Some(end), Some(c)) if end > c => ((end - c) as usize) / FRAME_SAMPLES,
            _ => 0,
        }
    }

    fn target_depth(&self, jitter_ts: u32) -> usize {
        // Two jitters plus one frame of margin, in frames.
        let frames = (2 * jitter_ts as usize).div_ceil(FRAME_SAMPLES) + 1;
        let floor = self.min_depth.max(self.pkt_frames + 1);
        frames.clamp(floor, self.max_depth.max(floor))
    }
}

/// One call leg's RTP state.
pub struct RtpSession {
    codec: G711,
    dtmf_pt: Option<u8>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    first_out: bool,
    dtmf_out: Option<DtmfOut>,
    dtmf_queue: std::collections::VecDeque<u8>,
    remote_ssrc: Option<u32>,
    last_dtmf_ts: Option<u32>,
    jb: JitterBuffer,
    /// (arrival in ts units, rtp ts) of the previous audio packet, for the jitter estimate.
    last_transit: Option<i64>,
    jitter: f64,
    stats: RtpStats,
}

impl RtpSession {
    /// A session sending with `codec`, DTMF on `dtmf_pt` when negotiated; `ssrc` and the
    /// initial sequence number and timestamp come from the caller's (seeded) randomness.
    pub fn new(codec: G711, dtmf_pt: Option<u8>, ssrc: u32, seq: u16, ts: u32) -> Self {
        RtpSession {
            codec,
            dtmf_pt,
            ssrc,
            seq,
            ts,
            first_out: true,
            dtmf_out: None,
            dtmf_queue: Default::default(),
            remote_ssrc: None,
            last_dtmf_ts: None,
            jb: JitterBuffer::new(2, 10),
            last_transit: None,
            jitter: 0.0,
            stats: RtpStats::default(),
        }
    }

    /// The codec this session speaks.
    pub fn codec(&self) -> G711 {
        self.codec
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Counters so far.
    pub fn stats(&self) -> RtpStats {
        let mut s = self.stats.clone();
        s.jitter_ts = self.jitter as u32;
        s
    }

    /// Frames currently buffered for playout.
    pub fn buffered(&self) -> usize {
        self.jb.depth()
    }

    /// Queue RFC 4733 key presses (0-9, *, #, A-D); sent 100 ms each with 60 ms gaps.
    /// Returns false when DTMF was not negotiated or a key is not a DTMF key.
    pub fn send_dtmf(&mut self, digits: &str) -> bool {
        if self.dtmf_pt.is_none() {
            return false;
        }
        let events: Option<Vec<u8>> = digits.chars().map(dtmf_event).collect();
        let Some(events) = events else { return false };
        for e in events {
            self.dtmf_queue.push_back(e);
        }
        true
    }

    /// The packet for this 20 ms tick: the next DTMF packet while a key is being sent,
    /// otherwise `pcm` (160 samples at 8 kHz) encoded. Exactly one packet per tick, so
    /// the timestamp advances by 160 each time.
    pub fn tick_out(&mut self, pcm: &[i16]) -> Vec<u8> {
        let out = if let Some(p) = self.dtmf_packet() {
            p
        } else {
            let mut payload = Vec::with_capacity(FRAME_SAMPLES);
            self.codec.encode(pcm, &mut payload);
            payload.resize(FRAME_SAMPLES, self.codec.silence());
            let marker = self.first_out;
            self.first_out = false;
            self.build(self.codec.payload_type(), marker, self.ts, &payload)
        };
        self.ts = self.ts.wrapping_add(FRAME_SAMPLES as u32);
        out
    }

    fn dtmf_packet(&mut self) -> Option<Vec<u8>> {
        let pt = self.dtmf_pt?;
        if self.dtmf_out.is_none() {
            let event = self.dtmf_queue.pop_front()?;
            self.dtmf_out = Some(DtmfOut {
                event,
                ts: self.ts,
                sent_frames: 0,
                frames: 5,
                end_repeats: 0,
            });
        }
        let d = self.dtmf_out.as_mut()?;
        if d.end_repeats >= 3 {
            // Inter-digit gap: 3 more frames of audio before the next key.
            d.end_repeats += 1;
            if d.end_repeats >= 6 {
                self.dtmf_out = None;
            }
            return None;
        }
        d.sent_frames = (d.sent_frames + 1).min(d.frames);
        let end = d.sent_frames >= d.frames;
        if end {
            d.end_repeats += 1;
        }
        let duration = (d.sent_frames * FRAME_SAMPLES as u32).min(0xFFFF) as u16;
        let payload = [
            d.event,
            (u8::from(end) << 7) | 10, // volume -10 dBm0
            (duration >> 8) as u8,
            duration as u8,
        ];
        let (ts, marker) = (d.ts, d.sent_frames == 1 && !end);
        Some(self.build(pt, marker, ts, &payload))
    }

    fn build(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let pkt = RtpPacketBuilder::new()
            .payload_type(pt)
            .marked(marker)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.seq))
            .timestamp(ts)
            .payload(payload)
            .build();
        self.seq = self.seq.wrapping_add(1);
        self.stats.sent += 1;
        // The builder only fails on a payload type > 127 or too many CSRCs; ours are neither.
        pkt.unwrap_or_default()
    }

    /// Take one datagram from the peer, received at `now`.
    pub fn on_datagram(&mut self, bytes: &[u8], now: Millis) -> Inbound {
        let r = match RtpReader::new(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.stats.invalid += 1;
                return Inbound::Invalid("not an RTP packet");
            }
        };
        let pt = r.payload_type();
        // RTCP on the RTP port (rtcp-mux) has PT 72-76 in this position.
        if (72..=76).contains(&pt) {
            self.stats.invalid += 1;
            return Inbound::Invalid("RTCP on the RTP port");
        }
        let ssrc = r.ssrc();
        match self.remote_ssrc {
            None => self.remote_ssrc = Some(ssrc),
            Some(s) if s != ssrc => {
                // A new source (the far end re-anchored media, e.g. after a transfer):
                // restart sequence tracking instead of treating it as garbage.
                self.remote_ssrc = Some(ssrc);
                self.jb = JitterBuffer::new(self.jb.min_depth, self.jb.max_depth);
                self.last_transit = None;
            }
            _ => {}
        }
        if Some(pt) == self.dtmf_pt {
            return self.on_dtmf(r.payload(), r.timestamp());
        }
        if pt != self.codec.payload_type() {
            return Inbound::Ignored;
        }
        let payload = r.payload();
        if payload.is_empty() || payload.len() > 8 * FRAME_SAMPLES {
            self.stats.invalid += 1;
            return Inbound::Invalid("audio payload of an impossible size");
        }
        // Jitter, RFC 3550 A.8: the change in transit time between consecutive packets.
        let arrival = i64::try_from(now.0).unwrap_or(i64::MAX / 2) * i64::from(CLOCK_HZ) / 1_000;
        let transit = arrival - i64::from(r.timestamp());
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            // Bound a single step so one timestamp jump cannot blow the estimate up.
            let d = d.min(f64::from(CLOCK_HZ));
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);

        let start_ts = self.jb.extend(r.timestamp());
        let end_ts = start_ts + payload.len() as u64;
        if self.jb.cursor.is_some_and(|c| end_ts <= c) {
            self.stats.late += 1;
            return Inbound::Late;
        }
        self.jb.max_ts = Some(self.jb.max_ts.map_or(start_ts, |m| m.max(start_ts)));
        self.jb.max_end = Some(self.jb.max_end.map_or(end_ts, |m| m.max(end_ts)));
        self.stats.received += 1;
        let mut pcm = Vec::with_capacity(payload.len());
        self.codec.decode(payload, &mut pcm);
        self.jb.pkt_frames = pcm.len().div_ceil(FRAME_SAMPLES);
        self.jb.slots.insert(start_ts, pcm);
        Inbound::Audio
    }

    fn on_dtmf(&mut self, payload: &[u8], ts: u32) -> Inbound {
        if payload.len() < 4 {
            self.stats.invalid += 1;
            return Inbound::Invalid("telephone-event payload shorter than 4 bytes");
        }
        // Every packet of one key press carries the press's start timestamp.
        if self.last_dtmf_ts == Some(ts) {
            return Inbound::Ignored;
        }
        self.last_dtmf_ts = Some(ts);
        match event_char(payload[0]) {
            Some(c) => Inbound::Dtmf(c),
            None => Inbound::Ignored,
        }
    }

    /// The inbound frame for this 20 ms tick, in order, after the adaptive delay.
    pub fn pop_frame(&mut self) -> Playout {
        let target = self.jb.target_depth(self.jitter as u32);
        if self.jb.filling {
            if self.jb.depth() < target {
                return Playout::Silence;
            }
            self.jb.filling = false;
            self.jb.cursor = self.jb.slots.keys().next().copied();
        }
        let Some(mut cursor) = self.jb.cursor else {
            return Playout::Silence;
        };
        // Too deep (a burst after a stall): skip ahead so the delay comes back down.
        let depth = self.jb.depth();
        if depth > target + 3 {
            let skip = ((depth - target) * FRAME_SAMPLES) as u64;
            cursor += skip;
            self.stats.dropped += (skip / FRAME_SAMPLES as u64).max(1);
        }
        let end = cursor + FRAME_SAMPLES as u64;
        let mut frame = vec![0i16; FRAME_SAMPLES];
        let mut covered = 0usize;
        for (&start, pcm) in self.jb.slots.range(..end) {
            let p_end = start + pcm.len() as u64;
            if p_end <= cursor {
                continue;
            }
            let from = start.max(cursor);
            let to = p_end.min(end);
            let src = (from - start) as usize..(to - start) as usize;
            let dst = (from - cursor) as usize;
            if let Some(chunk) = pcm.get(src) {
                frame[dst..dst + chunk.len()].copy_from_slice(chunk);
                covered += chunk.len();
            }
        }
        // Packets wholly played are done.
        while let Some((&start, pcm)) = self.jb.slots.first_key_value() {
            if start + pcm.len() as u64 <= end {
                self.jb.slots.pop_first();
            } else {
                break;
            }
        }
        self.jb.cursor = Some(end);
        if covered == 0 {
            self.stats.concealed += 1;
            if self.jb.max_end.is_some_and(|m| m <= end) {
                // Underrun: nothing left at all. Refill before playing again.
                self.jb.filling = true;
            }
            return Playout::Lost;
        }
        self.stats.played += 1;
        Playout::Frame(frame)
    }
}

/// Consecutive in-sequence packets of one SSRC that another port of the peer's address
/// must send before media follows it (symmetric RTP behind an SBC or a NAT that picked a
/// different port than the SDP says).
pub const RELEARN_PACKETS: u16 = 5;
/// How long the source media is latched to must have been quiet before another port may
/// take its place: a live stream is never taken over, whoever sends alongside it.
pub const RELEARN_SILENCE_MS: u64 = 500;

/// What to do with one datagram, judged by where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceVerdict {
    /// From the source media is latched to: play it.
    Accept,
    /// From anywhere else: drop it (and it is counted).
    Drop,
    /// This packet completed a legitimate move of the peer's port: media now comes from
    /// and goes to it, starting with this packet.
    Relearn,
}

/// A port that is trying to become the media source.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    seq: u16,
    run: u16,
}

/// Which source a call's RTP is accepted from (and sent to). Media latches to the address
/// the answer SDP gave; packets from any other source are dropped and counted, so a forger
/// on the network can neither be heard as the customer nor divert the bot's audio. The one
/// exception is symmetric RTP's: another port of the same IP may take over, but only once
/// the latched stream has gone quiet for [`RELEARN_SILENCE_MS`] (or never started) and the
/// new port has sent [`RELEARN_PACKETS`] consecutive packets in sequence with one SSRC.
///
/// Sans-IO: the driver passes each datagram's source, SSRC, sequence number and arrival
/// time, so every rule is unit-tested without sockets.
#[derive(Clone, Debug)]
pub struct SourceFilter {
    current: SocketAddr,
    last_accepted: Option<Millis>,
    candidate: Option<Candidate>,
    rejected: u64,
    relearned: u64,
}

fn same_addr(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

impl SourceFilter {
    /// A filter latched to `expected`, the address in the answer SDP.
    pub fn new(expected: SocketAddr) -> Self {
        SourceFilter {
            current: expected,
            last_accepted: None,
            candidate: None,
            rejected: 0,
            relearned: 0,
        }
    }

    /// Signalling moved media (a re-INVITE, the 200 after early media): latch to the new
    /// SDP address as if the call had just started. The counters carry on.
    pub fn reset(&mut self, expected: SocketAddr) {
        self.current = expected;
        self.last_accepted = None;
        self.candidate = None;
    }

    /// Where media is accepted from and sent to now.
    pub fn remote(&self) -> SocketAddr {
        self.current
    }

    /// Datagrams dropped because of their source.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Times media moved to another port of the peer's address.
    pub fn relearned(&self) -> u64 {
        self.relearned
    }

    /// Judge an RTP packet (source, SSRC, sequence number) that arrived at `now`.
    pub fn check(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Millis) -> SourceVerdict {
        if same_addr(from, self.current) {
            self.last_accepted = Some(now);
            // A run must happen while the latched stream is quiet: it starts over.
            self.candidate = None;
            return SourceVerdict::Accept;
        }
        let quiet = self
            .last_accepted
            .is_none_or(|t| now.ms_since(t) >= RELEARN_SILENCE_MS);
        if from.ip().to_canonical() != self.current.ip().to_canonical() || !quiet {
            self.rejected += 1;
            return SourceVerdict::Drop;
        }
        let run = match self.candidate.as_mut() {
            Some(c)
                if same_addr(c.from, from) && c.ssrc == ssrc && c.seq.wrapping_add(1) == seq =>
            {
                c.seq = seq;
                c.run += 1;
                c.run
            }
            _ => {
                self.candidate = Some(Candidate {
                    from,
                    ssrc,
                    seq,
                    run: 1,
                });
                1
            }
        };
        if run >= RELEARN_PACKETS {
            self.current = from;
            self.last_accepted = Some(now);
            self.candidate = None;
            self.relearned += 1;
            return SourceVerdict::Relearn;
        }
        self.rejected += 1;
        SourceVerdict::Drop
    }

    /// Judge a datagram that is not RTP at all: from the latched source it goes on to the
    /// session (which counts it invalid); from anywhere else it is dropped and counted here.
    pub fn check_garbage(&mut self, from: SocketAddr) -> SourceVerdict {
        if same_addr(from, self.current) {
            return SourceVerdict::Accept;
        }
        self.rejected += 1;
        SourceVerdict::Drop
    }
}

/// The RFC 4733 event code of a key.
pub fn dtmf_event(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => c as u8 - b'A' + 12,
        _ => return None,
    })
}

fn event_char(e: u8) -> Option<char> {
    Some(match e {
        0..=9 => (b'0' + e) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + e - 12) as char,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer_packet(seq: u16, ts: u32, pt: u8, payload: &[u8]) -> Vec<u8> {
        RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(0xABCD)
            .sequence(Seq::from(seq))
            .timestamp(ts)
            .payload(payload)
            .build()
            .expect("packet")
    }

    fn ms(n: u64) -> Millis {
        Millis(n)
    }

    #[test]
    fn outbound_packets_advance_sequence_and_timestamp_with_one_marker() {
        let mut s = RtpSession::new(G711::Alaw, Some(101), 7, 65534, u32::MAX - 100);
        let pcm = [1000i16; FRAME_SAMPLES];
        let pkts: Vec<Vec<u8>> = (0..3).map(|_| s.tick_out(&pcm)).collect();
        let r: Vec<RtpReader> = pkts
            .iter()
            .map(|p| RtpReader::new(p).expect("rtp"))
            .collect();
        assert_eq!(r[0].payload_type(), 8);
        assert!(r[0].mark() && !r[1].mark());
        assert_eq!(u16::from(r[1].sequence_number()), 65535);
        assert_eq!(u16::from(r[2].sequence_number()), 0, "sequence wraps");
        assert_eq!(r[1].timestamp(), r[0].timestamp().wrapping_add(160));
        assert_eq!(
            r[2].timestamp(),
            (u32::MAX - 100).wrapping_add(320),
            "timestamp wraps"
        );
        assert_eq!(r[0].payload().len(), 160);
        assert_eq!(r[0].ssrc(), 7);
    }

    #[test]
    fn reordered_packets_play_in_order_and_a_gap_is_concealed() {
        let mut s = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        for (i, seq) in [10u16, 12, 11, 14].iter().enumerate() {
            let p = peer_packet(*seq, u32::from(*seq) * 160, 0, &[seq.to_owned() as u8; 160]);
            assert_eq!(s.on_datagram(&p, ms(20 * i as u64)), Inbound::Audio);
        }
        let mut got = vec![];
        for _ in 0..5 {
            got.push(match s.pop_frame() {
                Playout::Frame(f) => Some(f[0]),
                Playout::Lost => None,
                Playout::Silence => Some(i16::MIN),
            });
        }
        let dec = |c: u8| ulaw_to_linear_ref(c);
        assert_eq!(
            got,
            vec![
                Some(dec(10)),
                Some(dec(11)),
                Some(dec(12)),
                None,
                Some(dec(14))
            ]
        );
        assert_eq!(s.stats().concealed, 1);
        // Packet 13 now arrives after its slot was played: late, dropped.
        let p = peer_packet(13, 13 * 160, 0, &[13; 160]);
        assert_eq!(s.on_datagram(&p, ms(200)), Inbound::Late);
    }

    fn ulaw_to_linear_ref(c: u8) -> i16 {
        super::super::g711::ulaw_to_linear(c)
    }

    #[test]
    fn sequence_numbers_wrap_without_losing_order() {
        let mut s = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        for (i, seq) in [65534u16, 65535, 0, 1].iter().enumerate() {
            let p = peer_packet(*seq, i as u32 * 160, 0, &[i as u8; 160]);
            s.on_datagram(&p, ms(20 * i as u64));
        }
        let firsts: Vec<i16> = (0..4)
            .filter_map(|_| match s.pop_frame() {
                Playout::Frame(f) => Some(f[0]),
                _ => None,
            })
            .collect();
        let want: Vec<i16> = (0..4u8).map(ulaw_to_linear_ref).collect();
        assert_eq!(firsts, want);
    }

    #[test]
    fn thirty_ms_packets_across_a_timestamp_wrap_play_without_gaps() {
        let mut s = RtpSession::new(G711::Alaw, None, 1, 0, 0);
        let ts0 = u32::MAX - 1000;
        let mut played = 0;
        let mut t_ms = 0u64;
        let mut next_pkt = 0u32;
        // 3 s: a packet every 30 ms, a frame pulled every 20 ms.
        while t_ms < 3000 {
            if t_ms % 30 == 0 {
                let ts = ts0.wrapping_add(next_pkt * 240);
                let p = peer_packet(next_pkt as u16, ts, 8, &[0xD5 ^ 0x40; 240]);
                assert_eq!(s.on_datagram(&p, ms(t_ms)), Inbound::Audio);
                next_pkt += 1;
            }
            if t_ms % 20 == 0 && matches!(s.pop_frame(), Playout::Frame(_)) {
                played += 1;
            }
            t_ms += 10;
        }
        assert_eq!(s.stats().concealed, 0, "{:?}", s.stats());
        assert!(played >= 145, "played {played} of ~150 frames");
    }

    #[test]
    fn jitter_raises_the_playout_depth() {
        let mut steady = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        let mut jittery = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        for i in 0..200u16 {
            let p = peer_packet(i, u32::from(i) * 160, 0, &[0xFF; 160]);
            steady.on_datagram(&p, ms(u64::from(i) * 20));
            // Arrivals wobble by up to 60 ms.
            let wobble = [0u64, 60, 10, 45, 5][usize::from(i) % 5];
            jittery.on_datagram(&p, ms(u64::from(i) * 20 + wobble));
        }
        let t_steady = steady.jb.target_depth(steady.stats().jitter_ts);
        let t_jittery = jittery.jb.target_depth(jittery.stats().jitter_ts);
        assert_eq!(t_steady, 2, "a clean stream keeps the minimum 40 ms");
        assert!(
            t_jittery >= 4,
            "jitter {:?} gives depth {t_jittery}",
            jittery.stats()
        );
    }

    #[test]
    fn a_burst_after_a_stall_is_trimmed_back_to_the_target() {
        let mut s = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        for i in 0..30u16 {
            let p = peer_packet(i, u32::from(i) * 160, 0, &[0xFF; 160]);
            s.on_datagram(&p, ms(600));
        }
        assert!(matches!(s.pop_frame(), Playout::Frame(_)));
        assert!(s.buffered() <= 10, "buffered {}", s.buffered());
        assert!(s.stats().dropped > 0);
    }

    #[test]
    fn dtmf_in_is_reported_once_per_press_and_out_follows_rfc4733() {
        let mut s = RtpSession::new(G711::Alaw, Some(101), 1, 0, 0);
        let press = |dur: u16, end: bool| {
            let d = dur.to_be_bytes();
            peer_packet(5, 8000, 101, &[1, (u8::from(end) << 7) | 10, d[0], d[1]])
        };
        assert_eq!(s.on_datagram(&press(160, false), ms(0)), Inbound::Dtmf('1'));
        assert_eq!(s.on_datagram(&press(320, false), ms(20)), Inbound::Ignored);
        assert_eq!(s.on_datagram(&press(800, true), ms(100)), Inbound::Ignored);
        assert!(matches!(
            s.on_datagram(&[0x80, 101, 0, 1], ms(0)),
            Inbound::Invalid(_)
        ));

        assert!(s.send_dtmf("#1"));
        assert!(!s.send_dtmf("x"));
        let pcm = [0i16; FRAME_SAMPLES];
        let pkts: Vec<Vec<u8>> = (0..24).map(|_| s.tick_out(&pcm)).collect();
        let dtmf: Vec<(u8, bool, u32, u8, bool, u16)> = pkts
            .iter()
            .map(|p| RtpReader::new(p).expect("rtp"))
            .filter(|r| r.payload_type() == 101)
            .map(|r| {
                let b = r.payload();
                (
                    b[0],
                    r.mark(),
                    r.timestamp(),
                    b[1] & 0x3F,
                    b[1] & 0x80 != 0,
                    u16::from_be_bytes([b[2], b[3]]),
                )
            })
            .collect();
        // '#': 4 growing updates, then 3 end packets with the same final duration.
        let hash: Vec<_> = dtmf.iter().filter(|d| d.0 == 11).collect();
        assert_eq!(hash.len(), 7);
        assert!(
            hash[0].1 && hash.iter().skip(1).all(|d| !d.1),
            "marker on the first only"
        );
        assert!(
            hash.iter().all(|d| d.2 == hash[0].2),
            "one timestamp per press"
        );
        assert_eq!(
            hash.iter().map(|d| d.5).collect::<Vec<_>>(),
            vec![160, 320, 480, 640, 800, 800, 800]
        );
        assert!(hash[..4].iter().all(|d| !d.4) && hash[4..].iter().all(|d| d.4));
        let one: Vec<_> = dtmf.iter().filter(|d| d.0 == 1).collect();
        assert_eq!(one.len(), 7);
        assert!(one[0].2 > hash[0].2, "the next press has its own timestamp");
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn a_forger_beside_a_live_stream_is_dropped_and_counted() {
        let peer = addr("127.0.0.1:4000");
        let mut f = SourceFilter::new(peer);
        let mut t = 0;
        for i in 0..50u16 {
            // The peer sends every 20 ms; the forger, from another port of the same host
            // and even in sequence with one SSRC, sends in between.
            assert_eq!(f.check(peer, 1, i, ms(t)), SourceVerdict::Accept);
            let v = f.check(addr("127.0.0.1:4444"), 9, i, ms(t + 10));
            assert_eq!(v, SourceVerdict::Drop, "forged packet {i}");
            t += 20;
        }
        assert_eq!(f.remote(), peer);
        assert_eq!((f.rejected(), f.relearned()), (50, 0));
    }

    #[test]
    fn another_ip_never_takes_over_even_when_the_peer_is_silent() {
        let mut f = SourceFilter::new(addr("10.0.0.5:4000"));
        for i in 0..100u16 {
            let v = f.check(addr("10.0.0.6:4000"), 7, i, ms(10_000 + u64::from(i) * 20));
            assert_eq!(v, SourceVerdict::Drop);
        }
        assert_eq!(f.remote(), addr("10.0.0.5:4000"));
        assert_eq!(f.rejected(), 100);
        assert_eq!(
            f.check_garbage(addr("10.0.0.6:4000")),
            SourceVerdict::Drop,
            "non-RTP from a stranger is dropped too"
        );
        assert_eq!(
            f.check_garbage(addr("10.0.0.5:4000")),
            SourceVerdict::Accept
        );
        assert_eq!(f.rejected(), 101);
    }

    #[test]
    fn an_sbc_sending_from_another_port_is_learned_after_a_clean_run() {
        // The SDP says :4000 but the SBC sends from :4002 from the first packet on.
        let sdp = addr("192.0.2.1:4000");
        let real = addr("192.0.2.1:4002");
        let mut f = SourceFilter::new(sdp);
        let verdicts: Vec<SourceVerdict> = (0..6u16)
            .map(|i| f.check(real, 0xAB, 100 + i, ms(u64::from(i) * 20)))
            .collect();
        let n = usize::from(RELEARN_PACKETS);
        assert!(verdicts[..n - 1].iter().all(|v| *v == SourceVerdict::Drop));
        assert_eq!(verdicts[n - 1], SourceVerdict::Relearn);
        assert_eq!(verdicts[n], SourceVerdict::Accept);
        assert_eq!(f.remote(), real);
        assert_eq!(f.relearned(), 1);
        // The old port, now the stranger, cannot come straight back while :4002 talks.
        assert_eq!(f.check(sdp, 0xAB, 200, ms(130)), SourceVerdict::Drop);
    }

    #[test]
    fn a_run_must_be_in_sequence_with_one_ssrc_and_after_silence() {
        let peer = addr("192.0.2.1:4000");
        let other = addr("192.0.2.1:5000");
        let mut f = SourceFilter::new(peer);
        assert_eq!(f.check(peer, 1, 1, ms(0)), SourceVerdict::Accept);
        // Not quiet long enough yet: nothing counts towards a run.
        for i in 0..10u16 {
            let at = ms(20 + u64::from(i) * 20);
            assert_eq!(f.check(other, 2, i, at), SourceVerdict::Drop);
        }
        let quiet = RELEARN_SILENCE_MS;
        // Quiet now, but sequence numbers jump and the SSRC changes: never a run of 5.
        let seqs = [
            (2u32, 10u16),
            (2, 11),
            (2, 13),
            (2, 14),
            (3, 15),
            (3, 16),
            (2, 17),
        ];
        for (k, (ssrc, seq)) in seqs.iter().enumerate() {
            let v = f.check(other, *ssrc, *seq, ms(quiet + k as u64 * 20));
            assert_eq!(v, SourceVerdict::Drop, "packet {k}");
        }
        // The latched peer speaking again resets a run in progress.
        let t = quiet + 200;
        for i in 0..4u16 {
            assert_eq!(
                f.check(other, 2, 20 + i, ms(t + u64::from(i))),
                SourceVerdict::Drop
            );
        }
        assert_eq!(f.check(peer, 1, 2, ms(t + 10)), SourceVerdict::Accept);
        assert_eq!(
            f.check(other, 2, 24, ms(t + quiet + 10)),
            SourceVerdict::Drop
        );
        assert_eq!(f.remote(), peer);
        assert_eq!(f.relearned(), 0);
        // A clean run after silence moves media; a reset by signalling moves it back.
        let t = t + 2 * quiet;
        let v: Vec<_> = (0..RELEARN_PACKETS)
            .map(|i| f.check(other, 4, 1000 + i, ms(t + u64::from(i) * 20)))
            .collect();
        assert_eq!(v.last(), Some(&SourceVerdict::Relearn));
        assert_eq!(f.remote(), other);
        f.reset(peer);
        assert_eq!(f.remote(), peer);
        assert_eq!(f.check(peer, 1, 3, ms(t + 200)), SourceVerdict::Accept);
    }

    #[test]
    fn an_ipv4_mapped_source_is_the_same_address() {
        let mut f = SourceFilter::new(addr("127.0.0.1:4000"));
        assert_eq!(
            f.check(addr("[::ffff:127.0.0.1]:4000"), 1, 1, ms(0)),
            SourceVerdict::Accept
        );
    }

    #[test]
    fn garbage_and_rtcp_are_counted_not_played() {
        let mut s = RtpSession::new(G711::Ulaw, None, 1, 0, 0);
        assert!(matches!(s.on_datagram(&[], ms(0)), Inbound::Invalid(_)));
        assert!(matches!(
            s.on_datagram(&[0x40; 20], ms(0)),
            Inbound::Invalid(_)
        ));
        let mut rtcp = peer_packet(1, 1, 0, &[0; 8]);
        rtcp[1] = 200; // SR with the marker bit: PT 72 in RTP's view
        assert!(matches!(s.on_datagram(&rtcp, ms(0)), Inbound::Invalid(_)));
        assert_eq!(s.stats().invalid, 3);
        assert_eq!(s.pop_frame(), Playout::Silence);
    }
}
