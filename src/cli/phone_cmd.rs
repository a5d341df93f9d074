//! `voxdial phone customers` and `voxdial phone agents`: synthetic phones on 127.0.0.1
//! for tests, the demo and load runs. Each prints one JSON line when it is listening,
//! then one per finished call (numbers masked), until SIGINT or SIGTERM.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use voxdial::phone::driver::{serve_agents, serve_customers, AgentPhones, CustomerPhones};
use voxdial::phone::persona::Personas;
use voxdial::phone::voices::{self, Clips, Synthesizer, ToneVoice};
use voxdial::sip::ua::{InboundRoutes, SipUa};
use voxdial::time::MonotonicClock;
use voxdial::Locale;

/// The synthetic phones.
#[derive(clap::Subcommand, Debug)]
pub enum PhoneCmd {
    /// Customers: answer the dialer's calls per a personas file and talk like people.
    Customers(CustomersArgs),
    /// A human agent's phone: register, answer transferred calls, say a line, record.
    Agents(AgentsArgs),
}

/// Which voice speaks the phones' lines.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum VoiceKind {
    /// The locale's TTS voice (voices/speech.yaml), synthesized once into the cache.
    Tts,
    /// Syllable-like tone bursts: heard as speech, understood as nothing; no model.
    Tone,
}

/// Where the phones' voices come from.
#[derive(clap::Args, Debug, Clone)]
pub struct VoiceOpts {
    /// The voice of the lines.
    #[arg(long, value_enum, default_value = "tts")]
    pub voice: VoiceKind,
    /// Folder of synthesized lines (default: DATA/cache/phone-voices).
    #[arg(long)]
    pub voice_cache: Option<PathBuf>,
    /// Data folder (models in DATA/models).
    #[arg(long, default_value = "data", env = "VOXDIAL_DATA")]
    pub data: PathBuf,
    /// Speech config (default: the shipped voices/speech.yaml).
    #[arg(long, env = "VOXDIAL_SPEECH_CONFIG")]
    pub speech_config: Option<PathBuf>,
}

/// `voxdial phone customers` arguments.
#[derive(clap::Args, Debug)]
pub struct CustomersArgs {
    /// The personas file (demo/personas.yaml).
    #[arg(long)]
    pub personas: PathBuf,
    /// SIP address (UDP and TCP) the customers answer on.
    #[arg(long, default_value = "127.0.0.1:5090")]
    pub listen: SocketAddr,
    /// Seed of the persona draw: the same seed, the same population.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write one JSON log per call here.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    #[command(flatten)]
    pub voice: VoiceOpts,
}

/// `voxdial phone agents` arguments.
#[derive(clap::Args, Debug)]
pub struct AgentsArgs {
    /// Register here (`sip:host:port`); without it the phone only answers calls sent to
    /// `--listen`.
    #[arg(long)]
    pub registrar: Option<String>,
    /// The agent's SIP user.
    #[arg(long)]
    pub agent: String,
    /// Environment variable holding the agent's SIP password (needed with --registrar).
    #[arg(long)]
    pub password_env: Option<String>,
    /// SIP address the phone listens on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seconds of ringing before answering.
    #[arg(long, default_value_t = 2.0)]
    pub answer_after_s: f64,
    /// What the agent says after answering.
    #[arg(long)]
    pub say: Option<String>,
    /// The language of `--say`.
    #[arg(long, default_value = "en-US")]
    pub locale: Locale,
    /// Hang up this many seconds after answering (default: wait for the caller).
    #[arg(long)]
    pub hangup_after_s: Option<f64>,
    /// With --hangup-after-s, hang up between it and this many seconds instead, a draw
    /// per customer (their X-Voxdial-Lead) and --seed: the same talk times every run.
    #[arg(long)]
    pub hangup_max_s: Option<f64>,
    /// Seed of the talk-time draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Record each call (stereo WAV) here.
    #[arg(long)]
    pub record_dir: Option<PathBuf>,
    /// Write one JSON log per call here.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Seconds between registrations.
    #[arg(long, default_value_t = 300)]
    pub expires_s: u32,
    #[command(flatten)]
    pub voice: VoiceOpts,
}

/// Run a phone command until SIGINT or SIGTERM.
pub fn run(cmd: PhoneCmd) -> Result<ExitCode> {
    match cmd {
        PhoneCmd::Customers(a) => customers(a),
        PhoneCmd::Agents(a) => agents(a),
    }
}

fn seconds(v: f64, what: &str) -> Result<Duration> {
    if !(v.is_finite() && (0.0..=86_400.0).contains(&v)) {
        bail!("--{what} must be between 0 and 86400 seconds, not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

/// Synthesize (or find in the cache) every text, before any call.
fn make_clips(texts: &[(Locale, String)], v: &VoiceOpts) -> Result<Clips> {
    let cache = v
        .voice_cache
        .clone()
        .unwrap_or_else(|| v.data.join("cache/phone-voices"));
    let locales: std::collections::BTreeSet<Locale> = texts.iter().map(|(l, _)| *l).collect();
    match v.voice {
        VoiceKind::Tone => {
            let tone = ToneVoice;
            let map: BTreeMap<Locale, &dyn Synthesizer> = locales
                .iter()
                .map(|l| (*l, &tone as &dyn Synthesizer))
                .collect();
            Ok(voices::prepare(texts, &map, &cache)?)
        }
        #[cfg(feature = "speech")]
        VoiceKind::Tts => {
            use voxdial::speech::config::SpeechConfig;
            let cfg = match &v.speech_config {
                Some(p) => SpeechConfig::load(p)?,
                None => SpeechConfig::default_config()?,
            };
            let models = v.data.join("models");
            let mut loaded = Vec::new();
            for l in &locales {
                let voice = voxdial::speech::tts::Voice::load(cfg.tts_for(*l)?, &models)
                    .with_context(|| format!("loading the {l} voice"))?;
                loaded.push((*l, voice));
            }
            let map: BTreeMap<Locale, &dyn Synthesizer> = loaded
                .iter()
                .map(|(l, v)| (*l, v as &dyn Synthesizer))
                .collect();
            Ok(voices::prepare(texts, &map, &cache)?)
        }
        #[cfg(not(feature = "speech"))]
        VoiceKind::Tts => {
            bail!("this build has no speech feature, so no TTS voice: use --voice tone")
        }
    }
}

fn print_line(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the test or demo that started us has gone) is no reason to stop.
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Wait for SIGINT or SIGTERM.
async fn stopped() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn customers(a: CustomersArgs) -> Result<ExitCode> {
    let personas = Personas::load(&a.personas)?;
    let clips = make_clips(&personas.texts(), &a.voice)?;
    if let Some(d) = &a.log_dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let rt = super::runtime()?;
    rt.block_on(async move {
        let (invite_tx, invite_rx) = tokio::sync::mpsc::unbounded_channel();
        let ua = SipUa::bind_with(
            a.listen,
            super::media_runtime(),
            InboundRoutes {
                invite: Some(invite_tx),
                register: None,
            },
        )
        .await?;
        let ua = Arc::new(ua);
        let n_personas = personas.file().personas.len();
        let phones = Arc::new(CustomerPhones {
            personas,
            clips,
            seed: a.seed,
            log_dir: a.log_dir.clone(),
            clock: MonotonicClock::new(),
        });
        print_line(&serde_json::json!({
            "listening": ua.local_addr().to_string(),
            "personas": n_personas,
            "clips": phones.clips.len(),
        }));
        let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(serve_customers(ua.clone(), invite_rx, phones, log_tx));
        let stop = stopped();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = &mut stop => break r,
                Some(v) = log_rx.recv() => print_line(&v),
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn agents(a: AgentsArgs) -> Result<ExitCode> {
    let password = match (&a.registrar, &a.password_env) {
        (Some(_), None) => bail!("--registrar needs --password-env VAR (the agent's password)"),
        (Some(_), Some(var)) => match std::env::var(var) {
            Ok(p) if !p.is_empty() => Some(p),
            _ => bail!("environment variable {var} (--password-env) is not set or empty"),
        },
        (None, _) => None,
    };
    if let Some(r) = &a.registrar {
        voxdial::sip::ua::check_uri(r).context("--registrar")?;
    }
    let answer_after = seconds(a.answer_after_s, "answer-after-s")?;
    let hangup_after = a
        .hangup_after_s
        .map(|s| seconds(s, "hangup-after-s"))
        .transpose()?;
    let hangup_max = a
        .hangup_max_s
        .map(|s| seconds(s, "hangup-max-s"))
        .transpose()?;
    if hangup_max.is_some() && hangup_after.is_none_or(|h| Some(h) > hangup_max) {
        bail!("--hangup-max-s needs --hangup-after-s, at most as long");
    }
    let line = match &a.say {
        Some(text) if !text.trim().is_empty() => {
            let clips = make_clips(&[(a.locale, text.clone())], &a.voice)?;
            clips.get(a.locale, text).map(|c| (text.clone(), c))
        }
        Some(_) => bail!("--say is empty"),
        None => None,
    };
    for d in [&a.record_dir, &a.log_dir].into_iter().flatten() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let rt = super::runtime()?;
    rt.block_on(async move {
        let (invite_tx, invite_rx) = tokio::sync::mpsc::unbounded_channel();
        let ua = SipUa::bind_with(
            a.listen,
            super::media_runtime(),
            InboundRoutes {
                invite: Some(invite_tx),
                register: None,
            },
        )
        .await?;
        let ua = Arc::new(ua);
        if let (Some(registrar), Some(pw)) = (&a.registrar, &password) {
            let code = ua
                .register(registrar, &a.agent, pw, a.expires_s)
                .await
                .with_context(|| format!("registering {} at {registrar}", a.agent))?;
            if code != 200 {
                bail!("{registrar} answered {code} to the REGISTER of {}", a.agent);
            }
            // Stay registered: renew at half the expiry.
            let (ua2, registrar, agent, pw) =
                (ua.clone(), registrar.clone(), a.agent.clone(), pw.clone());
            let every = Duration::from_secs(u64::from(a.expires_s.max(2) / 2));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match ua2.register(&registrar, &agent, &pw, a.expires_s).await {
                        Ok(200) => {}
                        Ok(code) => tracing::warn!(code, "re-REGISTER refused"),
                        Err(e) => tracing::warn!(error = %e, "re-REGISTER failed"),
                    }
                }
            });
        }
        let phones = Arc::new(AgentPhones {
            agent: a.agent.clone(),
            line,
            answer_after,
            hangup_after,
            hangup_max,
            seed: a.seed,
            record_dir: a.record_dir.clone(),
            log_dir: a.log_dir.clone(),
            clock: MonotonicClock::new(),
        });
        print_line(&serde_json::json!({
            "listening": ua.local_addr().to_string(),
            "agent": a.agent,
            "registered": a.registrar.is_some(),
        }));
        let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(serve_agents(ua.clone(), invite_rx, phones, log_tx));
        let stop = stopped();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = &mut stop => break r,
                Some(v) = log_rx.recv() => print_line(&v),
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
