//! PLACEHOLDER until the real classifier lands (same API).
use crate::locale::Locale;
use std::collections::BTreeMap;

/// One intent as written in YAML.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    /// What the intent means.
    #[serde(default)]
    pub description: Option<String>,
    /// Examples per locale.
    #[serde(default)]
    pub examples: BTreeMap<Locale, Vec<String>>,
    /// Keywords per locale.
    #[serde(default)]
    pub keywords: BTreeMap<Locale, Vec<String>>,
}

/// Result of classifying one utterance.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Classification {
    /// Best intent or None.
    pub intent: Option<String>,
    /// Confidence.
    pub confidence: f32,
    /// Runners-up.
    pub alternatives: Vec<(String, f32)>,
    /// Why.
    pub evidence: Option<String>,
}

/// Classifier.
pub struct IntentModel {
    ex: Vec<(String, Locale, String)>,
    threshold: f32,
}

impl IntentModel {
    /// Default threshold.
    pub const DEFAULT_THRESHOLD: f32 = 0.5;
    /// Train.
    pub fn train<'a>(intents: impl IntoIterator<Item = (&'a str, &'a IntentSpec)>) -> IntentModel {
        let mut ex = Vec::new();
        for (n, s) in intents {
            for (l, e) in &s.examples {
                for t in e {
                    ex.push((n.to_string(), *l, t.clone()));
                }
            }
        }
        IntentModel { ex, threshold: Self::DEFAULT_THRESHOLD }
    }
    /// Threshold.
    pub fn with_threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }
    /// Classify.
    pub fn classify(&self, text: &str, locale: Locale) -> Classification {
        for (n, l, t) in &self.ex {
            if *l == locale && t == text.trim() {
                return Classification { intent: Some(n.clone()), confidence: 1.0, alternatives: vec![], evidence: Some(t.clone()) };
            }
        }
        Classification { intent: None, confidence: 0.0, alternatives: vec![], evidence: None }
    }
    /// Names.
    pub fn intents(&self) -> impl Iterator<Item = &str> {
        self.ex.iter().map(|e| e.0.as_str())
    }
}
