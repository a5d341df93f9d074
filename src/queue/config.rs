//! What the service's config says about a queue: the typed shape `voxdial.yaml` embeds
//! (the service parses the file and reports positions; this module checks the values).

use serde::Deserialize;
use std::path::PathBuf;

fn default_max_wait_s() -> u32 {
    120
}
fn default_ring_timeout_s() -> u32 {
    20
}
fn default_wrap_up_s() -> u32 {
    10
}
fn default_hold_audio() -> PathBuf {
    PathBuf::from("voices/hold/hold.wav")
}

/// One human queue: the SIP address voxdial answers for hand-offs, and its agents.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's name: the user part of the address customers are referred to
    /// (`sip:<name>@<voxdial>`).
    pub name: String,
    /// Seconds a customer waits for an agent before the queue gives up.
    #[serde(default = "default_max_wait_s")]
    pub max_wait_s: u32,
    /// Seconds an agent's phone rings before the next agent is tried.
    #[serde(default = "default_ring_timeout_s")]
    pub ring_timeout_s: u32,
    /// Seconds after each call before the agent is offered the next one.
    #[serde(default = "default_wrap_up_s")]
    pub wrap_up_s: u32,
    /// What customers hear while waiting (WAV, 16-bit PCM, any rate; looped).
    #[serde(default = "default_hold_audio")]
    pub hold_audio: PathBuf,
    /// The people who answer this queue.
    #[serde(default)]
    pub agents: Vec<AgentAccount>,
}

/// A human agent's SIP account: the registrar checks the password; the queue rings the
/// registered contact, or `contact` when the phone does not register.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentAccount {
    /// The SIP user name (digest username and address of record).
    pub user: String,
    /// The digest password. The service fills it from the environment (secrets are
    /// not written in voxdial.yaml); never logged.
    #[serde(default)]
    pub password: String,
    /// A fixed phone address (`sip:1001@10.0.0.5:5060`) for phones that do not register.
    #[serde(default)]
    pub contact: Option<String>,
}

impl std::fmt::Debug for AgentAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAccount")
            .field("user", &self.user)
            .field("password", &"***")
            .field("contact", &self.contact)
            .finish()
    }
}

/// A queue setting that cannot work, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum QueueConfigError {
    /// A field's value is out of range or malformed.
    #[error("queue {queue:?}: {field}: {why}")]
    Field {
        /// The queue's name.
        queue: String,
        /// The field (`agents[2].contact`).
        field: String,
        /// What is wrong.
        why: String,
    },
}

impl QueueConfig {
    /// Check what serde cannot: names usable in a SIP URI, timings that can elapse,
    /// agents named once, contacts that are SIP URIs, a password for each agent who must
    /// register.
    pub fn validate(&self) -> Result<(), QueueConfigError> {
        let err = |field: String, why: String| QueueConfigError::Field {
            queue: self.name.clone(),
            field,
            why,
        };
        let user_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        };
        if !user_ok(&self.name) {
            return Err(err(
                "name".into(),
                "must be 1-64 letters, digits or -_.+ (it is a SIP user part)".into(),
            ));
        }
        if self.ring_timeout_s == 0 {
            return Err(err("ring_timeout_s".into(), "must be at least 1".into()));
        }
        if self.max_wait_s == 0 {
            return Err(err("max_wait_s".into(), "must be at least 1".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            if !user_ok(&a.user) {
                return Err(err(
                    format!("agents[{i}].user"),
                    "must be 1-64 letters, digits or -_.+".into(),
                ));
            }
            if !seen.insert(a.user.as_str()) {
                return Err(err(
                    format!("agents[{i}].user"),
                    format!("{:?} is listed twice", a.user),
                ));
            }
            match &a.contact {
                Some(c) => {
                    if let Err(e) = crate::sip::ua::check_uri(c) {
                        return Err(err(format!("agents[{i}].contact"), e.to_string()));
                    }
                }
                None if a.password.is_empty() => {
                    return Err(err(
                        format!("agents[{i}].password"),
                        "an agent without a fixed contact registers, so needs a password".into(),
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The core's timings from the config's seconds.
    pub fn settings(&self) -> super::core::QueueSettings {
        super::core::QueueSettings {
            max_wait_ms: u64::from(self.max_wait_s) * 1000,
            ring_timeout_ms: u64::from(self.ring_timeout_s) * 1000,
            wrap_up_ms: u64::from(self.wrap_up_s) * 1000,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<QueueConfig, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(text)
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let q = parse("name: collections\nagents:\n  - {user: '1001', password: pw}\n").unwrap();
        assert_eq!((q.max_wait_s, q.ring_timeout_s, q.wrap_up_s), (120, 20, 10));
        assert_eq!(q.hold_audio, PathBuf::from("voices/hold/hold.wav"));
        q.validate().unwrap();
        assert_eq!(q.settings().ring_timeout_ms, 20_000);
        let e = parse("name: q\nmax_wait: 3\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `max_wait`"), "{e}");
        let e = parse("name: q\nagents: [{user: a, pasword: x}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pasword"), "{e}");
    }

    #[test]
    fn validation_names_the_field_and_debug_hides_passwords() {
        let check = |text: &str| parse(text).unwrap().validate().unwrap_err().to_string();
        assert!(check("name: 'a b'").contains("name:"));
        assert!(check("name: q\nring_timeout_s: 0").contains("ring_timeout_s"));
        assert!(
            check("name: q\nagents: [{user: a, password: x}, {user: a, password: y}]")
                .contains("agents[1].user")
        );
        assert!(check("name: q\nagents: [{user: a, contact: 'http://x'}]")
            .contains("agents[0].contact"));
        assert!(check("name: q\nagents: [{user: a}]").contains("agents[0].password"));
        let q = parse("name: q\nagents: [{user: a, password: hunter2}]").unwrap();
        assert!(!format!("{q:?}").contains("hunter2"));
    }
}
