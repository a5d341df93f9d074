//! RTP source hijack (issue 20, item 5): a forger on another port of the peer's host sends
//! RTP in the middle of a call. The bot's audio must keep going to the address the SDP
//! gave, the forged audio must never be heard as the customer, and the media report must
//! count what was dropped. Real sockets on 127.0.0.1, driven by a media worker.

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use voxdial::media::g711::G711;
use voxdial::media::stream::MediaConfig;
use voxdial::media::worker::MediaRuntime;

fn packet(ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(8)
        .ssrc(ssrc)
        .sequence(Seq::from(seq))
        .timestamp(u32::from(seq) * 160)
        .payload(payload)
        .build()
        .expect("packet")
}

/// Packets the bot sent to `sock` so far (without waiting for more).
fn drain(sock: &UdpSocket, from_bot: SocketAddr) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while let Ok((len, src)) = sock.try_recv_from(&mut buf) {
        if src == from_bot && RtpReader::new(&buf[..len]).is_ok() {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn forged_rtp_from_another_port_is_dropped_counted_and_never_answered() {
    let bot = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let forger = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (bot_addr, peer_addr) = (
        bot.local_addr().expect("addr"),
        peer.local_addr().expect("addr"),
    );
    let media = MediaRuntime::new(1);
    let mut h = media.start(
        bot,
        MediaConfig {
            codec: G711::Alaw,
            dtmf_pt: Some(101),
            remote: peer_addr,
            record: None,
            ssrc: 1,
            seq: 1,
            ts: 0,
        },
    );
    // The bot talks for the whole call.
    h.playout.push_8k(&vec![3000i16; 8000 * 10]);

    // A-law silence from the customer; a loud square wave from the forger.
    let quiet = [0xD5u8; 160];
    let loud = [0xAAu8; 160];
    let (mut peer_got, mut forger_got, mut loud_frames, mut frames) = (0, 0, 0, 0);
    for i in 0..150u16 {
        peer.send_to(&packet(0x1111, i, &quiet), bot_addr)
            .await
            .expect("peer send");
        // 50 forged packets in sequence with one SSRC, in the middle of the call, each
        // right after one of the peer's so the peer's stream never goes quiet.
        if (50..100).contains(&i) {
            forger
                .send_to(&packet(0x6666, 1000 + i, &loud), bot_addr)
                .await
                .expect("forger send");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer_got += drain(&peer, bot_addr);
        forger_got += drain(&forger, bot_addr);
        while let Ok(f) = h.inbound.try_recv() {
            frames += 1;
            if f.iter().any(|s| s.unsigned_abs() > 2000) {
                loud_frames += 1;
            }
        }
    }
    let report = h.stop().await;
    peer_got += drain(&peer, bot_addr);
    forger_got += drain(&forger, bot_addr);

    assert_eq!(
        forger_got, 0,
        "the bot sent audio to the forger: {report:?}"
    );
    assert!(
        peer_got > 100,
        "the peer got {peer_got} packets: {report:?}"
    );
    assert!(frames > 100, "{frames} inbound frames");
    assert_eq!(
        loud_frames, 0,
        "forged audio was heard as the customer: {report:?}"
    );
    assert_eq!(report.rejected_packets, 50, "{report:?}");
    assert_eq!(report.relearned, 0, "{report:?}");
    assert_eq!(report.remote, Some(peer_addr), "{report:?}");
    assert!(report.rtp.received > 100, "{report:?}");
}
