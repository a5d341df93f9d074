//! Media workers: a few OS threads (one per core by default) that each drive many calls'
//! RTP streams from one clock. Every 20 ms a stream is serviced once: its socket drained
//! without blocking, its packet sent, its frame played out. One loop per core instead of
//! a task, a timer and a socket wakeup per call is what makes a thousand calls per core
//! affordable. Streams are spread over the 20 ms period so the work is even.
//!
//! The pool is a value ([`MediaRuntime`]) that the process's edge creates and hands to
//! whatever starts calls, so tests and benchmarks choose their worker count without a
//! global or an environment variable.

use super::stream::{self, MediaConfig, MediaHandle, Service, Stream};
use crate::time::MonotonicClock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Longest a worker sleeps, so new streams and commands are picked up promptly.
const MAX_NAP: Duration = Duration::from_millis(2);

/// The media workers' real-time level, when the OS grants one: low, so the kernel's own
/// real-time threads still come first.
const MEDIA_RT_LEVEL: i32 = 10;

struct Pool {
    workers: Vec<Mutex<Sender<Stream>>>,
    next: AtomicUsize,
    phase: AtomicUsize,
    clock: MonotonicClock,
}

/// The worker threads that drive calls' media; cheap to clone (clones share the threads).
/// The threads end once every clone is dropped and their streams have stopped.
#[derive(Clone)]
pub struct MediaRuntime {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for MediaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRuntime")
            .field("workers", &self.pool.workers.len())
            .finish()
    }
}

impl MediaRuntime {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> MediaRuntime {
        let clock = MonotonicClock::new();
        let workers = (0..workers.max(1))
            .map(|i| {
                let (tx, rx) = channel();
                let spawned = std::thread::Builder::new()
                    .name(format!("voxdial-media-{i}"))
                    .spawn(move || run(rx));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a media worker");
                }
                Mutex::new(tx)
            })
            .collect();
        MediaRuntime {
            pool: Arc::new(Pool {
                workers,
                next: AtomicUsize::new(0),
                phase: AtomicUsize::new(0),
                clock,
            }),
        }
    }

    /// One worker per core: what a dialer wants unless told otherwise.
    pub fn per_core() -> MediaRuntime {
        MediaRuntime::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// How many worker threads the pool has.
    pub fn workers(&self) -> usize {
        self.pool.workers.len()
    }

    /// Start media on `socket` (already bound to the address in our SDP), driven by one
    /// of this pool's workers rather than by a task of its own.
    pub fn start(&self, socket: UdpSocket, cfg: MediaConfig) -> MediaHandle {
        let (stream, handle) = stream::open(socket, cfg, self.pool.clock);
        if let Some(s) = stream {
            self.submit(s);
        }
        handle
    }

    /// Hand a new stream to a worker (round robin), with its tick phase spread over 20 ms.
    fn submit(&self, mut stream: Stream) {
        let p = &self.pool;
        let phase = p.phase.fetch_add(1, Ordering::Relaxed) % 20;
        stream.set_phase(Duration::from_millis(phase as u64));
        let i = p.next.fetch_add(1, Ordering::Relaxed) % p.workers.len().max(1);
        if let Some(w) = p.workers.get(i) {
            let tx = w.lock().unwrap_or_else(|e| e.into_inner());
            if tx.send(stream).is_err() {
                tracing::error!("media worker gone; the call has no media");
            }
        }
    }
}

fn run(new: Receiver<Stream>) {
    // A tick that waits for the CPU behind a decode or a synthesis is a gap on the line:
    // the worker asks to run ahead of them (it sleeps between ticks, so it takes little).
    // Without the privilege it stays an ordinary thread.
    let class = crate::sched::realtime_current_thread(MEDIA_RT_LEVEL);
    tracing::debug!(?class, "media worker scheduling");
    let mut streams: Vec<Stream> = Vec::new();
    loop {
        loop {
            match new.try_recv() {
                Ok(s) => streams.push(s),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if streams.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }
        let now = Instant::now();
        let mut wake = now + MAX_NAP;
        let mut i = 0;
        while i < streams.len() {
            match streams[i].service(now) {
                Service::Keep => {
                    wake = wake.min(streams[i].next_tick());
                    i += 1;
                }
                Service::Done => {
                    streams.swap_remove(i);
                }
            }
        }
        let after = Instant::now();
        if wake > after {
            std::thread::sleep(wake - after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::G711;
    use rtp_rs::RtpReader;

    #[tokio::test]
    async fn two_streams_on_loopback_exchange_audio_dtmf_and_record() {
        let a = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let (aa, ba) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
        let dir = tempfile::tempdir().expect("tmp");
        let wav = dir.path().join("a.wav");
        let cfg = |remote, ssrc, record| MediaConfig {
            codec: G711::Alaw,
            dtmf_pt: Some(101),
            remote,
            record,
            ssrc,
            seq: 1,
            ts: 0,
        };
        let media = MediaRuntime::new(1);
        let mut ha = media.start(a, cfg(ba, 1, Some(wav.clone())));
        let hb = media.start(b, cfg(aa, 2, None));
        // B plays a 1 kHz tone; A should hear sound on its inbound stream.
        let tone: Vec<i16> = (0..8000)
            .map(|i| (6000.0 * (i as f32 * 2.0 * std::f32::consts::PI / 8.0).sin()) as i16)
            .collect();
        hb.playout.push_8k(&tone);
        hb.send_dtmf("5");
        let mut heard = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline && heard < 10 {
            if let Ok(Some(f)) =
                tokio::time::timeout(Duration::from_millis(200), ha.inbound.recv()).await
            {
                assert_eq!(f.len(), 320);
                if f.iter().any(|s| s.abs() > 1000) {
                    heard += 1;
                }
            }
        }
        assert!(heard >= 10, "A heard {heard} loud frames");
        let key = tokio::time::timeout(Duration::from_secs(2), ha.dtmf.recv()).await;
        assert_eq!(key.ok().flatten(), Some('5'));
        // Barge-in: flushing empties the queue at once.
        hb.playout.push_8k(&tone);
        assert!(hb.playout.queued_ms() > 500);
        hb.playout.flush();
        assert_eq!(hb.playout.queued_ms(), 0);
        let ra = ha.stop().await;
        let rb = hb.stop().await;
        assert!(ra.rtp.received >= 10 && rb.rtp.sent >= 10, "{ra:?} {rb:?}");
        assert_eq!(ra.dtmf_received, "5");
        let r = hound::WavReader::open(&wav).expect("recording");
        assert_eq!(r.spec().channels, 2);
        assert!(r.len() >= 2 * 1600, "recording has {} samples", r.len());
        // What A sent is valid RTP with A's SSRC (checked by B's counters).
        assert_eq!(rb.rtp.invalid, 0);
        let _ = RtpReader::new(&[0u8; 12]);
    }
}
