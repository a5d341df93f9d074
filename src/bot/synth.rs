//! The process's synthesis workers, shared by every call, in two lanes.
//!
//! - **Live**: sentences a bot needs now (the first sentence of a reply, whose turn is
//!   waiting) or soon (the next sentence of a prompt that is playing). Workers at ordinary
//!   priority take them earliest due first, so a reply that keeps a customer waiting goes
//!   before a sentence whose prompt still has seconds of audio queued. The bot's own
//!   thread never synthesizes on a live call: it keeps reading the call's frames (barge-in,
//!   the next endpoint) while its sentences are made.
//! - **Ahead**: a reply that carries the customer's values (a name, an amount) cannot come
//!   from the prompt cache, so each call hands its sentences over when it is dialled, each
//!   due about when the call will reach it. Workers below ordinary priority
//!   (`sched::lower_current_thread`) voice them earliest due first: they take only the CPU
//!   that decodes, live synthesis and the media leave over, and many calls starting at once
//!   queue their sentences instead of each starting a thread that competes with every turn
//!   in progress.
//!
//! A sentence a bot needs before the ahead lane got to it is taken back and voiced in the
//! live lane; an ahead result for a sentence taken back, or for a call that has ended, is
//! dropped. Sentences voiced ahead live with their call only (they may carry personal
//! data) and are never stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::pipeline::Source;
use super::prompts::{Piece, PromptCache};
use crate::speech::tts::Voice;
use crate::speech::SpeechError;
use crate::Locale;

/// The ahead lane's nice value above ordinary threads.
const AHEAD_NICE: i32 = 10;

enum Slot {
    Queued,
    Working,
    Ready(Arc<Vec<i16>>),
    /// The bot took it back (it needed it first) or the pool failed on it.
    Gone,
}

/// One call's sentences voiced ahead; dropped with the call.
pub struct CallSentences {
    slots: Mutex<HashMap<String, Slot>>,
    counters: Arc<Counters>,
}

/// What the bot found when it asked for a sentence.
pub enum Taken {
    /// Voiced ahead: play this.
    Ready(Arc<Vec<i16>>),
    /// Not (yet) voiced: the bot has it voiced live; the ahead lane will not, or its
    /// result is dropped.
    Missing,
}

impl CallSentences {
    /// The sentence if it is ready; otherwise the ahead lane is told to leave it.
    pub fn take(&self, sentence: &str) -> Taken {
        let Ok(mut m) = self.slots.lock() else {
            return Taken::Missing;
        };
        match m.get_mut(sentence) {
            Some(Slot::Ready(pcm)) => Taken::Ready(pcm.clone()),
            Some(slot) => {
                if matches!(slot, Slot::Working) {
                    self.counters.taken_working.fetch_add(1, Ordering::Relaxed);
                }
                *slot = Slot::Gone;
                Taken::Missing
            }
            None => Taken::Missing,
        }
    }

    /// Whether the sentence is ready, without taking it back from the ahead lane.
    pub fn is_ready(&self, sentence: &str) -> bool {
        self.slots
            .lock()
            .is_ok_and(|m| matches!(m.get(sentence), Some(Slot::Ready(_))))
    }

    /// Keeps a sentence voiced elsewhere (live) with the call, so saying it again (a
    /// repeated prompt) plays it from memory; the ahead lane leaves it.
    pub fn keep(&self, sentence: &str, pcm: Arc<Vec<i16>>) {
        if let Ok(mut m) = self.slots.lock() {
            m.insert(sentence.to_string(), Slot::Ready(pcm));
        }
    }

    fn pending(&self) -> bool {
        self.slots.lock().is_ok_and(|m| {
            m.values()
                .any(|s| matches!(s, Slot::Queued | Slot::Working))
        })
    }
}

struct AheadItem {
    due: Instant,
    seq: u64,
    sentence: String,
    call: Weak<CallSentences>,
}

/// The answer to a live request.
pub type LiveRx = tokio::sync::oneshot::Receiver<Result<Piece, SpeechError>>;

struct LiveItem {
    due: Instant,
    seq: u64,
    sentence: String,
    persist: bool,
    asked: Instant,
    reply: tokio::sync::oneshot::Sender<Result<Piece, SpeechError>>,
}

#[derive(Default)]
struct State {
    ahead: Vec<AheadItem>,
    live: Vec<LiveItem>,
    seq: u64,
    stopped: bool,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    voiced: AtomicU64,
    voiced_ms: AtomicU64,
    cached: AtomicU64,
    dropped: AtomicU64,
    taken_working: AtomicU64,
    failed: AtomicU64,
    live: AtomicU64,
    live_ms: AtomicU64,
    live_queue_ms: AtomicU64,
    live_max_queue_ms: AtomicU64,
}

struct Shared {
    state: Mutex<State>,
    ahead_work: Condvar,
    live_work: Condvar,
    done: Condvar,
    cache: Arc<PromptCache>,
    voice: Arc<Voice>,
    locale: Locale,
    counters: Arc<Counters>,
}

// The last handle going away stops the workers.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.stopped = true;
        }
        self.0.ahead_work.notify_all();
        self.0.live_work.notify_all();
    }
}

/// The synthesis workers for one voice; cheap to clone.
#[derive(Clone)]
pub struct SynthPool {
    owner: Arc<Owner>,
}

/// What the workers did so far, for load runs.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SynthStats {
    /// Sentences handed to the ahead lane.
    pub ahead_queued: u64,
    /// Of those, synthesized.
    pub ahead_voiced: u64,
    /// Their synthesis wall time, ms.
    pub ahead_voiced_ms: u64,
    /// Of those, found in the prompt cache (static sentences of variable prompts).
    pub ahead_cached: u64,
    /// Voiced ahead, but the call had ended or had it voiced live meanwhile (wasted).
    pub ahead_dropped: u64,
    /// Taken back by a bot while the ahead lane was voicing them (voiced twice).
    pub ahead_taken_while_voicing: u64,
    /// Synthesis failures in either lane.
    pub failed: u64,
    /// Sentences synthesized in the live lane.
    pub live: u64,
    /// Their wall time from request to answer, ms (queue included).
    pub live_ms: u64,
    /// Of that, time queued behind other calls' sentences, ms.
    pub live_queue_ms: u64,
    /// The longest a live sentence was queued, ms.
    pub live_max_queue_ms: u64,
}

/// Waits for one call's sentences (tools and benchmarks that want them all voiced before
/// the call starts).
pub struct AheadTicket {
    shared: Arc<Shared>,
    // Weak: holding a ticket does not keep an ended call's sentences wanted.
    call: Weak<CallSentences>,
}

impl AheadTicket {
    /// Blocks until the ahead lane has voiced, dropped or been told to leave every
    /// sentence of the call.
    pub fn wait(&self) {
        let Ok(mut g) = self.shared.state.lock() else {
            return;
        };
        while self.call.upgrade().is_some_and(|c| c.pending()) {
            if g.stopped {
                return;
            }
            match self.shared.done.wait_timeout(g, Duration::from_millis(200)) {
                Ok((next, _)) => g = next,
                Err(_) => return,
            }
        }
    }
}

impl SynthPool {
    /// `live` workers at ordinary priority and `ahead` workers below it, voicing with
    /// `voice` through `cache` (cached sentences come from it; live sentences of static
    /// prompts are stored in it, nothing voiced ahead is).
    pub fn start(
        cache: Arc<PromptCache>,
        voice: Arc<Voice>,
        locale: Locale,
        live: usize,
        ahead: usize,
    ) -> SynthPool {
        let pool = SynthPool::idle(cache, voice, locale);
        pool.spawn(live.max(1), ahead.max(1));
        pool
    }

    // A pool without workers yet (tests look at its queues).
    fn idle(cache: Arc<PromptCache>, voice: Arc<Voice>, locale: Locale) -> SynthPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ahead_work: Condvar::new(),
            live_work: Condvar::new(),
            done: Condvar::new(),
            cache,
            voice,
            locale,
            counters: Arc::default(),
        });
        SynthPool {
            owner: Arc::new(Owner(shared)),
        }
    }

    fn spawn(&self, live: usize, ahead: usize) {
        let shared = &self.owner.0;
        let lanes = (0..live)
            .map(|i| (format!("tts-live-{i}"), false))
            .chain((0..ahead).map(|i| (format!("tts-ahead-{i}"), true)));
        for (name, is_ahead) in lanes {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                if is_ahead {
                    ahead_worker(&shared)
                } else {
                    live_worker(&shared)
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a synthesis worker");
            }
        }
    }

    /// Queues a call's sentences in the ahead lane, each with the time it is probably
    /// needed; returns the call's store (which the bot asks with [`CallSentences::take`])
    /// and a ticket to wait on. A sentence listed twice keeps its first place.
    pub fn queue_ahead(
        &self,
        sentences: Vec<(String, Instant)>,
    ) -> (Arc<CallSentences>, AheadTicket) {
        let shared = &self.owner.0;
        let call = Arc::new(CallSentences {
            slots: Mutex::default(),
            counters: shared.counters.clone(),
        });
        if let (Ok(mut st), Ok(mut slots)) = (shared.state.lock(), call.slots.lock()) {
            for (sentence, due) in sentences {
                if slots.contains_key(&sentence) {
                    continue;
                }
                slots.insert(sentence.clone(), Slot::Queued);
                st.seq += 1;
                let seq = st.seq;
                st.ahead.push(AheadItem {
                    due,
                    seq,
                    sentence,
                    call: Arc::downgrade(&call),
                });
                shared.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.ahead_work.notify_all();
        let ticket = AheadTicket {
            shared: shared.clone(),
            call: Arc::downgrade(&call),
        };
        (call, ticket)
    }

    /// Has one sentence voiced in the live lane by `due` (earliest due goes first); the
    /// answer comes on the returned channel. `persist`: a synthesized sentence may be
    /// stored in the prompt cache (false when it may carry a customer's values). Dropping
    /// the receiver withdraws a request not yet started.
    pub fn voice(&self, sentence: String, persist: bool, due: Instant) -> LiveRx {
        let shared = &self.owner.0;
        let (reply, rx) = tokio::sync::oneshot::channel();
        match shared.state.lock() {
            Ok(mut st) => {
                st.seq += 1;
                let seq = st.seq;
                st.live.push(LiveItem {
                    due,
                    seq,
                    sentence,
                    persist,
                    asked: Instant::now(),
                    reply,
                });
                drop(st);
                shared.live_work.notify_one();
            }
            Err(_) => {
                let _ = reply.send(Err(SpeechError::Stopped));
            }
        }
        rx
    }

    /// What the workers did so far.
    pub fn stats(&self) -> SynthStats {
        let c = &self.owner.0.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SynthStats {
            ahead_queued: g(&c.queued),
            ahead_voiced: g(&c.voiced),
            ahead_voiced_ms: g(&c.voiced_ms),
            ahead_cached: g(&c.cached),
            ahead_dropped: g(&c.dropped),
            ahead_taken_while_voicing: g(&c.taken_working),
            failed: g(&c.failed),
            live: g(&c.live),
            live_ms: g(&c.live_ms),
            live_queue_ms: g(&c.live_queue_ms),
            live_max_queue_ms: g(&c.live_max_queue_ms),
        }
    }
}

/// The next ahead sentence: the earliest due of a live call that still wants it.
fn next_ahead(shared: &Shared) -> Option<(String, Arc<CallSentences>)> {
    let mut st = shared.state.lock().ok()?;
    loop {
        // Calls that ended and sentences their bot took back leave the queue here.
        st.ahead.retain(|it| {
            it.call.upgrade().is_some_and(|c| {
                c.slots
                    .lock()
                    .is_ok_and(|m| matches!(m.get(&it.sentence), Some(Slot::Queued)))
            })
        });
        let best = st
            .ahead
            .iter()
            .enumerate()
            .min_by_key(|(_, it)| (it.due, it.seq))
            .map(|(i, _)| i);
        if let Some(i) = best {
            let it = st.ahead.swap_remove(i);
            let Some(call) = it.call.upgrade() else {
                continue;
            };
            let claimed = match call.slots.lock() {
                Ok(mut m) => match m.get_mut(&it.sentence) {
                    Some(slot @ Slot::Queued) => {
                        *slot = Slot::Working;
                        true
                    }
                    _ => false,
                },
                Err(_) => false,
            };
            if claimed {
                return Some((it.sentence, call));
            }
            continue;
        }
        if st.stopped {
            return None;
        }
        st = shared.ahead_work.wait(st).ok()?;
    }
}

fn ahead_worker(shared: &Shared) {
    let class = crate::sched::lower_current_thread(AHEAD_NICE);
    tracing::debug!(?class, "synthesis-ahead worker scheduling");
    let c = &shared.counters;
    while let Some((sentence, call)) = next_ahead(shared) {
        let t0 = Instant::now();
        let r = shared
            .cache
            .fetch(&shared.voice, shared.locale, &sentence, false);
        let slot = match r {
            Ok(p) => {
                if p.source == Source::Synthesized {
                    c.voiced.fetch_add(1, Ordering::Relaxed);
                    c.voiced_ms
                        .fetch_add(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
                } else {
                    c.cached.fetch_add(1, Ordering::Relaxed);
                }
                Slot::Ready(p.pcm)
            }
            Err(e) => {
                tracing::warn!(error = %e, "synthesis ahead failed");
                c.failed.fetch_add(1, Ordering::Relaxed);
                Slot::Gone
            }
        };
        // Only this handle left: the call is over and nobody will ask.
        let over = Arc::strong_count(&call) == 1;
        let kept = !over
            && call
                .slots
                .lock()
                .is_ok_and(|mut m| match m.get_mut(&sentence) {
                    Some(s @ Slot::Working) => {
                        *s = slot;
                        true
                    }
                    _ => false,
                });
        if !kept {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(call);
        let _g = shared.state.lock();
        shared.done.notify_all();
    }
}

/// The next live request: the earliest due whose caller still waits.
fn next_live(shared: &Shared) -> Option<LiveItem> {
    let mut st = shared.state.lock().ok()?;
    loop {
        st.live.retain(|it| !it.reply.is_closed());
        let best = st
            .live
            .iter()
            .enumerate()
            .min_by_key(|(_, it)| (it.due, it.seq))
            .map(|(i, _)| i);
        if let Some(i) = best {
            return Some(st.live.swap_remove(i));
        }
        if st.stopped {
            return None;
        }
        st = shared.live_work.wait(st).ok()?;
    }
}

fn live_worker(shared: &Shared) {
    let c = &shared.counters;
    while let Some(it) = next_live(shared) {
        let queued = it.asked.elapsed().as_millis() as u64;
        c.live_queue_ms.fetch_add(queued, Ordering::Relaxed);
        c.live_max_queue_ms.fetch_max(queued, Ordering::Relaxed);
        let r = shared
            .cache
            .fetch(&shared.voice, shared.locale, &it.sentence, it.persist);
        match &r {
            Ok(p) if p.source == Source::Synthesized => {
                c.live.fetch_add(1, Ordering::Relaxed);
                c.live_ms
                    .fetch_add(it.asked.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "live synthesis failed");
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = it.reply.send(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::config::TtsConfig;

    fn pool(dir: &std::path::Path) -> SynthPool {
        let voice = Voice::load(
            &TtsConfig::Espeak {
                voice: "en-us".into(),
                wpm: 175,
            },
            dir,
        )
        .expect("espeak-ng (scripts/setup.sh installs it)");
        let cache = Arc::new(PromptCache::new(dir, vec![]));
        SynthPool::idle(cache, Arc::new(voice), Locale::EnUs)
    }

    #[test]
    fn ahead_sentences_go_earliest_due_first_across_calls_and_are_skipped_once_not_wanted() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = pool(dir.path());
        let t0 = Instant::now();
        let s = |x: &str, ms: u64| (x.to_string(), t0 + Duration::from_millis(ms));
        let (a, _ta) = p.queue_ahead(vec![
            s("a first", 6_000),
            s("a second", 8_500),
            s("a later", 16_000),
        ]);
        let (b, _tb) = p.queue_ahead(vec![s("b first", 6_400), s("b second", 8_900)]);
        let (c, _tc) = p.queue_ahead(vec![s("c first", 7_000)]);
        // The bot of call A needed its second sentence first and had it voiced live;
        // call C ended.
        assert!(matches!(a.take("a second"), Taken::Missing));
        drop(c);
        let shared = &p.owner.0;
        let mut order = Vec::new();
        for _ in 0..4 {
            let (sentence, _call) = next_ahead(shared).expect("queued");
            order.push(sentence);
        }
        assert_eq!(order, ["a first", "b first", "b second", "a later"]);
        // Being voiced: a bot that asks now has it voiced live, and the ahead result for
        // it will be dropped (it never turns Ready).
        assert!(matches!(b.take("b first"), Taken::Missing));
        assert_eq!(p.stats().ahead_taken_while_voicing, 1);
    }

    #[test]
    fn live_requests_go_earliest_due_first_and_withdrawn_ones_are_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = pool(dir.path());
        let t0 = Instant::now();
        // Another call's next sentence, due when its playing prompt runs out in 3 s...
        let _later = p.voice("later".into(), false, t0 + Duration::from_secs(3));
        // ...a reply whose turn is waiting now, and one withdrawn (barge-in).
        let _now = p.voice("now".into(), false, t0);
        let gone = p.voice("gone".into(), false, t0);
        drop(gone);
        let shared = &p.owner.0;
        let first = next_live(shared).expect("queued");
        let second = next_live(shared).expect("queued");
        assert_eq!([first.sentence, second.sentence], ["now", "later"]);
        let st = shared.state.lock().expect("state");
        assert!(st.live.is_empty());
    }

    #[test]
    fn workers_voice_ahead_and_live_and_nothing_of_a_call_is_stored() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = pool(dir.path());
        p.spawn(1, 1);
        let due = Instant::now() + Duration::from_secs(6);
        let (call, ticket) = p.queue_ahead(vec![
            ("Thanks, John Smith.".into(), due),
            ("The amount due is one hundred dollars.".into(), due),
        ]);
        ticket.wait();
        for sentence in [
            "Thanks, John Smith.",
            "The amount due is one hundred dollars.",
        ] {
            match call.take(sentence) {
                Taken::Ready(pcm) => {
                    assert!(pcm.len() > 4_000, "{sentence}: {} samples", pcm.len())
                }
                Taken::Missing => panic!("{sentence} was not voiced"),
            }
        }
        let live = p
            .voice("You will pay by Friday.".into(), false, Instant::now())
            .blocking_recv()
            .expect("answer")
            .expect("voiced");
        assert_eq!(live.source, Source::Synthesized);
        assert!(live.pcm.len() > 4_000);
        let st = p.stats();
        assert_eq!(
            (
                st.ahead_queued,
                st.ahead_voiced,
                st.live,
                st.failed,
                st.ahead_dropped
            ),
            (2, 2, 1, 0, 0),
            "{st:?}"
        );
        // Nothing with the customer's values reached the disk cache.
        let files = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(files, 0);
    }
}
