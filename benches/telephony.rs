//! Telephony benchmarks (run: `cargo bench --bench telephony`):
//!
//! 1. Call setups per second, INVITE -> 200 -> ACK -> BYE -> 200, from voxdial's
//!    `SipUa` to a sipp UAS (`sipp -sn uas`) on 127.0.0.1, with media started and
//!    stopped on every call as in production. `VOXDIAL_BENCH_SECONDS` (10) and
//!    `VOXDIAL_BENCH_CONCURRENCY` (64 calls in flight) change the run.
//! 2. Concurrent RTP streams on one core: pairs of media streams on one media worker
//!    thread exchanging G.711 over loopback UDP (encode, decode, 20 ms pacing, jitter
//!    buffer, 16 kHz resampling for the speech API), with the share of packets sent more
//!    than 10 ms late and the CPU per stream, against rustpbx's reported ~0.42% of a core
//!    per transcoded call.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxdial::media::g711::G711;
use voxdial::media::stream::MediaConfig;
use voxdial::media::worker::MediaRuntime;
use voxdial::sip::ua::{CallRequest, SipUa};

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// CPU seconds of the media worker thread(s) alone (threads named voxdial-media-*).
fn media_cpu_seconds() -> f64 {
    let mut total = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let p = t.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            if !comm.starts_with("voxdial-media") {
                continue;
            }
            let s = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            let after = s.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            let v = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
            total += (v(11) + v(12)) / 100.0;
        }
    }
    total
}

fn request(to: &str) -> CallRequest {
    CallRequest {
        to: to.to_string(),
        from: None,
        bind: "127.0.0.1:0".parse().expect("addr"),
        ring_timeout: Duration::from_secs(5),
        media_timeout: None,
        play: None,
        record: None,
        refer_to: None,
        refer_after: Duration::ZERO,
        transfer_timeout: Duration::from_secs(5),
        hangup_after: Some(Duration::ZERO),
        dtmf: None,
        context: vec![],
        seed: None,
        auth: None,
        consult: None,
        bridge_fallback: false,
        hold: None,
        on_transfer_fail: None,
        campaign: None,
        lead_id: None,
        invite_headers: vec![],
        withdraw: None,
    }
}

fn call_setups(media: &MediaRuntime, seconds: u64, concurrency: usize) {
    let mut sipp = match Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", "5470", "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("call setups: sipp not available ({e}); run scripts/test.sh first");
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let media = media.clone();
    let (done, failed) = rt.block_on(async move {
        let ua = Arc::new(
            SipUa::bind("127.0.0.1:0".parse().expect("addr"), media)
                .await
                .expect("bind"),
        );
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let end = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = vec![];
        for _ in 0..concurrency {
            let (ua, done, failed) = (ua.clone(), done.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    match ua.call(request("sip:uas@127.0.0.1:5470")).await {
                        Ok(r) if r.answered && r.hangup_by == Some("us") => {
                            done.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    });
    let _ = sipp.kill();
    let _ = sipp.wait();
    println!(
        "call setups: {:.0}/s over {seconds} s with {concurrency} calls in flight ({done} completed INVITE/200/ACK/BYE/200, {failed} failed); target >= 300/s",
        done as f64 / seconds as f64
    );
}

fn rtp_streams(media: &MediaRuntime, streams: usize, seconds: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (late, ticks, max_late, cpu, media_cpu) = rt.block_on(async move {
        let mut handles = vec![];
        let tone: Vec<i16> = (0..8000 * (seconds as usize + 2))
            .map(|i| (6000.0 * (i as f32 * 0.785).sin()) as i16)
            .collect();
        for p in 0..streams / 2 {
            let a = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let b = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let aa: SocketAddr = a.local_addr().expect("addr");
            let ba: SocketAddr = b.local_addr().expect("addr");
            let cfg = |remote, ssrc| MediaConfig {
                codec: if p % 2 == 0 { G711::Alaw } else { G711::Ulaw },
                dtmf_pt: Some(101),
                remote,
                record: None,
                ssrc,
                seq: 0,
                ts: 0,
            };
            let ha = media.start(a, cfg(ba, 2 * p as u32));
            let hb = media.start(b, cfg(aa, 2 * p as u32 + 1));
            ha.playout.push_8k(&tone);
            hb.playout.push_8k(&tone);
            handles.push(ha);
            handles.push(hb);
        }
        // Drain the 16 kHz frames as a speech pipeline would.
        let c0 = cpu_seconds();
        let m0 = media_cpu_seconds();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(seconds) {
            for h in handles.iter_mut() {
                while h.inbound.try_recv().is_ok() {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = (cpu_seconds() - c0) / t0.elapsed().as_secs_f64();
        let media_cpu = (media_cpu_seconds() - m0) / t0.elapsed().as_secs_f64();
        let (mut late, mut ticks, mut max_late) = (0u64, 0u64, 0f64);
        for h in handles {
            let r = h.stop().await;
            late += r.late_ticks;
            ticks += r.ticks;
            max_late = max_late.max(r.max_late_ms);
        }
        (late, ticks, max_late, cpu, media_cpu)
    });
    println!(
        "rtp streams on one core: {streams} streams, {ticks} packets, {late} late (>10 ms) = {:.3}%, worst {max_late:.1} ms; media worker thread {:.1}% of a core = {:.3}% per stream (whole process incl. the frame consumer {:.1}%); rustpbx: ~0.42% per transcoded call",
        100.0 * late as f64 / ticks.max(1) as f64,
        media_cpu * 100.0,
        media_cpu * 100.0 / streams as f64,
        cpu * 100.0
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // One media worker thread unless told otherwise: the RTP figures are per core.
    let workers = std::env::var("VOXDIAL_MEDIA_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let media = MediaRuntime::new(workers);
    let only = std::env::var("VOXDIAL_BENCH").unwrap_or_default();
    if only.is_empty() || only == "calls" {
        // Knobs so old and new builds can be made to do the same work under a profiler.
        let knob = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        call_setups(
            &media,
            knob("VOXDIAL_BENCH_SECONDS", 10),
            knob("VOXDIAL_BENCH_CONCURRENCY", 64) as usize,
        );
    }
    if !only.is_empty() && only != "rtp" {
        return;
    }
    for n in [500, 800, 1000, 1200] {
        rtp_streams(&media, n, 10);
    }
}
