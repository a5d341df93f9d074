//! TTS text front end (placeholder until the normaliser lands).
use crate::Locale;
/// Words for the TTS engine.
pub fn normalize(text: &str, _locale: Locale) -> String {
    text.to_string()
}
/// TTS chunks.
pub fn sentences(text: &str, _locale: Locale) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if matches!(c, '。' | '！' | '？' | '.' | '!' | '?') {
            out.push(std::mem::take(&mut cur).trim().to_string());
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}
