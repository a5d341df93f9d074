//! `voxdial trunk check`: is each configured trunk reachable (OPTIONS) and, when it is a
//! registration trunk, does it accept our credentials (REGISTER with digest)?

use anyhow::Result;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use voxdial::sip::trunk;
use voxdial::sip::ua::SipUa;

/// Trunk commands.
#[derive(clap::Subcommand, Debug)]
pub enum TrunkCmd {
    /// Ping every trunk (OPTIONS) and register where configured; prints one JSON line each.
    Check {
        /// The trunks file (YAML).
        file: PathBuf,
        /// Only this trunk.
        #[arg(long)]
        name: Option<String>,
        /// Local SIP address.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
    },
    /// Keep trunks alive: OPTIONS every `options_interval_s` and REGISTER refreshed at
    /// 3/4 of the expiry, printing a JSON line on every result, until stopped (or for
    /// `--for-s`).
    Watch {
        /// The trunks file (YAML).
        file: PathBuf,
        /// Local SIP address.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Stop after this many seconds (default: run until killed).
        #[arg(long)]
        for_s: Option<f64>,
    },
}

/// Run a trunk command; exit 1 when a trunk failed its check.
pub fn run(cmd: TrunkCmd) -> Result<ExitCode> {
    let (file, name, bind) = match cmd {
        TrunkCmd::Check { file, name, bind } => (file, name, bind),
        TrunkCmd::Watch { file, bind, for_s } => return watch(file, bind, for_s),
    };
    let f = trunk::load(&file)?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let ua = SipUa::bind(bind, super::media_runtime()).await?;
        let mut all_ok = true;
        for t in f
            .trunks
            .iter()
            .filter(|t| name.as_ref().is_none_or(|n| *n == t.name))
        {
            let target = format!("sip:{}", t.proxy);
            let options = ua.options(&target).await?;
            let register = if t.register {
                let (Some(u), Some(p)) = (t.username.as_ref(), t.password()) else {
                    anyhow::bail!("trunk {}: register needs username and password", t.name);
                };
                Some(ua.register(&target, u, &p, t.expires_s).await?)
            } else {
                None
            };
            let ok = options.is_some_and(|c| c < 500) && register.is_none_or(|c| c / 100 == 2);
            all_ok &= ok;
            println!(
                "{}",
                serde_json::json!({
                    "trunk": t.name, "ok": ok, "options": options, "register": register,
                    "channels": t.channels, "cps": t.cps,
                })
            );
        }
        Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn watch(file: PathBuf, bind: SocketAddr, for_s: Option<f64>) -> Result<ExitCode> {
    let f = trunk::load(&file)?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let ua = std::sync::Arc::new(SipUa::bind(bind, super::media_runtime()).await?);
        let mut tasks = vec![];
        for t in f.trunks {
            let ua = ua.clone();
            tasks.push(tokio::spawn(async move {
                let target = format!("sip:{}", t.proxy);
                let options_every = std::time::Duration::from_secs(t.options_interval_s.max(1));
                let register_every =
                    std::time::Duration::from_secs(u64::from(t.expires_s.max(4)) * 3 / 4);
                let mut next_options = tokio::time::Instant::now();
                let mut next_register = tokio::time::Instant::now();
                loop {
                    let now = tokio::time::Instant::now();
                    if t.options_interval_s > 0 && now >= next_options {
                        let r = ua.options(&target).await;
                        println!(
                            "{}",
                            serde_json::json!({"trunk": t.name, "options": r.as_ref().ok().copied().flatten(),
                                "error": r.as_ref().err().map(|e| e.to_string())})
                        );
                        next_options = now + options_every;
                    }
                    if t.register && now >= next_register {
                        if let (Some(u), Some(p)) = (t.username.as_ref(), t.password()) {
                            let r = ua.register(&target, u, &p, t.expires_s).await;
                            println!(
                                "{}",
                                serde_json::json!({"trunk": t.name, "register": r.as_ref().ok(),
                                    "error": r.as_ref().err().map(|e| e.to_string())})
                            );
                        }
                        next_register = now + register_every;
                    }
                    let wake = if t.register {
                        next_options.min(next_register)
                    } else {
                        next_options
                    };
                    tokio::time::sleep_until(wake).await;
                }
            }));
        }
        match for_s {
            Some(s) => {
                tokio::time::sleep(std::time::Duration::try_from_secs_f64(s).unwrap_or_default()).await
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        for t in tasks {
            t.abort();
        }
        Ok(ExitCode::SUCCESS)
    })
}
