//! The language layer: the closed set of locales, numbers, amounts and dates as words
//! (`verbalise`), TTS text normalisation and sentence chunks (`normalise`), and Mandarin
//! pinyin with tone sandhi (`pinyin`). Pure functions, no I/O: prompts, the NLU and the
//! voices all read numbers the same way through here.

pub mod locale;
pub mod normalise;
pub mod pinyin;
pub mod redact;
pub mod verbalise;

pub use locale::{Locale, UnknownLocale};
