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
pub fn run(a: CallArgs) -> Result<ExitCode> {
    let req = CallRequest {
        to: a.uri,
        from: a.from,
        bind: a.bind,
        ring_timeout: secs(a.ring_timeout_s, "ring-timeout-s")?,
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
    let report = rt.block_on(place_call(req))?;
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
