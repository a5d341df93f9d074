//! Media workers: a few OS threads (one per core by default) that each drive many calls'
//! RTP streams from one clock. Every 20 ms a stream is serviced once: its socket drained
//! without blocking, its packet sent, its frame played out. One loop per core instead of
//! a task, a timer and a socket wakeup per call is what makes a thousand calls per core
//! affordable. Streams are spread over the 20 ms period so the work is even.

use super::stream::{Service, Stream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Longest a worker sleeps, so new streams and commands are picked up promptly.
const MAX_NAP: Duration = Duration::from_millis(2);

struct Pool {
    workers: Vec<Mutex<Sender<Stream>>>,
    next: AtomicUsize,
    phase: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        // VOXDIAL_MEDIA_WORKERS pins the count (benchmarks use 1 to measure one core).
        let n = std::env::var("VOXDIAL_MEDIA_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let workers = (0..n)
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
        Pool {
            workers,
            next: AtomicUsize::new(0),
            phase: AtomicUsize::new(0),
        }
    })
}

/// Hand a new stream to a worker (round robin), with its tick phase spread over 20 ms.
pub(crate) fn submit(mut stream: Stream) {
    let p = pool();
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

fn run(new: Receiver<Stream>) {
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
