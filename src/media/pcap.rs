//! RTP capture files (libpcap, Ethernet/IPv4/UDP): a recorded customer's voice that sipp
//! replays with `play_pcap_audio`, so the bot can be called by a scripted customer on
//! 127.0.0.1 (tests, the demo, anyone checking a scenario by ear).

use super::g711::G711;
use std::io::Write;
use std::path::Path;

/// Samples per 20 ms packet at 8 kHz.
const PACKET: usize = 160;

/// The customer's side of a call at 8 kHz: each clip placed at its start second, silence
/// elsewhere, `total_s` long (clips running past the end are cut).
pub fn timeline(clips: &[(f64, Vec<i16>)], total_s: f64) -> Vec<i16> {
    let mut pcm = vec![0i16; (total_s.max(0.0) * 8000.0) as usize];
    for (at, clip) in clips {
        let start = (at.max(0.0) * 8000.0) as usize;
        for (k, s) in clip.iter().enumerate() {
            match pcm.get_mut(start + k) {
                Some(d) => *d = *s,
                None => break,
            }
        }
    }
    pcm
}

/// Write 8 kHz `pcm` as one RTP stream in `codec`, a packet per 20 ms (the last one padded
/// with silence), timestamped so a replay keeps real time.
pub fn write_rtp_pcap(path: &Path, pcm: &[i16], codec: G711) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Global header: magic, version 2.4, UTC, no sigfigs, snaplen, link type Ethernet.
    f.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&4u16.to_le_bytes())?;
    f.write_all(&0i32.to_le_bytes())?;
    f.write_all(&0u32.to_le_bytes())?;
    f.write_all(&65_535u32.to_le_bytes())?;
    f.write_all(&1u32.to_le_bytes())?;
    let mut payload = Vec::with_capacity(PACKET);
    for (k, frame) in pcm.chunks(PACKET).enumerate() {
        payload.clear();
        codec.encode(frame, &mut payload);
        payload.resize(PACKET, codec.silence());
        let pkt = packet(k as u32, codec.payload_type(), &payload);
        let us = k as u64 * 20_000;
        f.write_all(&((us / 1_000_000) as u32).to_le_bytes())?;
        f.write_all(&((us % 1_000_000) as u32).to_le_bytes())?;
        f.write_all(&(pkt.len() as u32).to_le_bytes())?;
        f.write_all(&(pkt.len() as u32).to_le_bytes())?;
        f.write_all(&pkt)?;
    }
    f.flush()
}

/// One Ethernet frame carrying RTP packet `k` (sipp rewrites the addresses and ports).
fn packet(k: u32, pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut rtp = vec![0x80, pt & 0x7f];
    rtp.extend_from_slice(&(k as u16).to_be_bytes());
    rtp.extend_from_slice(&k.wrapping_mul(PACKET as u32).to_be_bytes());
    rtp.extend_from_slice(&0x7663_6c31u32.to_be_bytes());
    rtp.extend_from_slice(payload);
    let udp_len = 8 + rtp.len();
    let ip_len = 20 + udp_len;
    let mut ip = vec![
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    let ck = checksum(&ip);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let mut pkt = Vec::with_capacity(14 + ip_len);
    pkt.extend_from_slice(&[0u8; 12]);
    pkt.extend_from_slice(&[0x08, 0x00]);
    pkt.extend_from_slice(&ip);
    pkt.extend_from_slice(&6000u16.to_be_bytes());
    pkt.extend_from_slice(&6002u16.to_be_bytes());
    pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pkt.extend_from_slice(&[0, 0]);
    pkt.extend_from_slice(&rtp);
    pkt
}

/// The IPv4 header checksum (RFC 791: one's complement of the one's-complement sum).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_holds_one_packet_per_20_ms_with_real_time_stamps() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c.pcap");
        let line = timeline(&[(0.5, vec![8000; 800])], 1.0);
        assert_eq!(line.len(), 8000);
        assert_eq!(line[3999], 0);
        assert_eq!(line[4000], 8000);
        write_rtp_pcap(&p, &line, G711::Ulaw).expect("write");
        let b = std::fs::read(&p).expect("read");
        assert_eq!(&b[..4], &0xa1b2_c3d4u32.to_le_bytes());
        let rec = 16 + 14 + 20 + 8 + 12 + 160;
        assert_eq!(b.len(), 24 + 50 * rec);
        // Packet 25: 0.5 s in, sequence 25, timestamp 25 * 160, voiced payload.
        let at = 24 + 25 * rec;
        assert_eq!(u32::from_le_bytes(b[at..at + 4].try_into().expect("4")), 0);
        assert_eq!(
            u32::from_le_bytes(b[at + 4..at + 8].try_into().expect("4")),
            500_000
        );
        let rtp = at + 16 + 14 + 20 + 8;
        assert_eq!(b[rtp + 1], 0);
        assert_eq!(u16::from_be_bytes([b[rtp + 2], b[rtp + 3]]), 25);
        assert_eq!(
            u32::from_be_bytes(b[rtp + 4..rtp + 8].try_into().expect("4")),
            25 * 160
        );
        assert_ne!(b[rtp + 12], G711::Ulaw.silence());
        // A header that sums with its checksum to all ones.
        let ip = &b[at + 16 + 14..at + 16 + 34];
        assert_eq!(checksum(ip), 0);
    }
}
