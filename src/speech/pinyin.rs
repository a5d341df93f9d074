//! Mandarin front end (placeholder until the pinyin converter lands).
/// espeak-ng cmn-latn-pinyin input.
pub fn to_pinyin(zh: &str) -> String {
    zh.to_string()
}
