//! Natural-language understanding of one customer utterance: intent + slots.
//!
//! Classification is example-based and explainable (see [`intent`]); slots are
//! rule-based extractors for dates, amounts, phone tails and yes/no (see [`slots`]).

pub mod intent;
pub mod slots;

use crate::language::Locale;
use chrono::NaiveDate;
use intent::{IntentModel, IntentSpec};
use serde::Serialize;
use slots::Slots;
use std::collections::BTreeMap;

/// The intent name printed when no intent reaches the confidence threshold.
pub const FALLBACK_INTENT: &str = "nlu_fallback";

/// A trained "negative" intent: chatter unrelated to the call. Recognising it means the
/// utterance was not understood, which beats forcing it into the nearest real intent.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// An intent's number in the table an NLU was trained with: what compiled flows route on,
/// so a live call compares numbers instead of looking intent names up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntentId(pub u32);

/// What the NLU understood of one utterance; the `voxdial nlu` JSON contract.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Understanding {
    /// Best intent, or [`FALLBACK_INTENT`] below the threshold.
    pub intent: String,
    /// Confidence of the best intent, 0..=1.
    pub confidence: f32,
    /// Slots found in the text.
    pub slots: Slots,
    /// Runner-up intents with their confidences, to explain the decision.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<(String, f32)>,
    /// The example or keyword that decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The recognised intent's id (`None` for a fallback), what the engine routes on.
    #[serde(skip)]
    pub intent_id: Option<IntentId>,
}

impl Understanding {
    /// The recognised intent, or `None` for a fallback.
    pub fn intent(&self) -> Option<&str> {
        (self.intent != FALLBACK_INTENT).then_some(self.intent.as_str())
    }
}

/// A trained NLU for one set of intents (shared library plus a scenario's own).
pub struct Nlu {
    model: IntentModel,
    /// `affirm` and `deny`, resolved once at training for the yes/no correction.
    affirm: Option<IntentId>,
    deny: Option<IntentId>,
}

impl Nlu {
    /// Train from intent specs; `threshold` overrides the default confidence threshold.
    pub fn train(intents: &BTreeMap<String, IntentSpec>, threshold: Option<f32>) -> Nlu {
        Nlu::with_model(
            IntentModel::train(intents.iter().map(|(k, v)| (k.as_str(), v))),
            threshold,
        )
    }

    /// Train with each intent's id taken from `ids` (a library-wide table), so what it
    /// recognises can be matched against compiled flows by number. Intents missing from
    /// the table get ids after the table's.
    pub fn train_with_ids(
        intents: &BTreeMap<String, IntentSpec>,
        ids: &BTreeMap<String, IntentId>,
        threshold: Option<f32>,
    ) -> Nlu {
        let mut spare = ids.values().map(|i| i.0 + 1).max().unwrap_or(0);
        let numbered: Vec<(IntentId, &str, &IntentSpec)> = intents
            .iter()
            .map(|(name, spec)| {
                let id = ids.get(name).copied().unwrap_or_else(|| {
                    spare += 1;
                    IntentId(spare - 1)
                });
                (id, name.as_str(), spec)
            })
            .collect();
        Nlu::with_model(IntentModel::train_with_ids(numbered), threshold)
    }

    fn with_model(mut model: IntentModel, threshold: Option<f32>) -> Nlu {
        if let Some(t) = threshold {
            model = model.with_threshold(t);
        }
        Nlu {
            affirm: model.id_of("affirm"),
            deny: model.id_of("deny"),
            model,
        }
    }

    /// Understand one utterance. `today` anchors relative dates (明天, next Friday).
    pub fn understand(&self, text: &str, locale: Locale, today: NaiveDate) -> Understanding {
        let c = self.model.classify(text, locale);
        let slots = slots::extract_slots(text, locale, today);
        let (mut intent, mut intent_id) = match c.intent {
            Some(i) if i != OUT_OF_SCOPE => (i, c.intent_id),
            _ => (FALLBACK_INTENT.to_string(), None),
        };
        // The classifier can match "不行啊" on its "行啊" half; the rule-based yes/no reading
        // of the first clause knows the negation, so a plain yes/no intent follows it.
        let flipped = match (intent.as_str(), slots.yes_no) {
            ("affirm", Some(false)) => self.deny.map(|id| ("deny", id)),
            ("deny", Some(true)) => self.affirm.map(|id| ("affirm", id)),
            _ => None,
        };
        if let Some((name, id)) = flipped {
            intent = name.to_string();
            intent_id = Some(id);
        }
        Understanding {
            intent,
            confidence: c.confidence,
            slots,
            alternatives: c.alternatives,
            evidence: c.evidence,
            intent_id,
        }
    }
}
