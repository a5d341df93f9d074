//! `voxdial call`: place one test call (for people checking a trunk, and for tests).

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use voxdial::sip::ua::{place_call, CallRequest};

/// Place one call and print its outcome.
#[derive(clap::Args, Debug)]
pub struct CallArgs {
    /// Who to call, e.g. sip:1001@127.0.0.1:5080.
    pub uri: String,
    /// Our identity (From).
    #[arg(long)]
    pub from: Option<String>,
    /// Local SIP address (UDP); RTP uses the same IP.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// Give up (CANCEL) after ringing this long.
    #[arg(long, default_value_t = 30.0)]
    pub ring_timeout_s: f64,
    /// Hang up once answered if the peer sends no RTP for this long (0: never).
    #[arg(long, default_value_t = 60.0)]
    pub media_timeout_s: f64,
    /// WAV to play once answered (16-bit PCM, any rate).
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// Record both sides into this stereo WAV (left customer, right us).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Blind-transfer the call (REFER) to this URI.
    #[arg(long)]
    pub refer_to: Option<String>,
    /// Attended transfer: call this agent first, then REFER the customer with Replaces
    /// (to --refer-to if given, else to the agent's Contact).
    #[arg(long)]
    pub consult: Option<String>,
    /// WAV the bot plays to the customer when a transfer fails and it takes the call back.
    #[arg(long)]
    pub on_transfer_fail: Option<PathBuf>,
    /// Do not bridge (call the target and relay media) when the customer refuses REFER.
    #[arg(long)]
    pub no_bridge: bool,
    /// Seconds after answer to send the REFER.
    #[arg(long, default_value_t = 1.0)]
    pub refer_after_s: f64,
    /// Seconds to wait for the transfer's final NOTIFY.
    #[arg(long, default_value_t = 30.0)]
    pub transfer_timeout_s: f64,
    /// Put the customer on hold (re-INVITE a=sendonly) this long after answer.
    #[arg(long)]
    pub hold_after_s: Option<f64>,
    /// How long the hold lasts before the resuming re-INVITE.
    #[arg(long, default_value_t = 2.0)]
    pub hold_for_s: f64,
    /// Hang up this long after answer.
    #[arg(long)]
    pub hangup_after_s: Option<f64>,
    /// Send these DTMF keys after answer (RFC 4733).
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Transfer context key=value for the agent console (X-Voxdial-KEY headers).
    #[arg(long = "context", value_parser = parse_kv)]
    pub context: Vec<(String, String)>,
    /// Seed for RTP SSRC/sequence starts (reproducible captures).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Digest user, for a trunk that challenges INVITEs.
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the digest password (kept out of the command line).
    #[arg(long, default_value = "VOXDIAL_SIP_PASSWORD")]
    pub password_env: String,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Let the speech bot hold this scenario's conversation once the call is answered
    /// (ASR, NLU, TTS over the call's RTP); `--refer-to`/`--consult` is then the human
    /// queue it transfers to.
    #[cfg(feature = "speech")]
    #[arg(long)]
    pub scenario: Option<String>,
    /// Conversation locale (with --scenario).
    #[cfg(feature = "speech")]
    #[arg(long, default_value = "en-US")]
    pub locale: voxdial::Locale,
    /// Campaign variable `name=value` (repeatable; with --scenario): defaults to the
    /// scenario's examples.
    #[cfg(feature = "speech")]
    #[arg(long = "var", value_parser = super::parse_kv)]
    pub vars: Vec<(String, String)>,
    /// Date of the call for the conversation (YYYY-MM-DD; default today).
    #[cfg(feature = "speech")]
    #[arg(long)]
    pub today: Option<chrono::NaiveDate>,
    /// No call-progress detection (answering machines, carrier announcements, fax) after
    /// the answer.
    #[cfg(feature = "speech")]
    #[arg(long)]
    pub no_cpd: bool,
    /// How long after the answer call-progress detection listens.
    #[cfg(feature = "speech")]
    #[arg(long, default_value_t = 6.0)]
    pub cpd_window_s: f64,
    #[cfg(feature = "speech")]
    #[command(flatten)]
    pub speech: super::speech_cmd::SpeechOpts,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))?;
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("{k:?}: header names are letters, digits and '-'"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn secs(s: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("--{what} {s}: not a duration"))
}

/// Run the command; exit 0 when the call was answered, 1 otherwise.
pub fn run(root: &std::path::Path, a: CallArgs) -> Result<ExitCode> {
    #[cfg(feature = "speech")]
    let bot = match &a.scenario {
        Some(id) => Some(bot_for(root, id, &a)?),
        None => None,
    };
    #[cfg(not(feature = "speech"))]
    let _ = root;
    let req = CallRequest {
        to: a.uri,
        from: a.from,
        bind: a.bind,
        ring_timeout: secs(a.ring_timeout_s, "ring-timeout-s")?,
        media_timeout: (a.media_timeout_s != 0.0)
            .then(|| secs(a.media_timeout_s, "media-timeout-s"))
            .transpose()?,
        play: a.play,
        record: a.record,
        refer_to: a.refer_to,
        refer_after: secs(a.refer_after_s, "refer-after-s")?,
        transfer_timeout: secs(a.transfer_timeout_s, "transfer-timeout-s")?,
        hangup_after: a
            .hangup_after_s
            .map(|s| secs(s, "hangup-after-s"))
            .transpose()?,
        dtmf: a.dtmf,
        context: a.context,
        seed: a.seed,
        consult: a.consult,
        bridge_fallback: !a.no_bridge,
        on_transfer_fail: a.on_transfer_fail,
        campaign: None,
        lead_id: None,
        invite_headers: vec![],
        withdraw: None,
        hold: match a.hold_after_s {
            Some(h) => Some((secs(h, "hold-after-s")?, secs(a.hold_for_s, "hold-for-s")?)),
            None => None,
        },
        auth: match a.user {
            Some(u) => {
                let p = std::env::var(&a.password_env).with_context(|| {
                    format!("--user {u} needs the password in ${}", a.password_env)
                })?;
                Some((u, p))
            }
            None => None,
        },
    };
    let rt = super::runtime()?;
    #[cfg(feature = "speech")]
    let report = match bot {
        Some(b) => rt.block_on(voxdial::sip::ua::place_call_with(
            req,
            Box::new(b),
            super::media_runtime(),
        ))?,
        None => rt.block_on(place_call(req, super::media_runtime()))?,
    };
    #[cfg(not(feature = "speech"))]
    let report = rt.block_on(place_call(req, super::media_runtime()))?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} {} ({}), answered: {}, {:.1} s",
            report.sip_code.map_or("---".into(), |c| c.to_string()),
            report.reason,
            serde_json::to_string(&report.outcome)?.trim_matches('"'),
            report.answered,
            report.duration_s
        );
        if let Some(agent) = &report.agent {
            print_agent(agent);
        }
        if let Some(t) = &report.transfer {
            println!(
                "transfer to {}: {}",
                t.target,
                serde_json::to_string(&t.result)?
            );
        }
    }
    Ok(if report.answered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Load the locale's models and the scenario, warm its prompts, and make the call's bot:
/// all before dialling, so the customer never waits on a model load.
#[cfg(feature = "speech")]
fn bot_for(
    root: &std::path::Path,
    scenario: &str,
    a: &CallArgs,
) -> Result<voxdial::bot::agent::BotAgent> {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let (lib, diags) = voxdial::scenario::library::Library::load_project(root, &[]);
    if lib.flow(scenario).is_none() {
        for d in diags.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
        anyhow::bail!(
            "no scenario `{scenario}` under {} (run `voxdial scenario check`)",
            root.display()
        );
    }
    super::scenario_cmd::warn_unloaded(&diags);
    let (cfg, models) = a.speech.load()?;
    let res = voxdial::service::agents::bot::load_resources(
        &cfg,
        &models,
        root,
        &a.speech.data.join("cache/prompts"),
        a.locale,
        &lib,
        &[scenario],
    )?;
    let vars: BTreeMap<String, String> = a.vars.iter().cloned().collect();
    let vars = voxdial::dialogue::engine::with_examples(&lib, scenario, &vars);
    let window_ms = (secs(a.cpd_window_s, "cpd-window-s")?.as_millis()) as u64;
    voxdial::service::agents::bot::call_bot(
        &res,
        Arc::new(lib),
        scenario,
        a.locale,
        super::today_or_now(a.today),
        &vars,
        !a.no_cpd,
        window_ms,
    )
    .map_err(anyhow::Error::from_boxed)
}

/// The bot's side of the call, for people (the JSON report has all of it).
fn print_agent(agent: &serde_json::Value) {
    if let Some(lines) = agent.get("transcript").and_then(|t| t.as_array()) {
        for l in lines {
            let at = l.get("at_ms").and_then(|v| v.as_u64()).unwrap_or(0) as f64 / 1e3;
            match l.get("who").and_then(|v| v.as_str()) {
                Some("bot") => println!(
                    "{at:6.1} s  bot       {}",
                    l.get("prompt_id").and_then(|v| v.as_str()).unwrap_or("")
                ),
                _ => println!(
                    "{at:6.1} s  customer  {}",
                    l.get("text").and_then(|v| v.as_str()).unwrap_or("")
                ),
            }
        }
    }
    if let Some(e) = agent.get("early_media") {
        println!(
            "call progress on early media: {} (heard: {})",
            e.get("cpd_outcome").and_then(|v| v.as_str()).unwrap_or("?"),
            e.get("heard")
                .and_then(|v| v.as_array())
                .map(|a| a
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" / "))
                .unwrap_or_default()
        );
    }
    if let Some(o) = agent.get("cpd_outcome").and_then(|v| v.as_str()) {
        println!("call progress: {o}");
    }
    if let Some(o) = agent.get("outcome").and_then(|v| v.as_str()) {
        println!("conversation outcome: {o}");
    }
}
