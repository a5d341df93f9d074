//! Voicing calls' sentences before they are asked for, on one pool for the process.
//!
//! A reply that carries the customer's values (a name, an amount) cannot come from the
//! prompt cache, and synthesizing it when the turn ends puts the voice on the turn's
//! critical path. So each call hands the pool its sentences when it is dialled, each with
//! a due time (when the call will probably need it), and the pool voices them earliest
//! due first. The pool runs below ordinary priority (`sched::lower_current_thread`): it
//! takes only the CPU that decodes, the bots' own live synthesis and the media leave
//! over, and many calls starting at once queue their sentences instead of each starting
//! a thread that competes with every turn in progress.
//!
//! A sentence the bot needs before the pool got to it is taken back and voiced on the
//! bot's thread at ordinary priority; a result for a sentence taken back, or for a call
//! that has ended, is dropped. Voiced sentences live with their call only (they may carry
//! personal data) and are never stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::pipeline::Source;
use super::prompts::PromptCache;
use crate::speech::tts::Voice;
use crate::Locale;

/// The pool's nice value above ordinary threads.
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
    /// Not (yet) voiced: the bot voices it; the pool will not, or its result is dropped.
    Missing,
}

impl CallSentences {
    /// The sentence if it is ready; otherwise the pool is told to leave it.
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

    fn pending(&self) -> bool {
        self.slots.lock().is_ok_and(|m| {
            m.values()
                .any(|s| matches!(s, Slot::Queued | Slot::Working))
        })
    }
}

struct Item {
    due: Instant,
    seq: u64,
    sentence: String,
    call: Weak<CallSentences>,
}

#[derive(Default)]
struct State {
    items: Vec<Item>,
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
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
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
        self.0.work.notify_all();
    }
}

/// The process's synthesis-ahead pool for one voice; cheap to clone.
#[derive(Clone)]
pub struct SynthesisAhead {
    owner: Arc<Owner>,
}

/// What the pool did so far, for load runs.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AheadStats {
    /// Sentences handed to the pool.
    pub queued: u64,
    /// Sentences it synthesized.
    pub voiced: u64,
    /// Their synthesis wall time, ms.
    pub voiced_ms: u64,
    /// Sentences it found in the prompt cache (static sentences of variable prompts).
    pub cached: u64,
    /// Voiced, but the call had ended or the bot had voiced it itself (wasted).
    pub dropped: u64,
    /// Taken back by a bot while the pool was voicing them (voiced twice).
    pub taken_while_voicing: u64,
    /// Synthesis failures.
    pub failed: u64,
}

/// Waits for one call's sentences (tools and benchmarks that want them all voiced before
/// the call starts).
pub struct AheadTicket {
    shared: Arc<Shared>,
    call: Arc<CallSentences>,
}

impl AheadTicket {
    /// Blocks until the pool has voiced, dropped or been told to leave every sentence of
    /// the call.
    pub fn wait(&self) {
        let Ok(mut g) = self.shared.state.lock() else {
            return;
        };
        while self.call.pending() {
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

impl SynthesisAhead {
    /// A pool of `workers` threads voicing with `voice` through `cache` (static sentences
    /// come from the cache, the rest are synthesized and kept with their call).
    pub fn start(
        cache: Arc<PromptCache>,
        voice: Arc<Voice>,
        locale: Locale,
        workers: usize,
    ) -> SynthesisAhead {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            cache,
            voice,
            locale,
            counters: Arc::default(),
        });
        for i in 0..workers.max(1) {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tts-ahead-{i}"))
                .spawn(move || worker(&shared));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a synthesis-ahead worker");
            }
        }
        SynthesisAhead {
            owner: Arc::new(Owner(shared)),
        }
    }

    /// Queues a call's sentences, each with the time it is probably needed; returns the
    /// call's store (which the bot asks with [`CallSentences::take`]) and a ticket to wait
    /// on. Sentences already queued for the call keep their place.
    pub fn queue(&self, sentences: Vec<(String, Instant)>) -> (Arc<CallSentences>, AheadTicket) {
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
                st.items.push(Item {
                    due,
                    seq,
                    sentence,
                    call: Arc::downgrade(&call),
                });
                shared.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.work.notify_all();
        let ticket = AheadTicket {
            shared: shared.clone(),
            call: call.clone(),
        };
        (call, ticket)
    }

    /// What the pool did so far.
    pub fn stats(&self) -> AheadStats {
        let c = &self.owner.0.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AheadStats {
            queued: g(&c.queued),
            voiced: g(&c.voiced),
            voiced_ms: g(&c.voiced_ms),
            cached: g(&c.cached),
            dropped: g(&c.dropped),
            taken_while_voicing: g(&c.taken_working),
            failed: g(&c.failed),
        }
    }
}

/// The next sentence to voice: the earliest due of a live call that still wants it.
fn next(shared: &Shared) -> Option<(String, Arc<CallSentences>)> {
    let mut st = shared.state.lock().ok()?;
    loop {
        // Calls that ended and sentences their bot took back leave the queue here.
        st.items.retain(|it| {
            it.call.upgrade().is_some_and(|c| {
                c.slots
                    .lock()
                    .is_ok_and(|m| matches!(m.get(&it.sentence), Some(Slot::Queued)))
            })
        });
        let best = st
            .items
            .iter()
            .enumerate()
            .min_by_key(|(_, it)| (it.due, it.seq))
            .map(|(i, _)| i);
        if let Some(i) = best {
            let it = st.items.swap_remove(i);
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
        st = shared.work.wait(st).ok()?;
    }
}

fn worker(shared: &Shared) {
    let class = crate::sched::lower_current_thread(AHEAD_NICE);
    tracing::debug!(?class, "synthesis-ahead worker scheduling");
    let c = &shared.counters;
    while let Some((sentence, call)) = next(shared) {
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
