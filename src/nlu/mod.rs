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
}

impl Nlu {
    /// Train from intent specs; `threshold` overrides the default confidence threshold.
    pub fn train(intents: &BTreeMap<String, IntentSpec>, threshold: Option<f32>) -> Nlu {
        let mut model = IntentModel::train(intents.iter().map(|(k, v)| (k.as_str(), v)));
        if let Some(t) = threshold {
            model = model.with_threshold(t);
        }
        Nlu { model }
    }

    /// Understand one utterance. `today` anchors relative dates (明天, next Friday).
    pub fn understand(&self, text: &str, locale: Locale, today: NaiveDate) -> Understanding {
        let c = self.model.classify(text, locale);
        let slots = slots::extract_slots(text, locale, today);
        let mut intent = match c.intent {
            Some(i) if i != OUT_OF_SCOPE => i,
            _ => FALLBACK_INTENT.to_string(),
        };
        // The classifier can match "不行啊" on its "行啊" half; the rule-based yes/no reading
        // of the first clause knows the negation, so a plain yes/no intent follows it.
        let flipped = match (intent.as_str(), slots.yes_no) {
            ("affirm", Some(false)) => Some("deny"),
            ("deny", Some(true)) => Some("affirm"),
            _ => None,
        };
        if let Some(f) = flipped.filter(|f| self.model.intents().any(|i| i == *f)) {
            intent = f.to_string();
        }
        Understanding {
            intent,
            confidence: c.confidence,
            slots,
            alternatives: c.alternatives,
            evidence: c.evidence,
        }
    }
}
