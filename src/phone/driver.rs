//! The phones' SIP side: one user agent plays many phones. Each INVITE to the customers'
//! agent is answered per the persona its number gets (ring, 486, no answer, voicemail,
//! announcement) and held by a [`CustomerAgent`]; a REFER the persona honours becomes a
//! new call to the target carrying the transfer context, where the customer keeps
//! talking. Each INVITE to the agents' phones is answered after a ring and held by an
//! [`AgentPhoneAgent`]. Every call ends with a JSON log (numbers masked).

use super::customer::CustomerConfig;
use super::mask_number;
use super::persona::{Answer, Behaviour, OnRefer, Persona, Personas};
use super::talk::{AgentLegLog, AgentPhoneAgent, CustomerAgent, LegLog, SharedLog};
use super::voices::{beep_8k, sit_8k, Clips};
use crate::sip::ua::{CallRequest, SipUa};
use crate::sip::uas::{AnswerOptions, EndedBy, IncomingCall, Referred};
use crate::time::MonotonicClock;
use crate::Locale;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The longest a `no_answer` phone rings before giving up with 480 itself, so a caller
/// that never cancels cannot keep a task forever.
const NO_ANSWER_LIMIT: Duration = Duration::from_secs(600);

/// How long a referred leg may ring.
const REFERRED_RING: Duration = Duration::from_secs(60);

/// What the customer phones need: who answers, what they say, where logs go.
pub struct CustomerPhones {
    /// The personas file.
    pub personas: Personas,
    /// Every line's audio.
    pub clips: Clips,
    /// Seed of the persona draw.
    pub seed: u64,
    /// One JSON log per call here, if set.
    pub log_dir: Option<PathBuf>,
    /// The driver's clock.
    pub clock: MonotonicClock,
}

/// A REFER the customer honoured, and the leg it placed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReferLog {
    /// The Refer-To target.
    pub target: String,
    /// The `X-Voxdial-*` context it carried on (prefix removed).
    pub context: Vec<(String, String)>,
    /// The new leg's final code (200: answered).
    pub code: Option<u16>,
    /// The new leg's conversation.
    pub leg: LegLog,
    /// Why the leg could not be placed.
    pub error: Option<String>,
}

/// One customer call's JSON log.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerCallLog {
    /// The persona that answered.
    pub persona: String,
    /// The dialled number, last four digits only.
    pub number: String,
    /// The language it spoke.
    pub locale: Locale,
    /// How it answered.
    pub answer: Answer,
    /// What it does with a REFER.
    pub on_refer: OnRefer,
    /// When the INVITE arrived (ms since the Unix epoch).
    pub offered_ms: u64,
    /// "answered", "busy", "no_answer", "cancelled", "not_in_service", "error".
    pub result: &'static str,
    /// The final code we sent (200, 486, 480, 404).
    pub sip_code: Option<u16>,
    /// Who ended an answered call.
    pub ended_by: Option<EndedBy>,
    /// The conversation with the caller.
    pub leg: LegLog,
    /// The transfer, if the caller referred us and we honoured it.
    pub referred: Option<ReferLog>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Serve the customer phones: every INVITE from `invites` is one call, on its own task.
/// Each finished call's log is sent on `logs` (and written to the log folder). Returns
/// when `invites` closes.
pub async fn serve_customers(
    ua: Arc<SipUa>,
    mut invites: mpsc::UnboundedReceiver<rsipstack::transaction::transaction::Transaction>,
    phones: Arc<CustomerPhones>,
    logs: mpsc::UnboundedSender<serde_json::Value>,
) {
    let seq = Arc::new(AtomicU64::new(0));
    while let Some(tx) = invites.recv().await {
        let (ua, phones, logs, seq) = (ua.clone(), phones.clone(), logs.clone(), seq.clone());
        tokio::spawn(async move {
            let log = customer_call(&ua, tx, &phones).await;
            let Some(log) = log else { return };
            let n = seq.fetch_add(1, Ordering::Relaxed);
            emit(&phones.log_dir, &format!("customer-{n:05}"), &log, &logs);
        });
    }
}

fn emit<T: Serialize>(
    dir: &Option<PathBuf>,
    name: &str,
    log: &T,
    logs: &mpsc::UnboundedSender<serde_json::Value>,
) {
    let value = match serde_json::to_value(log) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "a call log could not be serialized");
            return;
        }
    };
    if let Some(dir) = dir {
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(error = %e, path = %path.display(), "a call log could not be written");
        }
    }
    // The receiver may be gone (shutting down): the file is written anyway.
    let _ = logs.send(value);
}

fn config_of(p: &Persona) -> CustomerConfig {
    CustomerConfig {
        line_ms: Vec::new(),
        barge_in: p.behaviour == Behaviour::BargesIn,
        hangup_after_ms: (p.hangup_after_s * 1000.0) as u64,
        max_call_ms: (p.max_call_s * 1000.0) as u64,
    }
}

fn clips_of(clips: &Clips, locale: Locale, lines: &[String]) -> Vec<(String, Arc<Vec<i16>>)> {
    lines
        .iter()
        .filter_map(|l| clips.get(locale, l).map(|c| (l.clone(), c)))
        .collect()
}

/// The audio a voicemail or an announcement plays at the answer.
fn intro_of(p: &Persona, clips: &Clips, locale: Locale) -> Option<Arc<Vec<i16>>> {
    let words = p.spoken_intro(locale).and_then(|t| clips.get(locale, &t))?;
    let mut pcm = Vec::new();
    match p.answer {
        Answer::Voicemail => {
            pcm.extend_from_slice(&words);
            pcm.extend(super::voices::silence_8k(300));
            pcm.extend(beep_8k());
        }
        Answer::Announcement => {
            pcm.extend(sit_8k());
            pcm.extend_from_slice(&words);
        }
        _ => return None,
    }
    Some(Arc::new(pcm))
}

/// Ring for `secs`; false when the caller cancelled meanwhile.
async fn ring_for(call: &mut IncomingCall, secs: f64) -> bool {
    call.ring();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => true,
        _ = call.cancelled() => false,
    }
}

async fn customer_call(
    ua: &Arc<SipUa>,
    tx: rsipstack::transaction::transaction::Transaction,
    phones: &CustomerPhones,
) -> Option<CustomerCallLog> {
    let offered = phones.clock.now();
    let mut call = match IncomingCall::new(ua, tx) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "an INVITE the phones cannot answer");
            return None;
        }
    };
    let number = call.dialled_user().to_string();
    let (name, persona) = phones.personas.pick(phones.seed, &number);
    let locale = phones.personas.locale_for(&number);
    let mut log = CustomerCallLog {
        persona: name.to_string(),
        number: mask_number(&number),
        locale,
        answer: persona.answer,
        on_refer: persona.on_refer,
        offered_ms: offered.0,
        result: "error",
        sip_code: None,
        ended_by: None,
        leg: LegLog::default(),
        referred: None,
        error: None,
    };
    let answering_call = match persona.answer {
        Answer::Busy => {
            if ring_for(&mut call, persona.ring_s).await {
                call.reject(486);
                (log.result, log.sip_code) = ("busy", Some(486));
            } else {
                log.result = "cancelled";
            }
            None
        }
        Answer::NoAnswer => {
            call.ring();
            let gave_up = tokio::select! {
                _ = call.cancelled() => false,
                _ = tokio::time::sleep(NO_ANSWER_LIMIT) => true,
            };
            log.result = "no_answer";
            if gave_up {
                call.reject(480);
                log.sip_code = Some(480);
            }
            None
        }
        // `sip::uas` sends no 183 yet: the announcement is the final 404 after the ring.
        Answer::Announcement if persona.early_media => {
            if ring_for(&mut call, persona.ring_s).await {
                call.reject(404);
                (log.result, log.sip_code) = ("not_in_service", Some(404));
            } else {
                log.result = "cancelled";
            }
            None
        }
        _ => {
            if ring_for(&mut call, persona.ring_s).await {
                Some(call)
            } else {
                log.result = "cancelled";
                None
            }
        }
    };
    let Some(call) = answering_call else {
        return Some(log);
    };
    let leg_log = SharedLog::default();
    let agent = CustomerAgent {
        config: config_of(persona),
        lines: clips_of(&phones.clips, locale, persona.lines_for(locale)),
        intro: intro_of(persona, &phones.clips, locale),
        hangup_after_intro: persona.answer == Answer::Announcement,
        clock: phones.clock,
        log: leg_log.clone(),
        on_answer: None,
    };
    let honours = persona.answer == Answer::Answer && persona.on_refer == OnRefer::Honour;
    let (refer_tx, mut refer_rx) = mpsc::unbounded_channel::<Referred>();
    let opts = AnswerOptions {
        refer: honours.then_some(refer_tx),
        ..Default::default()
    };
    let answering = call.answer(Box::new(agent), opts);
    tokio::pin!(answering);
    let mut legs = Vec::new();
    let outcome = loop {
        tokio::select! {
            r = &mut answering => break r,
            Some(referred) = refer_rx.recv() => {
                legs.push(tokio::spawn(referred_leg(
                    ua.clone(),
                    referred,
                    number.clone(),
                    persona.clone(),
                    locale,
                    phones.clips.clone(),
                    phones.clock,
                )));
            }
        }
    };
    while let Ok(referred) = refer_rx.try_recv() {
        // Arrived as the call ended: there is no one to hand it to.
        drop(referred);
    }
    match outcome {
        Ok(report) => {
            log.result = "answered";
            log.sip_code = Some(200);
            log.ended_by = Some(report.ended_by);
        }
        Err(e) => log.error = Some(error_chain(&e)),
    }
    log.leg = leg_log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for leg in legs {
        if let Ok(r) = leg.await {
            log.referred = Some(r);
        }
    }
    Some(log)
}

/// An error and its causes on one line, for a log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Place the leg a REFER asked for, report its final code to the transferor, and keep
/// talking there with the persona's agent lines.
async fn referred_leg(
    ua: Arc<SipUa>,
    referred: Referred,
    number: String,
    persona: Persona,
    locale: Locale,
    clips: Clips,
    clock: MonotonicClock,
) -> ReferLog {
    let Referred {
        target,
        context,
        result,
    } = referred;
    let mut log = ReferLog {
        target: target.clone(),
        context: context.clone(),
        ..Default::default()
    };
    let leg_log = SharedLog::default();
    let (answered_tx, mut answered_rx) = oneshot::channel();
    let agent = CustomerAgent {
        config: config_of(&persona),
        lines: clips_of(&clips, locale, persona.agent_lines_for(locale)),
        intro: None,
        hangup_after_intro: false,
        clock,
        log: leg_log.clone(),
        on_answer: Some(answered_tx),
    };
    let ip = ua.local_addr().ip();
    let req = CallRequest {
        to: target,
        from: Some(format!("sip:{number}@{ip}")),
        bind: SocketAddr::new(ip, 0),
        ring_timeout: REFERRED_RING,
        invite_headers: context
            .iter()
            .map(|(k, v)| (format!("{}{k}", crate::sip::uas::CONTEXT_PREFIX), v.clone()))
            .collect(),
        ..Default::default()
    };
    let placing = ua.call_with(req, Box::new(agent));
    tokio::pin!(placing);
    let mut result = Some(result);
    let outcome = loop {
        tokio::select! {
            r = &mut placing => break r,
            Ok(()) = &mut answered_rx, if result.is_some() => {
                if let Some(r) = result.take() {
                    // The transferor may have gone; the leg goes on regardless.
                    let _ = r.send(200);
                }
                log.code = Some(200);
            }
        }
    };
    match outcome {
        Ok(report) => {
            let code = report
                .sip_code
                .unwrap_or(if report.answered { 200 } else { 408 });
            log.code.get_or_insert(code);
            if let Some(r) = result.take() {
                let _ = r.send(code);
            }
        }
        Err(e) => {
            log.error = Some(error_chain(&e));
            if let Some(r) = result.take() {
                let _ = r.send(500);
            }
        }
    }
    log.leg = leg_log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    log
}

/// What the agent phones need.
pub struct AgentPhones {
    /// The agent's user name (for logs).
    pub agent: String,
    /// The line said after answering (text, 8 kHz audio).
    pub line: Option<(String, Arc<Vec<i16>>)>,
    /// Ring this long before answering.
    pub answer_after: Duration,
    /// Hang up this long after answering (None: never).
    pub hangup_after: Option<Duration>,
    /// With `hangup_after`, hang up somewhere between it and this instead: a draw that
    /// depends only on (`seed`, the call's `X-Voxdial-Lead`), so the same customers get
    /// the same talk times in two runs (a pacing comparison's population).
    pub hangup_max: Option<Duration>,
    /// Seed of the talk-time draw.
    pub seed: u64,
    /// Record each call's two directions here (stereo WAV), if set.
    pub record_dir: Option<PathBuf>,
    /// One JSON log per call here, if set.
    pub log_dir: Option<PathBuf>,
    /// The driver's clock.
    pub clock: MonotonicClock,
}

/// One agent call's JSON log.
#[derive(Clone, Debug, Serialize)]
pub struct AgentCallLog {
    /// The agent.
    pub agent: String,
    /// Who called (last four digits).
    pub caller: String,
    /// The `X-Voxdial-*` headers of the INVITE, prefix removed.
    pub context: Vec<(String, String)>,
    /// When the INVITE arrived.
    pub offered_ms: u64,
    /// "answered", "cancelled", "error".
    pub result: &'static str,
    /// Who ended an answered call.
    pub ended_by: Option<EndedBy>,
    /// The stereo recording.
    pub recording: Option<PathBuf>,
    /// What happened on the call.
    pub leg: AgentLegLog,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// How long the agent talks on the call of `lead` (see [`AgentPhones::hangup_max`]).
fn talk_time(phones: &AgentPhones, lead: &str) -> Option<Duration> {
    let min = phones.hangup_after?;
    let Some(max) = phones.hangup_max.filter(|m| *m > min) else {
        return Some(min);
    };
    let mut h = Sha256::new();
    h.update(phones.seed.to_be_bytes());
    h.update(lead.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let u = (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    Some(min + (max - min).mul_f64(u))
}

/// Serve the agent phones: every INVITE is answered after a ring, on its own task.
pub async fn serve_agents(
    ua: Arc<SipUa>,
    mut invites: mpsc::UnboundedReceiver<rsipstack::transaction::transaction::Transaction>,
    phones: Arc<AgentPhones>,
    logs: mpsc::UnboundedSender<serde_json::Value>,
) {
    let seq = Arc::new(AtomicU64::new(0));
    while let Some(tx) = invites.recv().await {
        let (ua, phones, logs) = (ua.clone(), phones.clone(), logs.clone());
        let n = seq.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Some(log) = agent_call(&ua, tx, &phones, n).await {
                emit(&phones.log_dir, &format!("agent-{n:05}"), &log, &logs);
            }
        });
    }
}

async fn agent_call(
    ua: &Arc<SipUa>,
    tx: rsipstack::transaction::transaction::Transaction,
    phones: &AgentPhones,
    n: u64,
) -> Option<AgentCallLog> {
    let offered = phones.clock.now();
    let mut call = match IncomingCall::new(ua, tx) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "an INVITE the agent phone cannot answer");
            return None;
        }
    };
    let mut log = AgentCallLog {
        agent: phones.agent.clone(),
        caller: mask_number(call.caller()),
        context: call.context().to_vec(),
        offered_ms: offered.0,
        result: "cancelled",
        ended_by: None,
        recording: None,
        leg: AgentLegLog::default(),
        error: None,
    };
    if !ring_for(&mut call, phones.answer_after.as_secs_f64()).await {
        return Some(log);
    }
    let leg = Arc::new(Mutex::new(AgentLegLog::default()));
    let lead = log
        .context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Lead"))
        .map_or_else(|| n.to_string(), |(_, v)| v.clone());
    let agent = AgentPhoneAgent {
        line: phones.line.clone(),
        say_after_ms: 500,
        hangup_after_ms: talk_time(phones, &lead).map(|d| d.as_millis() as u64),
        clock: phones.clock,
        log: leg.clone(),
    };
    let record = phones
        .record_dir
        .as_ref()
        .map(|d| d.join(format!("agent-{n:05}.wav")));
    let opts = AnswerOptions {
        record: record.clone(),
        ..Default::default()
    };
    match call.answer(Box::new(agent), opts).await {
        Ok(report) => {
            log.result = "answered";
            log.ended_by = Some(report.ended_by);
            log.recording = record;
        }
        Err(e) => {
            log.result = "error";
            log.error = Some(error_chain(&e));
        }
    }
    log.leg = leg.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Some(log)
}
