//! SIP trunks: where calls go, with which credentials, and how many at once. The admission
//! gate (channels in use, calls per second) is sans-IO: the dialer asks it with the time
//! before every INVITE, so a carrier's limits are never exceeded and tests need no clock.

use crate::time::Millis;
use crate::yaml::{line_of, YamlError};
use serde::Deserialize;
use std::path::Path;

/// One carrier or PBX trunk, as configured in `trunks.yaml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name used in campaigns and logs.
    pub name: String,
    /// The trunk's SIP address (`host:port`); INVITEs are sent there.
    pub proxy: String,
    /// The domain in request URIs (`sip:<number>@domain`); defaults to the proxy host.
    #[serde(default)]
    pub domain: Option<String>,
    /// Digest user (REGISTER and 401/407 challenges).
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password. Prefer `password_env` so secrets stay out of files.
    #[serde(default)]
    pub password: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Register with the trunk (registration-based trunks); IP-authenticated trunks don't.
    #[serde(default)]
    pub register: bool,
    /// Registration expiry asked for, in seconds.
    #[serde(default = "default_expires")]
    pub expires_s: u32,
    /// Concurrent calls the carrier allows.
    pub channels: u32,
    /// New calls per second the carrier allows.
    pub cps: f64,
    /// OPTIONS keepalive period in seconds (0: off).
    #[serde(default = "default_options")]
    pub options_interval_s: u64,
}

fn default_expires() -> u32 {
    300
}

fn default_options() -> u64 {
    30
}

/// The trunks file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunksFile {
    /// The trunks, in preference order.
    pub trunks: Vec<TrunkConfig>,
}

/// A trunks file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrunkError {
    /// The file cannot be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// YAML or a field is wrong, with its place.
    #[error(transparent)]
    Invalid(#[from] YamlError),
}

impl TrunkConfig {
    /// The password, from the file or the environment.
    pub fn password(&self) -> Option<String> {
        self.password_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
            .or_else(|| self.password.clone())
    }

    /// The request URI for a number on this trunk.
    pub fn uri_for(&self, number: &str) -> String {
        let domain = self.domain.clone().unwrap_or_else(|| self.proxy.clone());
        format!("sip:{number}@{domain}")
    }
}

/// Read and check a trunks file.
pub fn load(path: &Path) -> Result<TrunksFile, TrunkError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TrunkError::Io {
        path: p.clone(),
        source,
    })?;
    parse(&text, &p)
}

/// Parse a trunks file's text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<TrunksFile, TrunkError> {
    let f: TrunksFile = crate::yaml::parse(text, path)?;
    for (i, t) in f.trunks.iter().enumerate() {
        let bad = |why: String| {
            TrunkError::Invalid(YamlError::at(
                path,
                line_of(text, &t.name).unwrap_or(1),
                1,
                format!("trunk {} ({}): {why}", i + 1, t.name),
            ))
        };
        if t.channels == 0 {
            return Err(bad("channels must be at least 1".into()));
        }
        if !(t.cps > 0.0 && t.cps.is_finite()) {
            return Err(bad(format!("cps must be a positive number, not {}", t.cps)));
        }
        if t.proxy.parse::<std::net::SocketAddr>().is_err() && !t.proxy.contains('.') {
            return Err(bad(format!("proxy {:?} is not host:port", t.proxy)));
        }
        if t.register && (t.username.is_none() || t.password().is_none()) {
            return Err(bad(
                "register: true needs username and password (or password_env)".into(),
            ));
        }
    }
    Ok(f)
}

/// Why a call may not start on the trunk now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "refused")]
pub enum Refusal {
    /// Every channel is busy.
    ChannelsFull,
    /// The calls-per-second budget is spent; try again after this long.
    Cps {
        /// Wait before the next call may start.
        retry_after_ms: u64,
    },
}

/// Admission control for one trunk: channels and calls per second (a token bucket with a
/// burst of one second's worth, so a pacer's burst is smoothed to the carrier's rate).
#[derive(Clone, Debug)]
pub struct TrunkGate {
    channels: u32,
    in_use: u32,
    cps: f64,
    tokens: f64,
    at: Millis,
}

impl TrunkGate {
    /// A gate for `channels` concurrent calls and `cps` new calls per second.
    pub fn new(channels: u32, cps: f64) -> Self {
        TrunkGate {
            channels,
            in_use: 0,
            cps,
            tokens: cps.max(1.0),
            at: Millis::ZERO,
        }
    }

    /// Calls in progress.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Ask to start a call at `now`; on success a channel is taken until `release`.
    pub fn try_start(&mut self, now: Millis) -> Result<(), Refusal> {
        let burst = self.cps.max(1.0);
        self.tokens = (self.tokens + now.since(self.at).as_secs_f64() * self.cps).min(burst);
        self.at = now;
        if self.in_use >= self.channels {
            return Err(Refusal::ChannelsFull);
        }
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.cps;
            return Err(Refusal::Cps {
                retry_after_ms: (wait * 1000.0).ceil() as u64,
            });
        }
        self.tokens -= 1.0;
        self.in_use += 1;
        Ok(())
    }

    /// A call on this trunk ended.
    pub fn release(&mut self) {
        self.in_use = self.in_use.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Millis {
        Millis(n)
    }

    #[test]
    fn channels_and_cps_are_both_enforced() {
        let mut g = TrunkGate::new(3, 2.0);
        assert_eq!(g.try_start(ms(0)), Ok(()));
        assert_eq!(g.try_start(ms(0)), Ok(()));
        // Burst of 2 spent: the third waits half a second.
        assert_eq!(
            g.try_start(ms(0)),
            Err(Refusal::Cps {
                retry_after_ms: 500
            })
        );
        assert_eq!(g.try_start(ms(500)), Ok(()));
        assert_eq!(g.try_start(ms(5000)), Err(Refusal::ChannelsFull));
        g.release();
        assert_eq!(g.try_start(ms(5000)), Ok(()));
        assert_eq!(g.in_use(), 3);
    }

    #[test]
    fn a_long_run_never_exceeds_the_rate() {
        let mut g = TrunkGate::new(1000, 10.0);
        let mut started = 0;
        for t in 0..60_000u64 {
            while g.try_start(ms(t)).is_ok() {
                started += 1;
            }
        }
        // 60 s at 10 cps plus the initial burst of 10.
        assert!(started <= 610, "{started}");
        assert!(started >= 599, "{started}");
    }

    #[test]
    fn trunk_files_are_checked_with_positions() {
        let ok = "trunks:\n  - name: carrier-a\n    proxy: 127.0.0.1:5060\n    channels: 30\n    cps: 5\n";
        let f = parse(ok, "t.yaml").expect("valid");
        assert_eq!(
            f.trunks[0].uri_for("13800138000"),
            "sip:13800138000@127.0.0.1:5060"
        );
        let typo = "trunks:\n  - name: a\n    proxy: 127.0.0.1:5060\n    chanels: 30\n    cps: 5\n";
        let e = parse(typo, "t.yaml").expect_err("typo").to_string();
        assert!(e.starts_with("t.yaml:4:"), "{e}");
        let zero = "trunks:\n  - name: b\n    proxy: 127.0.0.1:5060\n    channels: 0\n    cps: 5\n";
        let e = parse(zero, "t.yaml").expect_err("zero").to_string();
        assert!(
            e.contains("channels must be at least 1") && e.starts_with("t.yaml:2:"),
            "{e}"
        );
        let reg = "trunks:\n  - name: c\n    proxy: 127.0.0.1:5060\n    channels: 1\n    cps: 1\n    register: true\n";
        assert!(parse(reg, "t.yaml")
            .expect_err("no creds")
            .to_string()
            .contains("username"));
    }
}
