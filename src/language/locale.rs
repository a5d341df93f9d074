//! The two locales every scenario carries. Kept as a closed enum so a typo in YAML
//! (`zh_CN`, `en`) is a load error with a position, not a silently missing prompt.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A supported conversation locale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Locale {
    /// Mandarin Chinese, simplified characters: the primary market.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// US English.
    #[serde(rename = "en-US")]
    EnUs,
}

impl Locale {
    /// All locales, in the order prompts are checked and reported.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::EnUs];

    /// The BCP 47 tag used in YAML and on the command line.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::EnUs => "en-US",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Error for a locale tag we do not support.
#[derive(Debug, thiserror::Error)]
#[error("unknown locale `{0}` (supported: zh-CN, en-US)")]
pub struct UnknownLocale(pub String);

impl FromStr for Locale {
    type Err = UnknownLocale;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "zh-cn" | "zh" | "cmn" => Ok(Locale::ZhCn),
            "en-us" | "en" => Ok(Locale::EnUs),
            _ => Err(UnknownLocale(s.to_string())),
        }
    }
}
