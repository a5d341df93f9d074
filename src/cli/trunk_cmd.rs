//! `voxdial trunk check`: is each configured trunk reachable (OPTIONS) and, when it is a
//! registration trunk, does it accept our credentials (REGISTER with digest)?

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use voxdial::sip::trunk::{self, TrunkConfig};
use voxdial::sip::ua::{SipUa, UaError};

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
        /// Seconds to wait for each answer (OPTIONS, REGISTER) before calling the proxy
        /// unreachable; a port the OS reports closed fails at once.
        #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
        timeout_s: f64,
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

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 300.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 300"
        )),
    }
}

/// The credentials of every registration trunk among `trunks`, checked before anything is
/// sent: a missing password is an error naming its environment variable, not a wait.
fn credentials<'a>(
    trunks: impl Iterator<Item = &'a TrunkConfig>,
) -> Result<HashMap<String, (String, String)>> {
    let mut creds = HashMap::new();
    for t in trunks.filter(|t| t.register) {
        let user = t
            .username
            .clone()
            .with_context(|| format!("trunk {}: register: true needs a username", t.name))?;
        creds.insert(t.name.clone(), (user, t.password()?));
    }
    Ok(creds)
}

/// Wait for one request's answer for at most `wait`, failing at once when the OS reports
/// the proxy's port unreachable; saying on stderr what is being waited for.
async fn ask<T>(
    trunk: &str,
    what: &str,
    local: IpAddr,
    proxy: SocketAddr,
    wait: Duration,
    request: impl std::future::Future<Output = Result<T, UaError>>,
) -> Result<T, String> {
    eprintln!(
        "trunk {trunk}: {what} sent to {proxy}, waiting up to {}",
        seconds(wait)
    );
    tokio::select! {
        r = tokio::time::timeout(wait, request) => match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{what} to {proxy} failed: {e}")),
            Err(_) => Err(format!("no answer from {proxy} to {what} after {}", seconds(wait))),
        },
        e = trunk::port_unreachable(local, proxy) => {
            Err(format!("{proxy} is unreachable: nothing listens on that port ({e})"))
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Run a trunk command; exit 1 when a trunk failed its check.
pub fn run(cmd: TrunkCmd) -> Result<ExitCode> {
    let (file, name, bind, timeout_s) = match cmd {
        TrunkCmd::Check {
            file,
            name,
            bind,
            timeout_s,
        } => (file, name, bind, timeout_s),
        TrunkCmd::Watch { file, bind, for_s } => return watch(file, bind, for_s),
    };
    let f = trunk::load(&file)?;
    let chosen: Vec<TrunkConfig> = f
        .trunks
        .into_iter()
        .filter(|t| name.as_ref().is_none_or(|n| *n == t.name))
        .collect();
    if let Some(n) = name.as_ref().filter(|_| chosen.is_empty()) {
        anyhow::bail!("{}: no trunk named {n}", file.display());
    }
    let creds = credentials(chosen.iter())?;
    let wait = Duration::from_secs_f64(timeout_s);
    let rt = super::runtime()?;
    rt.block_on(async move {
        let ua = SipUa::bind(bind, super::media_runtime()).await?;
        let local = ua.local_addr().ip();
        let mut all_ok = true;
        for t in &chosen {
            let target = format!("sip:{}", t.proxy);
            let proxy = t.proxy_addr().await?;
            let options = ask(&t.name, "OPTIONS", local, proxy, wait, ua.options(&target)).await;
            let register = match (&options, creds.get(&t.name)) {
                (Ok(_), Some((u, p))) => {
                    let req = ua.register(&target, u, p, t.expires_s);
                    Some(ask(&t.name, "REGISTER", local, proxy, wait, req).await)
                }
                _ => None,
            };
            let options_code = options.as_ref().ok().copied().flatten();
            let register_code = register.as_ref().and_then(|r| r.as_ref().ok().copied());
            let error = options
                .as_ref()
                .err()
                .or_else(|| register.as_ref().and_then(|r| r.as_ref().err()));
            let ok = options_code.is_some_and(|c| c < 500)
                && (!t.register || register_code.is_some_and(|c| c / 100 == 2));
            all_ok &= ok;
            if let Some(e) = error {
                eprintln!("trunk {}: {e}", t.name);
            }
            println!(
                "{}",
                serde_json::json!({
                    "trunk": t.name, "ok": ok, "options": options_code, "register": register_code,
                    "channels": t.channels, "cps": t.cps, "error": error,
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
    let creds = credentials(f.trunks.iter())?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let ua = std::sync::Arc::new(SipUa::bind(bind, super::media_runtime()).await?);
        let mut tasks = vec![];
        for t in f.trunks {
            let ua = ua.clone();
            let cred = creds.get(&t.name).cloned();
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
                        if let Some((u, p)) = cred.as_ref() {
                            let r = ua.register(&target, u, p, t.expires_s).await;
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
