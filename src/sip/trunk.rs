//! SIP trunks: where calls go, with which credentials, and how many at once. The admission
//! gate (channels in use, calls per second) is sans-IO: the dialer asks it with the time
//! before every INVITE, so a carrier's limits are never exceeded and tests need no clock.

use crate::time::Millis;
use crate::yaml::{line_of, YamlError};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
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
    /// A registration trunk's password is missing or empty where the file says to find
    /// it; the error names the environment variable, so it is found before anything is
    /// sent (a REGISTER with an empty password only earns a 401 after a long wait).
    #[error("trunk {trunk}: {why}")]
    NoPassword {
        /// The trunk's name.
        trunk: String,
        /// What is missing, naming the variable or the field.
        why: String,
    },
    /// The proxy's name does not resolve to an address.
    #[error("trunk {trunk}: proxy {proxy} has no address")]
    Resolve {
        /// The trunk's name.
        trunk: String,
        /// The proxy as configured.
        proxy: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
}

impl TrunkConfig {
    /// The password: the environment variable `password_env` names, else `password` from
    /// the file. Empty counts as missing, and the error names the variable it expected.
    pub fn password(&self) -> Result<String, TrunkError> {
        let from_env = self
            .password_env
            .as_ref()
            .map(|var| (var, std::env::var(var)));
        if let Some((_, Ok(p))) = &from_env {
            if !p.is_empty() {
                return Ok(p.clone());
            }
        }
        if let Some(p) = self.password.as_ref().filter(|p| !p.is_empty()) {
            return Ok(p.clone());
        }
        let why = match from_env {
            Some((var, Ok(_))) => {
                format!("the environment variable {var} (password_env) is empty")
            }
            Some((var, Err(std::env::VarError::NotPresent))) => {
                format!("the environment variable {var} (password_env) is not set")
            }
            Some((var, Err(std::env::VarError::NotUnicode(_)))) => {
                format!("the environment variable {var} (password_env) is not valid UTF-8")
            }
            None if self.password.is_some() => {
                "password is empty; put it in an environment variable named by password_env".into()
            }
            None => "no password: name an environment variable holding it in password_env".into(),
        };
        Err(TrunkError::NoPassword {
            trunk: self.name.clone(),
            why,
        })
    }

    /// The proxy's socket address (resolved when it is a name; port 5060 when it has none).
    pub async fn proxy_addr(&self) -> Result<SocketAddr, TrunkError> {
        let with_port = if self.proxy.parse::<SocketAddr>().is_ok()
            || self.proxy.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok()
            }) {
            self.proxy.clone()
        } else {
            format!("{}:5060", self.proxy)
        };
        let resolve = |source| TrunkError::Resolve {
            trunk: self.name.clone(),
            proxy: self.proxy.clone(),
            source,
        };
        let first = tokio::net::lookup_host(with_port.as_str())
            .await
            .map_err(resolve)?
            .next();
        first.ok_or_else(|| {
            resolve(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolves to no address",
            ))
        })
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
        // Whether the environment holds the password is checked when it is used
        // (`password()`), so loading the file does not depend on the environment.
        if t.register
            && (t.username.is_none() || (t.password.is_none() && t.password_env.is_none()))
        {
            return Err(bad(
                "register: true needs username and password (or password_env)".into(),
            ));
        }
    }
    Ok(f)
}

/// How often [`port_unreachable`] probes while nothing has come back.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Resolves when the operating system reports the proxy's port unreachable (an ICMP port
/// unreachable comes back as a refused connection on a connected UDP socket), which a SIP
/// transaction over the shared transport never sees: it sits out its 32 s timer instead.
/// Probes with CRLF keep-alives (RFC 5626 §4.4.1), which a SIP server ignores, from a
/// socket of its own bound to `local`. Never resolves while the port may be open or when
/// the probe cannot be sent at all, so callers race it against the real request.
pub async fn port_unreachable(local: IpAddr, proxy: SocketAddr) -> std::io::Error {
    use std::io::ErrorKind;
    let refused = |e: &std::io::Error| {
        matches!(
            e.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
        )
    };
    let sock = match tokio::net::UdpSocket::bind(SocketAddr::new(local, 0)).await {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    if sock.connect(proxy).await.is_err() {
        return std::future::pending().await;
    }
    let mut buf = [0u8; 512];
    loop {
        let sent = sock.send(b"\r\n\r\n").await;
        let got = match sent {
            Ok(_) => match tokio::time::timeout(PROBE_EVERY, sock.recv(&mut buf)).await {
                Ok(r) => r,
                // Silence: the port may be filtered or the server quiet; probe again.
                Err(_) => continue,
            },
            Err(e) => Err(e),
        };
        match got {
            Err(e) if refused(&e) => return e,
            // An answer (a keep-alive pong) means someone listens; any other error says
            // nothing about the proxy. Either way, stop probing.
            _ => return std::future::pending().await,
        }
    }
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

    fn registering(password: &str) -> TrunkConfig {
        let yaml = format!(
            "trunks:\n  - name: reg\n    proxy: 127.0.0.1:5060\n    channels: 1\n    cps: 1\n    register: true\n    username: u\n{password}"
        );
        parse(&yaml, "t.yaml")
            .expect("loads whatever the environment holds")
            .trunks
            .remove(0)
    }

    #[test]
    fn a_missing_password_is_an_error_naming_where_it_was_expected() {
        let var = "VOXDIAL_TEST_TRUNK_PASSWORD_NEVER_SET";
        let e = registering(&format!("    password_env: {var}\n"))
            .password()
            .expect_err("unset")
            .to_string();
        assert_eq!(
            e,
            format!("trunk reg: the environment variable {var} (password_env) is not set")
        );
        let e = registering("    password: \"\"\n")
            .password()
            .expect_err("empty")
            .to_string();
        assert!(e.contains("password is empty"), "{e}");
        // The file's password stands in for an unset variable.
        let t = registering(&format!("    password_env: {var}\n    password: s3cret\n"));
        assert_eq!(t.password().expect("from the file"), "s3cret");
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_unreachable() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        // A guard against hanging, not a measurement: ICMP comes back in microseconds.
        let e = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            port_unreachable(closed.ip(), closed),
        )
        .await
        .expect("the OS reported the port closed");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let t = registering("    password: x\n");
        assert_eq!(
            t.proxy_addr().await.expect("addr"),
            "127.0.0.1:5060".parse::<SocketAddr>().expect("addr")
        );
    }
}
