//! `voxdial.yaml`: everything `voxdial run` needs, read once at start and checked before
//! anything is dialled, so a typo costs an error message naming its `file:line:col`, not
//! a campaign stopped in the middle of the day.
//!
//! Secrets never live in the file: it names the environment variables that hold them
//! (`password_env`), and a variable that is not set is an error naming it and the place
//! in the file that asked for it.

use crate::dialer::pacing::{Brake, PacingConfig, Strategy};
use crate::scenario::source::SourceFile;
use crate::sip::trunk::TrunkConfig;
use crate::yaml::{ReadError, YamlError};
use crate::Locale;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Where voxdial's SIP user agent listens.
    pub sip: SipSection,
    /// The SQLite database holding campaigns, leads and the ledger (`campaign import`).
    pub database: PathBuf,
    /// Carrier trunks in preference order (the `trunks.yaml` entries).
    pub trunks: Vec<TrunkConfig>,
    /// The campaigns this process dials.
    pub campaigns: Vec<CampaignConfig>,
    /// Where hand-offs go.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// Models and the speech config, for the bot.
    #[serde(default)]
    pub speech: SpeechSection,
    /// Folder of call recordings (`<campaign>/<attempt>.wav`); none: no recordings.
    #[serde(default)]
    pub recordings: Option<PathBuf>,
    /// The read-only operations endpoint (`GET /healthz`, `GET /metrics`); none: not served.
    #[serde(default)]
    pub http: Option<HttpSection>,
    /// On SIGTERM, how long live calls may go on before they are hung up.
    #[serde(default = "default_drain")]
    pub drain_timeout_s: f64,
    /// Give up on a ringing call after this long.
    #[serde(default = "default_ring")]
    pub ring_timeout_s: f64,
    /// Hang up an answered call whose customer has sent no RTP for this long (not while
    /// on hold): a vanished peer must not hold a channel, a bot or an agent. 0 never does.
    #[serde(default = "default_media_timeout")]
    pub media_timeout_s: f64,
}

fn default_drain() -> f64 {
    30.0
}

fn default_media_timeout() -> f64 {
    crate::sip::ua::DEFAULT_MEDIA_TIMEOUT.as_secs_f64()
}

fn default_ring() -> f64 {
    30.0
}

/// The SIP user agent's address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    /// `ip:port` (UDP and TCP).
    pub listen: SocketAddr,
}

/// Where the operations endpoint listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// `ip:port`.
    pub listen: SocketAddr,
}

/// Where the speech models and their config are (the speech commands' `--data` and
/// `--speech-config`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechSection {
    /// Data folder (models in `DATA/models`, prompt cache in `DATA/cache/prompts`).
    #[serde(default = "default_data")]
    pub data: PathBuf,
    /// The speech config (default: the shipped `voices/speech.yaml`).
    #[serde(default)]
    pub config: Option<PathBuf>,
}

fn default_data() -> PathBuf {
    PathBuf::from("data")
}

impl Default for SpeechSection {
    fn default() -> Self {
        SpeechSection {
            data: default_data(),
            config: None,
        }
    }
}

/// Who takes an answered call first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every answered call goes to a bot; only hand-offs reach people.
    BotFirst,
    /// Classic predictive dialing for human collectors: a call call-progress detection
    /// finds a person on is bridged at once to the campaign's built-in queue (its
    /// longest-idle free agent); one no agent takes within the policy's `abandon.after_s`
    /// hears the policy's `abandon_message` and is hung up, counted as abandoned.
    AgentFirst,
}

/// One campaign to dial (its leads, scenario and policy are in the database).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// The campaign's name in the database.
    pub name: String,
    /// Bot-first or agent-first.
    pub mode: Mode,
    /// The conversation's locale.
    pub locale: Locale,
    /// How fast to dial.
    pub pacing: PacingSection,
    /// Bots taking answered calls at once (bot-first; agent-first has none: its takers
    /// are the queue's agents).
    #[serde(default)]
    pub bots: u32,
    /// The queue (a name under `queues:`) hand-offs go to; agent-first: the built-in
    /// queue whose agents take every answered call.
    #[serde(default)]
    pub queue: Option<String>,
    /// Trunks (names under `trunks:`) this campaign dials on, in preference order;
    /// default: every trunk.
    #[serde(default)]
    pub trunks: Vec<String>,
    /// Answered calls run this test script instead of the bot (trunk bring-up, tests).
    #[serde(default)]
    pub script: Option<ScriptSection>,
    /// Call-progress detection after the answer (answering machines, announcements).
    #[serde(default = "yes")]
    pub cpd: bool,
}

fn yes() -> bool {
    true
}

/// A test script instead of the bot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSection {
    /// Hang up this long after the answer.
    pub hangup_after_s: f64,
    /// Ask for a transfer to the campaign's queue this long after the answer.
    #[serde(default)]
    pub refer_after_s: Option<f64>,
}

/// The campaign's pacing (see `dialer::pacing`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingSection {
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Lines per free bot for `ratio`.
    #[serde(default)]
    pub ratio: Option<f64>,
    /// Highest dial level for `vicidial`.
    #[serde(default)]
    pub max_level: Option<f64>,
    /// Prior for a bot's conversation length, seconds, before any call has ended.
    #[serde(default = "default_handle")]
    pub handle_prior_s: f64,
    /// Mean human handle time of an escalation, seconds.
    #[serde(default = "default_human")]
    pub human_handle_s: f64,
}

fn default_handle() -> f64 {
    60.0
}

fn default_human() -> f64 {
    180.0
}

impl PacingSection {
    /// The pacer's configuration under the campaign policy's abandon limit.
    pub fn pacing(&self, target_abandon: f64, bot_first: bool) -> PacingConfig {
        let base = PacingConfig::agents(self.strategy, target_abandon, self.handle_prior_s, 0.0);
        PacingConfig {
            ratio: self.ratio.unwrap_or(base.ratio),
            max_level: self.max_level.unwrap_or(base.max_level),
            brake: Brake::Average,
            bot_first,
            human_handle_s: self.human_handle_s,
            ..base
        }
    }
}

/// A human queue: either external (an existing PBX or ACD, or a voxdial queue served
/// elsewhere: the bot's REFER goes to `uri`) or built in (no `uri`: voxdial answers
/// `sip:<name>@<sip.listen>` itself, rings its `agents` and bridges them in).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Name campaigns use (and, built in, the user part of the queue's address).
    pub name: String,
    /// The external queue's SIP address; none: the queue is built in.
    #[serde(default)]
    pub uri: Option<String>,
    /// Built in: seconds a customer waits for an agent (default 120).
    #[serde(default)]
    pub max_wait_s: Option<u32>,
    /// Built in: seconds an agent's phone rings before the next is tried (default 20).
    #[serde(default)]
    pub ring_timeout_s: Option<u32>,
    /// Built in: seconds after a call before the agent gets the next (default 10).
    #[serde(default)]
    pub wrap_up_s: Option<u32>,
    /// Built in: what waiting customers hear (WAV; default the shipped hold tune).
    #[serde(default)]
    pub hold_audio: Option<PathBuf>,
    /// Built in: the people answering the queue.
    #[serde(default)]
    pub agents: Vec<AgentSection>,
}

impl QueueConfig {
    /// Whether voxdial serves this queue itself.
    pub fn built_in(&self) -> bool {
        self.uri.is_none()
    }
}

/// A built-in queue's agent, as the file names it: the password is in the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// The SIP user name the agent's phone registers as.
    pub user: String,
    /// The environment variable holding the agent's digest password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A fixed phone address for a phone that does not register.
    #[serde(default)]
    pub contact: Option<String>,
}

/// A config file that cannot be used, with the place.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable, too large, not UTF-8 or nested too deep.
    #[error("{path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// A syntax error, an unknown key, a missing or wrong value, a missing secret.
    #[error(transparent)]
    Invalid(#[from] YamlError),
}

/// The loaded file and the secrets it named, resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: ServiceConfig,
    /// Each trunk's digest password (by trunk index), from its `password_env`.
    pub trunk_passwords: Vec<Option<String>>,
    /// The built-in queues, checked, agents' passwords filled from the environment (the
    /// hold audio path as written: take it through [`Loaded::path`]).
    pub builtin_queues: Vec<crate::queue::QueueConfig>,
    /// The folder relative paths in the file are taken from.
    pub base: PathBuf,
}

impl Loaded {
    /// A path from the file, taken relative to the file's folder.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

/// Read and check `path`, looking secrets up with `env` (the process environment in the
/// CLI; a map in tests).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let name = path.display().to_string();
    let src = SourceFile::read(path).map_err(|source| ConfigError::Read {
        path: name.clone(),
        source,
    })?;
    let mut loaded = parse(&src, env)?;
    loaded.base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(loaded)
}

/// What an agent-first campaign needs: a built-in queue (its agents are the takers, and
/// the pacer reads their states live), and nothing that only a bot uses.
fn agent_first_checks(
    config: &ServiceConfig,
    c: &CampaignConfig,
    ix: &str,
    at: &dyn Fn(&[&str], String) -> ConfigError,
) -> Result<(), ConfigError> {
    let Some(name) = &c.queue else {
        return Err(at(
            &["campaigns", ix, "mode"],
            format!(
                "campaign {}: agent_first needs a queue: name a built-in queue under queue:",
                c.name
            ),
        ));
    };
    if config
        .queues
        .iter()
        .any(|q| &q.name == name && !q.built_in())
    {
        return Err(at(
            &["campaigns", ix, "queue"],
            format!(
                "campaign {}: agent_first needs a built-in queue (its agents' states pace the dialing), and {name} has a uri",
                c.name
            ),
        ));
    }
    if c.bots != 0 {
        return Err(at(
            &["campaigns", ix, "bots"],
            format!(
                "campaign {}: agent_first has no bots (the queue's agents take the calls): drop bots",
                c.name
            ),
        ));
    }
    if c.script.is_some() {
        return Err(at(
            &["campaigns", ix, "script"],
            format!(
                "campaign {}: agent_first answers with people, not a script: drop script",
                c.name
            ),
        ));
    }
    Ok(())
}

/// Parse and check a file's text (see [`load`]).
pub fn parse(
    src: &SourceFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let name = src.path.display().to_string();
    let config: ServiceConfig = crate::yaml::parse(&src.text, &name)?;
    let at = |path: &[&str], why: String| -> ConfigError {
        let p = src.value_pos(path);
        YamlError::at(&name, p.line, p.col, why).into()
    };
    let seconds = |v: f64, path: &[&str]| -> Result<(), ConfigError> {
        if v.is_finite() && v > 0.0 && v <= 86_400.0 {
            Ok(())
        } else {
            Err(at(
                path,
                format!(
                    "{} must be a number of seconds above 0, not {v}",
                    path[path.len() - 1]
                ),
            ))
        }
    };
    seconds(config.drain_timeout_s, &["drain_timeout_s"])?;
    seconds(config.ring_timeout_s, &["ring_timeout_s"])?;
    if config.media_timeout_s != 0.0 {
        let v = config.media_timeout_s;
        seconds(v, &["media_timeout_s"]).map_err(|_| {
            at(
                &["media_timeout_s"],
                format!(
                    "media_timeout_s must be 0 (never hang up on silence) or a number of \
                     seconds above 0, not {v}"
                ),
            )
        })?;
    }
    if config.trunks.is_empty() {
        return Err(at(&["trunks"], "no trunk: name at least one".into()));
    }
    let mut trunk_passwords = Vec::new();
    for (i, t) in config.trunks.iter().enumerate() {
        let ix = i.to_string();
        if t.channels == 0 {
            return Err(at(
                &["trunks", &ix, "channels"],
                "channels must be at least 1".into(),
            ));
        }
        if !(t.cps > 0.0 && t.cps.is_finite()) {
            return Err(at(
                &["trunks", &ix, "cps"],
                format!("cps must be a positive number, not {}", t.cps),
            ));
        }
        if crate::sip::ua::check_uri(&t.uri_for("100")).is_err() {
            return Err(at(
                &["trunks", &ix, "proxy"],
                format!(
                    "trunk {}: sip:NUMBER@{} is not a SIP URI",
                    t.name,
                    t.domain.as_deref().unwrap_or(&t.proxy)
                ),
            ));
        }
        if config.trunks[..i].iter().any(|o| o.name == t.name) {
            return Err(at(
                &["trunks", &ix, "name"],
                format!("a second trunk named {}", t.name),
            ));
        }
        if t.password.is_some() {
            return Err(at(
                &["trunks", &ix, "password"],
                "no secrets in this file: put the password in an environment variable and name it in password_env".into(),
            ));
        }
        let password = match &t.password_env {
            Some(var) => match env(var).filter(|v| !v.is_empty()) {
                Some(p) => Some(p),
                None => {
                    return Err(at(
                        &["trunks", &ix, "password_env"],
                        format!(
                            "the environment variable {var} (trunk {}'s password) is not set",
                            t.name
                        ),
                    ))
                }
            },
            None => None,
        };
        if password.is_some() && t.username.is_none() {
            return Err(at(
                &["trunks", &ix, "password_env"],
                format!("trunk {}: a password needs a username", t.name),
            ));
        }
        trunk_passwords.push(password);
    }
    let mut builtin_queues = Vec::new();
    for (i, q) in config.queues.iter().enumerate() {
        let ix = i.to_string();
        if config.queues[..i].iter().any(|o| o.name == q.name) {
            return Err(at(
                &["queues", &ix, "name"],
                format!("a second queue named {}", q.name),
            ));
        }
        if let Some(uri) = &q.uri {
            if let Err(e) = crate::sip::ua::check_uri(uri) {
                return Err(at(
                    &["queues", &ix, "uri"],
                    format!("queue {}: {e}", q.name),
                ));
            }
            let builtin_keys = [
                ("max_wait_s", q.max_wait_s.is_some()),
                ("ring_timeout_s", q.ring_timeout_s.is_some()),
                ("wrap_up_s", q.wrap_up_s.is_some()),
                ("hold_audio", q.hold_audio.is_some()),
                ("agents", !q.agents.is_empty()),
            ];
            if let Some((key, _)) = builtin_keys.iter().find(|(_, set)| *set) {
                return Err(at(
                    &["queues", &ix, key],
                    format!(
                        "queue {}: {key} is for a built-in queue, and this one has a uri (an external queue): drop one of them",
                        q.name
                    ),
                ));
            }
            continue;
        }
        let mut agents = Vec::new();
        for (j, a) in q.agents.iter().enumerate() {
            let jx = j.to_string();
            let password = match &a.password_env {
                Some(var) => match env(var).filter(|v| !v.is_empty()) {
                    Some(p) => p,
                    None => {
                        return Err(at(
                            &["queues", &ix, "agents", &jx, "password_env"],
                            format!(
                                "the environment variable {var} (agent {}'s password) is not set",
                                a.user
                            ),
                        ))
                    }
                },
                None => String::new(),
            };
            agents.push(crate::queue::AgentAccount {
                user: a.user.clone(),
                password,
                contact: a.contact.clone(),
            });
        }
        let defaults: crate::queue::QueueConfig =
            serde_yaml_ng::from_str("name: q").map_err(|e| at(&["queues", &ix], e.to_string()))?;
        let built = crate::queue::QueueConfig {
            name: q.name.clone(),
            max_wait_s: q.max_wait_s.unwrap_or(defaults.max_wait_s),
            ring_timeout_s: q.ring_timeout_s.unwrap_or(defaults.ring_timeout_s),
            wrap_up_s: q.wrap_up_s.unwrap_or(defaults.wrap_up_s),
            hold_audio: q.hold_audio.clone().unwrap_or(defaults.hold_audio),
            agents,
        };
        if let Err(crate::queue::QueueConfigError::Field { field, why, .. }) = built.validate() {
            // `agents[2].password` -> the keys of the file's place.
            let mut path: Vec<String> = vec!["queues".into(), ix.clone()];
            for part in field.split(['.', '[', ']']).filter(|p| !p.is_empty()) {
                path.push(if part == "password" {
                    "password_env".into()
                } else {
                    part.into()
                });
            }
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let why = if field.ends_with("password") {
                "an agent without a fixed contact registers, so needs password_env".into()
            } else {
                why
            };
            return Err(at(&path, format!("queue {}: {field}: {why}", q.name)));
        }
        for a in &built.agents {
            let clash = builtin_queues
                .iter()
                .flat_map(|b: &crate::queue::QueueConfig| b.agents.iter())
                .any(|o| o.user == a.user && o.password != a.password);
            if clash {
                return Err(at(
                    &["queues", &ix, "agents"],
                    format!(
                        "agent {} is in two queues with different passwords: one registrar serves both",
                        a.user
                    ),
                ));
            }
        }
        builtin_queues.push(built);
    }
    if config.campaigns.is_empty() {
        return Err(at(&["campaigns"], "no campaign: name at least one".into()));
    }
    for (i, c) in config.campaigns.iter().enumerate() {
        let ix = i.to_string();
        if config.campaigns[..i].iter().any(|o| o.name == c.name) {
            return Err(at(
                &["campaigns", &ix, "name"],
                format!("campaign {} is listed twice", c.name),
            ));
        }
        if c.mode == Mode::AgentFirst {
            agent_first_checks(&config, c, &ix, &at)?;
        } else if c.bots == 0 || c.bots > 10_000 {
            return Err(at(
                &["campaigns", &ix, "bots"],
                format!("bots must be between 1 and 10000, not {}", c.bots),
            ));
        }
        if let Some(q) = &c.queue {
            if !config.queues.iter().any(|x| &x.name == q) {
                return Err(at(
                    &["campaigns", &ix, "queue"],
                    format!("no queue named {q} under queues:"),
                ));
            }
        }
        for (j, t) in c.trunks.iter().enumerate() {
            if !config.trunks.iter().any(|x| &x.name == t) {
                return Err(at(
                    &["campaigns", &ix, "trunks", &j.to_string()],
                    format!("no trunk named {t} under trunks:"),
                ));
            }
        }
        let p = &c.pacing;
        for (v, key) in [
            (Some(p.handle_prior_s), "handle_prior_s"),
            (Some(p.human_handle_s), "human_handle_s"),
            (p.ratio, "ratio"),
            (p.max_level, "max_level"),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(at(
                        &["campaigns", &ix, "pacing", key],
                        format!("{key} must be a positive number, not {v}"),
                    ));
                }
            }
        }
        if let Some(s) = &c.script {
            seconds(
                s.hangup_after_s,
                &["campaigns", &ix, "script", "hangup_after_s"],
            )?;
            if let Some(r) = s.refer_after_s {
                seconds(r, &["campaigns", &ix, "script", "refer_after_s"])?;
            }
        }
    }
    Ok(Loaded {
        config,
        trunk_passwords,
        builtin_queues,
        base: PathBuf::from("."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
sip:
  listen: 127.0.0.1:5060
database: voxdial.db
trunks:
  - name: carrier-a
    proxy: 127.0.0.1:5080
    channels: 4
    cps: 2
  - name: pbx-b
    proxy: 127.0.0.1:5062
    username: voxbot
    password_env: PBX_B_PASSWORD
    channels: 2
    cps: 1
campaigns:
  - name: demo
    mode: bot_first
    locale: en-US
    pacing: {strategy: predictive}
    bots: 4
    queue: collections
queues:
  - name: collections
    uri: sip:collections@127.0.0.1:5070
recordings: recordings
http: {listen: 127.0.0.1:8080}
";

    fn env(var: &str) -> Option<String> {
        (var == "PBX_B_PASSWORD").then(|| "s3cret".to_string())
    }

    fn load_text(text: &str) -> Result<Loaded, ConfigError> {
        parse(&SourceFile::new("voxdial.yaml", text.to_string()), &env)
    }

    fn error_of(text: &str) -> String {
        match load_text(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_config_loads_with_its_secret_from_the_environment() {
        let l = load_text(GOOD).unwrap();
        assert_eq!(l.config.sip.listen.to_string(), "127.0.0.1:5060");
        assert_eq!(l.config.campaigns[0].bots, 4);
        assert_eq!(l.config.campaigns[0].locale, Locale::EnUs);
        assert_eq!(l.trunk_passwords, vec![None, Some("s3cret".to_string())]);
        assert_eq!(l.config.drain_timeout_s, 30.0);
        assert_eq!(
            l.config.queues[0].uri.as_deref(),
            Some("sip:collections@127.0.0.1:5070")
        );
        assert!(l.builtin_queues.is_empty());
    }

    #[test]
    fn bad_configs_are_refused_at_their_place() {
        let cases = [
            // An unknown key.
            (
                GOOD.replace("    bots: 4\n", "    bots: 4\n    bot: 3\n"),
                "voxdial.yaml:21:5: campaigns[0]: unknown key `bot`",
            ),
            // A missing secret names the variable.
            (
                GOOD.replace("PBX_B_PASSWORD", "NOT_SET_VAR"),
                "voxdial.yaml:12:19: the environment variable NOT_SET_VAR",
            ),
            // No bots.
            (
                GOOD.replace("bots: 4", "bots: 0"),
                "voxdial.yaml:20:11: bots must be between 1 and 10000",
            ),
            // A queue that is not listed.
            (
                GOOD.replace("queue: collections", "queue: sales"),
                "voxdial.yaml:21:12: no queue named sales",
            ),
            // A wrong pacing strategy.
            (
                GOOD.replace("predictive", "fastest"),
                "voxdial.yaml:19:24: campaigns[0].pacing.strategy: unknown value `fastest`",
            ),
            // A listen address that is not one.
            (
                GOOD.replace("listen: 127.0.0.1:5060", "listen: localhost"),
                "voxdial.yaml:2:11: ",
            ),
            // A secret in the file itself.
            (
                GOOD.replace(
                    "    password_env: PBX_B_PASSWORD\n",
                    "    password: hunter2\n",
                ),
                "voxdial.yaml:12:15: no secrets in this file",
            ),
            // A queue address that is no SIP URI.
            (
                GOOD.replace("sip:collections@127.0.0.1:5070", "collections"),
                "voxdial.yaml:24:10: queue collections",
            ),
            // A negative media timeout: 0 is allowed too, and the error says so.
            (
                GOOD.replace(
                    "database: voxdial.db\n",
                    "database: voxdial.db\nmedia_timeout_s: -5\n",
                ),
                "voxdial.yaml:4:18: media_timeout_s must be 0 (never hang up on silence) or a \
                 number of seconds above 0, not -5",
            ),
        ];
        for (text, want) in cases {
            let e = error_of(&text);
            assert!(e.starts_with(want), "want {want:?}, got {e:?}");
        }
    }

    const BUILTIN: &str = "
  - name: care
    max_wait_s: 30
    agents:
      - {user: '1001', password_env: AGENT_1001_PASSWORD}
      - {user: '1002', contact: 'sip:1002@127.0.0.1:5090'}
";

    fn with_builtin(text: &str) -> String {
        GOOD.replace(
            "recordings: recordings",
            &format!("{}recordings: recordings", text.trim_start_matches('\n')),
        )
    }

    #[test]
    fn a_built_in_queue_loads_with_its_agents_passwords_from_the_environment() {
        let env = |var: &str| match var {
            "AGENT_1001_PASSWORD" => Some("pw1".to_string()),
            "PBX_B_PASSWORD" => Some("s3cret".to_string()),
            _ => None,
        };
        let text = with_builtin(BUILTIN);
        let l = parse(&SourceFile::new("voxdial.yaml", text), &env).unwrap();
        assert!(l.config.queues[1].built_in());
        let q = &l.builtin_queues[0];
        assert_eq!(q.name, "care");
        assert_eq!((q.max_wait_s, q.ring_timeout_s, q.wrap_up_s), (30, 20, 10));
        assert_eq!(q.agents[0].password, "pw1");
        assert_eq!(
            q.agents[1].contact.as_deref(),
            Some("sip:1002@127.0.0.1:5090")
        );
    }

    #[test]
    fn bad_built_in_queues_are_refused_at_their_place() {
        let cases = [
            // The agent's password variable is not set.
            (
                with_builtin(BUILTIN),
                "voxdial.yaml:28:38: the environment variable AGENT_1001_PASSWORD",
            ),
            // An agent who must register, without a password.
            (
                with_builtin(&BUILTIN.replace(", password_env: AGENT_1001_PASSWORD", "")),
                "voxdial.yaml:28:9: queue care: agents[0].password",
            ),
            // A contact that is no SIP URI.
            (
                with_builtin(
                    &BUILTIN
                        .replace("AGENT_1001_PASSWORD", "PBX_B_PASSWORD")
                        .replace("sip:1002@127.0.0.1:5090", "phone"),
                ),
                "voxdial.yaml:29:33: queue care: agents[1].contact",
            ),
            // Built-in settings on an external queue.
            (
                GOOD.replace(
                    "    uri: sip:collections@127.0.0.1:5070\n",
                    "    uri: sip:collections@127.0.0.1:5070\n    max_wait_s: 9\n",
                ),
                "voxdial.yaml:25:17: queue collections: max_wait_s is for a built-in queue",
            ),
            // A queue name that cannot be a SIP user part.
            (
                with_builtin(
                    &BUILTIN
                        .replace("AGENT_1001_PASSWORD", "PBX_B_PASSWORD")
                        .replace("name: care", "name: 'c are'"),
                ),
                "voxdial.yaml:25:11: queue c are: name",
            ),
        ];
        for (text, want) in cases {
            let e = error_of(&text);
            assert!(e.starts_with(want), "want {want:?}, got {e:?}");
        }
    }

    fn agent_first(campaign: &str) -> String {
        let env_free = with_builtin(BUILTIN).replace(
            ", password_env: AGENT_1001_PASSWORD",
            ", contact: 'sip:1001@127.0.0.1:5091'",
        );
        env_free.replace("    bots: 4\n    queue: collections\n", campaign)
    }

    #[test]
    fn an_agent_first_campaign_takes_a_built_in_queue_and_no_bots() {
        let text = agent_first("    queue: care\n").replace("mode: bot_first", "mode: agent_first");
        let l = load_text(&text).unwrap();
        let c = &l.config.campaigns[0];
        assert_eq!(
            (c.mode, c.bots, c.queue.as_deref()),
            (Mode::AgentFirst, 0, Some("care"))
        );
        let bad =
            |campaign: &str| agent_first(campaign).replace("mode: bot_first", "mode: agent_first");
        let cases = [
            (
                bad(""),
                "voxdial.yaml:17:11: campaign demo: agent_first needs a queue",
            ),
            (
                bad("    queue: collections\n"),
                "voxdial.yaml:20:12: campaign demo: agent_first needs a built-in queue",
            ),
            (
                bad("    queue: care\n    bots: 2\n"),
                "voxdial.yaml:21:11: campaign demo: agent_first has no bots",
            ),
            (
                bad("    queue: care\n    script: {hangup_after_s: 1}\n"),
                "voxdial.yaml:21:5: campaign demo: agent_first answers with people",
            ),
        ];
        for (text, want) in cases {
            let e = error_of(&text);
            assert!(e.starts_with(want), "want {want:?}, got {e:?}");
        }
        // Bot-first still needs its bots.
        let e = error_of(&agent_first("    queue: care\n"));
        assert!(e.contains("bots must be between 1 and 10000"), "{e}");
    }

    #[test]
    fn the_demo_config_loads_with_paths_from_its_folder() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/voxdial.yaml");
        let l = load(&path, &|_| None).unwrap();
        assert_eq!(l.config.campaigns[0].name, "demo-en");
        assert_eq!(
            l.path(&l.config.database),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/voxdial.db")
        );
    }

    #[test]
    fn pacing_takes_the_policys_abandon_limit() {
        let l = load_text(GOOD).unwrap();
        let p = l.config.campaigns[0].pacing.pacing(0.03, true);
        assert_eq!(p.strategy, Strategy::Predictive);
        assert!(p.bot_first);
        assert_eq!(p.target_abandon, 0.03);
        assert_eq!(p.handle_prior_s, 60.0);
    }
}
