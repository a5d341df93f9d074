//! `voxdial trunk check`: is each configured trunk reachable (OPTIONS) and, when it is a
//! registration trunk, does it accept our credentials (REGISTER with digest)?

use anyhow::{Context, Result};
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
}

/// Run a trunk command; exit 1 when a trunk failed its check.
pub fn run(cmd: TrunkCmd) -> Result<ExitCode> {
    let TrunkCmd::Check { file, name, bind } = cmd;
    let f = trunk::load(&file)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let ua = SipUa::bind(bind).await?;
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
