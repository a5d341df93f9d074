//! The test call's script (`voxdial call` without `--scenario`: play a file, send DTMF,
//! REFER, hold and resume, hang up, each so long after the answer) as an agent behind
//! the [`super::agent`] seam, like the bot: the call core hears only agent commands.
//!
//! The timeline is a pure function of the time since the answer ([`ScriptedAgent::due`]),
//! so it is tested without threads or clocks. The user agent runs it inline, asking it at
//! each of its deadlines (a test call needs no thread of its own, and the call-setup
//! benchmark would pay one per call); through [`CallAgent`] it runs on a thread of its
//! own and keeps time by counting the call's 20 ms frames.

use super::agent::{AgentCommand, AgentMedia, AgentReport, CallAgent};
use crate::media::stream::PlayoutQueue;
use std::time::Duration;
use tokio::sync::mpsc;

/// One media frame: the agent's audio clock ticks once per inbound frame.
const FRAME: Duration = Duration::from_millis(20);

/// What a test call does after the answer (the `voxdial call` flags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    /// Audio to play at the answer (8 kHz).
    pub play: Option<Vec<i16>>,
    /// DTMF keys to send at the answer.
    pub dtmf: Option<String>,
    /// Send a REFER (to the configured target) this long after the answer; None when
    /// no target is configured.
    pub refer_after: Option<Duration>,
    /// Put the customer on hold this long after the answer, for this long.
    pub hold: Option<(Duration, Duration)>,
    /// Hang up this long after the answer.
    pub hangup_after: Option<Duration>,
}

/// The script as an agent: its commands in time order, and how far it has got.
#[derive(Clone, Debug)]
pub struct ScriptedAgent {
    play: Option<Vec<i16>>,
    steps: Vec<(Duration, AgentCommand)>,
    next: usize,
}

impl ScriptedAgent {
    /// The agent that plays `script`.
    pub fn new(script: Script) -> ScriptedAgent {
        let mut steps = vec![];
        if let Some(digits) = script.dtmf {
            steps.push((Duration::ZERO, AgentCommand::Dtmf { digits }));
        }
        if let Some(after) = script.refer_after {
            // A plain REFER: a test call has no hand-off reason to give.
            steps.push((after, AgentCommand::Transfer { reason: None }));
        }
        if let Some((after, len)) = script.hold {
            steps.push((after, AgentCommand::Hold));
            steps.push((after + len, AgentCommand::Resume));
        }
        if let Some(after) = script.hangup_after {
            // At the stated instant, whatever is still playing: a test of the line.
            steps.push((
                after,
                AgentCommand::Hangup {
                    outcome: "script".into(),
                    after_playout: false,
                },
            ));
        }
        // Stable: at one instant, the order above (DTMF, REFER, hold, hang-up).
        steps.sort_by_key(|(at, _)| *at);
        ScriptedAgent {
            play: script.play,
            steps,
            next: 0,
        }
    }

    /// At the answer: queue the audio to play.
    pub fn answered(&mut self, playout: &PlayoutQueue) {
        if let Some(pcm) = self.play.take() {
            playout.push_8k(&pcm);
        }
    }

    /// When (since the answer) the next command is due; None once the script is done.
    pub fn next_due(&self) -> Option<Duration> {
        self.steps.get(self.next).map(|(at, _)| *at)
    }

    /// The next command due by `elapsed` since the answer, if any (call until None).
    pub fn due(&mut self, elapsed: Duration) -> Option<AgentCommand> {
        let (at, c) = self.steps.get(self.next)?;
        if *at > elapsed {
            return None;
        }
        self.next += 1;
        Some(c.clone())
    }
}

impl CallAgent for ScriptedAgent {
    fn start(
        mut self: Box<Self>,
        mut media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        std::thread::spawn(move || {
            self.answered(&media.playout);
            let mut elapsed = Duration::ZERO;
            loop {
                while let Some(c) = self.due(elapsed) {
                    if commands.send(c).is_err() {
                        return AgentReport::default();
                    }
                }
                // One frame per media tick: the call's own audio clock. The stream
                // closes when the call ends.
                if media.inbound.blocking_recv().is_none() {
                    return AgentReport::default();
                }
                elapsed += FRAME;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn all_due(a: &mut ScriptedAgent, at: Duration) -> Vec<AgentCommand> {
        std::iter::from_fn(|| a.due(at)).collect()
    }

    #[test]
    fn the_timeline_gives_each_command_at_its_time_once() {
        let mut a = ScriptedAgent::new(Script {
            play: None,
            dtmf: Some("12#".into()),
            refer_after: Some(ms(1000)),
            hold: Some((ms(500), ms(2000))),
            hangup_after: Some(ms(4000)),
        });
        assert_eq!(
            all_due(&mut a, ms(0)),
            vec![AgentCommand::Dtmf {
                digits: "12#".into()
            }]
        );
        assert_eq!(a.next_due(), Some(ms(500)));
        assert_eq!(all_due(&mut a, ms(499)), vec![]);
        assert_eq!(all_due(&mut a, ms(500)), vec![AgentCommand::Hold]);
        assert_eq!(
            all_due(&mut a, ms(1020)),
            vec![AgentCommand::Transfer { reason: None }]
        );
        assert_eq!(a.next_due(), Some(ms(2500)));
        // A late wake-up delivers everything that fell due, in order.
        assert_eq!(
            all_due(&mut a, ms(9000)),
            vec![
                AgentCommand::Resume,
                AgentCommand::Hangup {
                    outcome: "script".into(),
                    after_playout: false
                }
            ]
        );
        assert_eq!(a.next_due(), None);
        assert_eq!(all_due(&mut a, ms(20_000)), vec![]);
    }

    #[test]
    fn commands_at_one_instant_keep_the_script_order() {
        let mut a = ScriptedAgent::new(Script {
            dtmf: Some("5".into()),
            refer_after: Some(ms(0)),
            hangup_after: Some(ms(0)),
            ..Script::default()
        });
        assert_eq!(
            all_due(&mut a, ms(0)),
            vec![
                AgentCommand::Dtmf { digits: "5".into() },
                AgentCommand::Transfer { reason: None },
                AgentCommand::Hangup {
                    outcome: "script".into(),
                    after_playout: false
                }
            ]
        );
    }

    #[test]
    fn an_empty_script_asks_for_nothing() {
        let mut a = ScriptedAgent::new(Script::default());
        assert_eq!(a.next_due(), None);
        assert_eq!(all_due(&mut a, ms(60_000)), vec![]);
    }

    #[test]
    fn on_a_thread_it_keeps_time_by_the_calls_frames() {
        // A real stream only for its playout queue; the frames come from the test.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let media = rt.block_on(async {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let remote = sock.local_addr().expect("addr");
            crate::media::worker::MediaRuntime::new(1).start(
                sock,
                crate::media::stream::MediaConfig {
                    codec: crate::media::g711::G711::Ulaw,
                    dtmf_pt: None,
                    remote,
                    record: None,
                    ssrc: 1,
                    seq: 0,
                    ts: 0,
                },
            )
        });
        let (frames_tx, frames_rx) = mpsc::channel(64);
        let (_events_tx, events_rx) = std::sync::mpsc::channel();
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
        let agent = Box::new(ScriptedAgent::new(Script {
            hold: Some((ms(40), ms(20))),
            ..Script::default()
        }));
        let h = agent.start(
            AgentMedia {
                inbound: frames_rx,
                playout: media.playout.clone(),
                events: events_rx,
            },
            cmd_tx,
        );
        // The hold is due after two frames (40 ms), the resume after a third; then the
        // call ends.
        for _ in 0..3 {
            frames_tx.blocking_send(vec![0; 320]).expect("frame");
        }
        drop(frames_tx);
        h.join().expect("agent thread");
        assert_eq!(cmd_rx.try_recv(), Ok(AgentCommand::Hold));
        assert_eq!(cmd_rx.try_recv(), Ok(AgentCommand::Resume));
        assert!(cmd_rx.try_recv().is_err());
        rt.block_on(media.stop());
    }
}
