//! `voxdial run --config voxdial.yaml`: the product as one long-running process.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use voxdial::service::agents::{ByCampaign, CampaignInfo, ScriptedFactory};
use voxdial::service::config::{self, Mode};
use voxdial::service::run::{self, AbandonAudio, RunOptions};
use voxdial::store::sqlite::SqliteStore;

/// `voxdial run` flags.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The service's configuration (see docs/run.md).
    #[arg(long)]
    pub config: PathBuf,
    /// Stop once no call is live and no lead is due now (a one-shot batch, tests).
    #[arg(long)]
    pub exit_when_idle: bool,
    /// Print the run's counters as one JSON object at the end.
    #[arg(long)]
    pub json: bool,
    #[cfg(feature = "speech")]
    #[command(flatten)]
    pub speech: super::speech_cmd::SpeechOpts,
}

/// Run the service until SIGTERM / Ctrl-C (drained) or, with --exit-when-idle, until
/// nothing is left to dial now.
pub fn run(root: &std::path::Path, a: RunArgs) -> Result<ExitCode> {
    // Secrets are read from the environment here, at the edge.
    let loaded = config::load(&a.config, &|var| std::env::var(var).ok())?;
    let db = loaded.path(&loaded.config.database);
    // One service per database, before anything reads or recovers its ledger; held
    // until the process ends.
    let _lock = voxdial::service::lock::RunLock::acquire(&db)?;
    let mut store = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let mut infos = Vec::new();
    for c in &loaded.config.campaigns {
        let row = voxdial::store::Store::campaign(&store, &c.name)?;
        infos.push((
            c,
            CampaignInfo {
                name: c.name.clone(),
                scenario: row.scenario,
                locale: c.locale,
                cpd: c.cpd,
            },
        ));
    }
    let mut factory = ByCampaign::default();
    #[cfg(feature = "speech")]
    let mut bot_factory = None;
    let bots: Vec<CampaignInfo> = infos
        .iter()
        .filter(|(c, _)| c.script.is_none() && c.mode == Mode::BotFirst)
        .map(|(_, i)| i.clone())
        .collect();
    for (c, _) in &infos {
        if let Some(s) = &c.script {
            factory.insert(&c.name, Arc::new(ScriptedFactory::new(s.clone())));
        }
    }
    if !bots.is_empty() {
        #[cfg(feature = "speech")]
        {
            let (cfg, models) = match &loaded.config.speech.config {
                Some(p) => (
                    voxdial::speech::config::SpeechConfig::load(&loaded.path(p))?,
                    loaded.path(&loaded.config.speech.data).join("models"),
                ),
                // The config's `speech.data` holds the models (docs/run.md), wherever
                // the service is started from.
                None => (
                    a.speech.load()?.0,
                    loaded.path(&loaded.config.speech.data).join("models"),
                ),
            };
            let cache = loaded
                .path(&loaded.config.speech.data)
                .join("cache/prompts");
            let bot = Arc::new(voxdial::service::agents::bot::BotFactory::load(
                root, &cfg, &models, &cache, &bots,
            )?);
            for b in &bots {
                factory.insert(&b.name, bot.clone());
            }
            bot_factory = Some(bot);
        }
        #[cfg(not(feature = "speech"))]
        {
            anyhow::bail!(
                "campaign {} needs the speech bot, and this voxdial is built without speech: give it a `script:` or build with the speech feature",
                bots[0].name
            );
        }
    }
    let abandon_audio = abandon_audio(&loaded, &store, &a)?;
    let rt = super::runtime()?;
    let report = rt.block_on(async {
        let (ua, queues) =
            voxdial::service::queues::bind(&loaded, super::media_runtime(), root).await?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            token.cancel();
        });
        tracing::info!(listen = %ua.local_addr(), "voxdial run: dialling");
        let metrics = Arc::new(voxdial::service::metrics::Metrics::default());
        if let Some(h) = &loaded.config.http {
            let state = voxdial::service::http::HttpState {
                metrics: metrics.clone(),
                queues: queues.handles.clone(),
            };
            let bound = voxdial::service::http::start(h.listen, state).await?;
            tracing::info!(listen = %bound, "operations endpoint: GET /healthz, /metrics");
        }
        let r = run::run(
            &loaded,
            &mut store,
            ua,
            Arc::new(factory),
            shutdown,
            RunOptions {
                exit_when_idle: a.exit_when_idle,
                queues: queues.handles,
                abandon_audio,
                metrics: Some(metrics),
            },
            Some(queues.records),
        )
        .await?;
        anyhow::Ok(r)
    })?;
    #[cfg(feature = "speech")]
    if let Some(bot) = &bot_factory {
        for (locale, load) in bot.load_stats() {
            tracing::info!(
                %locale,
                stats = %serde_json::to_string(&load)?,
                "speech load"
            );
        }
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        if report.recovered_interrupted > 0 {
            println!(
                "{} calls left in flight by an earlier run closed as interrupted",
                report.recovered_interrupted
            );
        }
        for (name, k) in &report.campaigns {
            println!(
                "campaign `{name}`: {} dials, {} answered, {} abandoned, {} transferred",
                k.dials, k.answered, k.abandoned, k.transferred
            );
            for (o, n) in &k.outcomes {
                println!("  {o:<20} {n:>6}");
            }
        }
        if report.drained {
            println!(
                "drained on shutdown ({} calls cut at the limit)",
                report.cut_at_drain
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Agent-first campaigns' abandon messages, voiced once with each campaign locale's TTS
/// voice (cached beside the phones' voices: same key, same clip) before the first dial.
fn abandon_audio(
    loaded: &config::Loaded,
    store: &SqliteStore,
    #[allow(unused_variables)] a: &RunArgs,
) -> Result<std::collections::BTreeMap<String, AbandonAudio>> {
    let texts = run::abandon_texts(loaded, store)?;
    #[cfg_attr(not(feature = "speech"), allow(unused_mut))]
    let mut out = std::collections::BTreeMap::new();
    if texts.is_empty() {
        return Ok(out);
    }
    #[cfg(feature = "speech")]
    {
        use voxdial::phone::voices::{self, Synthesizer};
        let (cfg, models, data) = match &loaded.config.speech.config {
            Some(p) => (
                voxdial::speech::config::SpeechConfig::load(&loaded.path(p))?,
                loaded.path(&loaded.config.speech.data).join("models"),
                loaded.path(&loaded.config.speech.data),
            ),
            None => {
                let (cfg, models) = a.speech.load()?;
                (cfg, models, a.speech.data.clone())
            }
        };
        let mut loaded_voices = Vec::new();
        for t in &texts {
            if !loaded_voices.iter().any(|(l, _)| *l == t.locale) {
                let voice = voxdial::speech::tts::Voice::load(cfg.tts_for(t.locale)?, &models)
                    .with_context(|| format!("loading the {} voice", t.locale))?;
                loaded_voices.push((t.locale, voice));
            }
        }
        let map: std::collections::BTreeMap<voxdial::Locale, &dyn Synthesizer> = loaded_voices
            .iter()
            .map(|(l, v)| (*l, v as &dyn Synthesizer))
            .collect();
        let pairs: Vec<_> = texts.iter().map(|t| (t.locale, t.spoken.clone())).collect();
        let clips = voices::prepare(&pairs, &map, &data.join("cache/announcements"))
            .context("voicing the abandon messages")?;
        for t in texts {
            if let Some(pcm) = clips.get(t.locale, &t.spoken) {
                out.insert(t.campaign, AbandonAudio(pcm));
            }
        }
        Ok(out)
    }
    #[cfg(not(feature = "speech"))]
    {
        anyhow::bail!(
            "campaign {} runs agent_first, whose abandon message needs a voice: build with the speech feature",
            texts[0].campaign
        )
    }
}

/// SIGTERM or Ctrl-C.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
