//! Who talks on an answered call: the seam between the live driver and the agents
//! (the speech bot, or a test script), so the driver is tested with sipp and a script
//! on a machine without models, and runs the bot in production.

use super::config::ScriptSection;
use crate::sip::agent::CallAgent;
use crate::sip::scripted::{Script, ScriptedAgent};
use crate::store::Lead;
use std::time::Duration;

/// A campaign as the agent factory sees it.
#[derive(Debug, Clone)]
pub struct CampaignInfo {
    /// Name.
    pub name: String,
    /// Scenario the bot runs (from the database).
    pub scenario: Option<String>,
    /// Conversation locale.
    pub locale: crate::Locale,
    /// Call-progress detection on.
    pub cpd: bool,
}

/// Why no agent could be made for a call.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The campaign names no scenario for its bot.
    #[error("campaign {0} has no scenario (import its list with --scenario)")]
    NoScenario(String),
    /// The campaign's scenario is not loaded.
    #[error("campaign {campaign}: no scenario `{scenario}` (run `voxdial scenario check`)")]
    UnknownScenario {
        /// Campaign.
        campaign: String,
        /// Scenario.
        scenario: String,
    },
    /// The lead's stored variables are not a JSON object of strings.
    #[error("lead {lead}: its stored variables cannot be read")]
    Vars {
        /// Lead id.
        lead: i64,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The bot could not be built (models, conversation).
    #[error("campaign {campaign}: the bot")]
    Bot {
        /// Campaign.
        campaign: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Makes the agent for one call of a campaign's lead.
pub trait AgentFactory: Send + Sync {
    /// The agent that will hold `lead`'s call once it is answered.
    fn agent(&self, campaign: &CampaignInfo, lead: &Lead)
        -> Result<Box<dyn CallAgent>, AgentError>;
}

/// Test calls: every answered call runs the same script (hang up after N s, optionally
/// ask for a transfer first).
#[derive(Debug, Clone)]
pub struct ScriptedFactory {
    script: ScriptSection,
}

impl ScriptedFactory {
    /// A factory for `script`.
    pub fn new(script: ScriptSection) -> Self {
        ScriptedFactory { script }
    }
}

impl AgentFactory for ScriptedFactory {
    fn agent(&self, _: &CampaignInfo, _: &Lead) -> Result<Box<dyn CallAgent>, AgentError> {
        Ok(Box::new(ScriptedAgent::new(Script {
            hangup_after: Some(Duration::from_secs_f64(self.script.hangup_after_s)),
            refer_after: self.script.refer_after_s.map(Duration::from_secs_f64),
            ..Script::default()
        })))
    }
}

/// The lead's campaign variables, as the conversation takes them.
pub fn lead_vars(lead: &Lead) -> Result<std::collections::BTreeMap<String, String>, AgentError> {
    let v: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&lead.vars_json).map_err(|source| AgentError::Vars {
            lead: lead.id,
            source,
        })?;
    Ok(v.into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// The speech bot: one [`crate::bot::agent::BotResources`] per locale, loaded and warmed
/// once at start (a live call never waits on a model load), and a conversation per call
/// over the campaign's scenario with the lead's variables.
#[cfg(feature = "speech")]
pub mod bot {
    use super::*;
    use crate::bot::agent::BotResources;
    use crate::dialogue::engine::Conversation;
    use crate::scenario::library::Library;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// How long after the answer call-progress detection listens.
    const CPD_WINDOW_MS: u64 = 6_000;

    /// One locale's recognizer, voice and prompt cache, loaded and with the prompts of
    /// `scenarios` warmed: what a bot needs before the first dial, for `voxdial run` and
    /// `voxdial call --scenario` alike.
    pub fn load_resources(
        speech: &crate::speech::config::SpeechConfig,
        models: &std::path::Path,
        root: &std::path::Path,
        cache_dir: &std::path::Path,
        locale: crate::Locale,
        lib: &Library,
        scenarios: &[&str],
    ) -> Result<BotResources, crate::speech::SpeechError> {
        let t0 = std::time::Instant::now();
        let res = BotResources::load(speech.clone(), models, root, cache_dir, locale)?;
        for scenario in scenarios {
            let w = res.warm(lib, scenario)?;
            tracing::info!(
                scenario,
                load_ms = t0.elapsed().as_millis() as u64,
                prompts = w.prompts,
                synthesized = w.synthesized,
                cached = w.cached,
                "bot ready"
            );
        }
        Ok(res)
    }

    /// The bot for one call: `scenario`'s conversation with `vars`, call-progress
    /// detection for `cpd_window_ms` after the answer when `cpd`.
    #[allow(clippy::too_many_arguments)]
    pub fn call_bot(
        res: &BotResources,
        lib: Arc<Library>,
        scenario: &str,
        locale: crate::Locale,
        today: chrono::NaiveDate,
        vars: &BTreeMap<String, String>,
        cpd: bool,
        cpd_window_ms: u64,
    ) -> Result<crate::bot::agent::BotAgent, Box<dyn std::error::Error + Send + Sync>> {
        let conv = Conversation::new(lib, scenario, locale, today, vars)?;
        let cpd = cpd.then(crate::cpd::CpdConfig::default);
        Ok(res.agent(conv, cpd, cpd_window_ms)?)
    }

    /// The bot factory.
    pub struct BotFactory {
        lib: Arc<Library>,
        resources: BTreeMap<crate::Locale, BotResources>,
    }

    impl BotFactory {
        /// What each locale's recognizer and synthesis-ahead pool did so far (load runs
        /// read where the speech CPU went).
        pub fn load_stats(&self) -> BTreeMap<crate::Locale, crate::bot::agent::SpeechLoad> {
            self.resources
                .iter()
                .map(|(l, r)| (*l, r.load_stats()))
                .collect()
        }

        /// Load the scenario library under `root` and each campaign locale's models,
        /// and warm every campaign scenario's prompts.
        pub fn load(
            root: &std::path::Path,
            speech: &crate::speech::config::SpeechConfig,
            models: &std::path::Path,
            cache_dir: &std::path::Path,
            campaigns: &[CampaignInfo],
        ) -> Result<BotFactory, AgentError> {
            let (lib, _diags) = Library::load_project(root, &[]);
            let mut resources = BTreeMap::new();
            for c in campaigns {
                let scenario = c
                    .scenario
                    .clone()
                    .ok_or_else(|| AgentError::NoScenario(c.name.clone()))?;
                if lib.flow(&scenario).is_none() {
                    return Err(AgentError::UnknownScenario {
                        campaign: c.name.clone(),
                        scenario,
                    });
                }
                let bot = |e: Box<dyn std::error::Error + Send + Sync>| AgentError::Bot {
                    campaign: c.name.clone(),
                    source: e,
                };
                match resources.entry(c.locale) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(
                            load_resources(
                                speech,
                                models,
                                root,
                                cache_dir,
                                c.locale,
                                &lib,
                                &[&scenario],
                            )
                            .map_err(|e| bot(Box::new(e)))?,
                        );
                    }
                    std::collections::btree_map::Entry::Occupied(o) => {
                        o.get()
                            .warm(&lib, &scenario)
                            .map_err(|e| bot(Box::new(e)))?;
                    }
                }
            }
            Ok(BotFactory {
                lib: Arc::new(lib),
                resources,
            })
        }
    }

    impl AgentFactory for BotFactory {
        fn agent(
            &self,
            campaign: &CampaignInfo,
            lead: &Lead,
        ) -> Result<Box<dyn CallAgent>, AgentError> {
            let scenario = campaign
                .scenario
                .clone()
                .ok_or_else(|| AgentError::NoScenario(campaign.name.clone()))?;
            let bot = |e: Box<dyn std::error::Error + Send + Sync>| AgentError::Bot {
                campaign: campaign.name.clone(),
                source: e,
            };
            let res = self.resources.get(&campaign.locale).ok_or_else(|| {
                AgentError::UnknownScenario {
                    campaign: campaign.name.clone(),
                    scenario: scenario.clone(),
                }
            })?;
            let vars = lead_vars(lead)?;
            let today = chrono::Local::now().date_naive();
            let agent = call_bot(
                res,
                self.lib.clone(),
                &scenario,
                campaign.locale,
                today,
                &vars,
                campaign.cpd,
                CPD_WINDOW_MS,
            )
            .map_err(bot)?;
            Ok(Box::new(agent))
        }
    }
}

/// Each campaign's own factory (a test script on one, the bot on another).
#[derive(Default)]
pub struct ByCampaign {
    factories: std::collections::BTreeMap<String, std::sync::Arc<dyn AgentFactory>>,
}

impl ByCampaign {
    /// Calls of `campaign` get their agents from `factory`.
    pub fn insert(&mut self, campaign: &str, factory: std::sync::Arc<dyn AgentFactory>) {
        self.factories.insert(campaign.to_string(), factory);
    }
}

impl AgentFactory for ByCampaign {
    fn agent(
        &self,
        campaign: &CampaignInfo,
        lead: &Lead,
    ) -> Result<Box<dyn CallAgent>, AgentError> {
        match self.factories.get(&campaign.name) {
            Some(f) => f.agent(campaign, lead),
            None => Err(AgentError::NoScenario(campaign.name.clone())),
        }
    }
}
