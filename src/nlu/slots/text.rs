//! Normalisation and the char-level helpers every recogniser reads the text with.

use super::*;

pub(super) fn normalize(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(text.len().min(MAX_CHARS));
    for ch in text.chars().take(MAX_CHARS) {
        let ch = match ch {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(' '),
            '￥' => '¥',
            '。' => '.',
            '、' => ',',
            '‘' | '’' | '`' | '´' => '\'',
            '“' | '”' | '"' | '「' | '」' | '《' | '》' | '【' | '】' => ' ',
            '—' | '–' | '‐' | '‑' => '-',
            '…' => '.',
            c if c.is_whitespace() || c.is_control() => ' ',
            c => c,
        };
        let ch = ch.to_ascii_lowercase();
        if ch == ' ' && out.last().is_none_or(|&p| p == ' ') {
            continue;
        }
        out.push(ch);
    }
    while out.last() == Some(&' ') {
        out.pop();
    }
    out
}

pub(super) fn at(t: &[char], i: usize) -> Option<char> {
    t.get(i).copied()
}

pub(super) fn before(t: &[char], i: usize) -> Option<char> {
    i.checked_sub(1).and_then(|k| at(t, k))
}

pub(super) fn skip_sp(t: &[char], mut i: usize) -> usize {
    while at(t, i) == Some(' ') {
        i += 1;
    }
    i
}

pub(super) fn is_alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

pub(super) fn is_cjk(c: Option<char>) -> bool {
    c.is_some_and(|c| ('\u{3400}'..='\u{9FFF}').contains(&c))
}

pub(super) fn word_start(t: &[char], i: usize) -> bool {
    !is_alnum(before(t, i))
}

/// Chinese literal: the pattern's chars in order; spaces in the text between them ignored.
pub(super) fn zl(t: &[char], i: usize, pat: &str) -> Option<usize> {
    let mut j = i;
    for (k, p) in pat.chars().enumerate() {
        if k > 0 {
            j = skip_sp(t, j);
        }
        if at(t, j)? != p {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// First pattern of `table` (put longer ones first) that matches at `i`, Chinese style.
pub(super) fn zl_pick<V: Copy>(t: &[char], i: usize, table: &[(&str, V)]) -> Option<(V, usize)> {
    table.iter().find_map(|&(p, v)| zl(t, i, p).map(|e| (v, e)))
}

/// English phrase at a word start: a pattern space matches spaces or a hyphen; the phrase
/// must end at a word boundary.
pub(super) fn el(t: &[char], i: usize, pat: &str) -> Option<usize> {
    if !word_start(t, i) {
        return None;
    }
    let mut j = i;
    for p in pat.chars() {
        if p == ' ' {
            let c = at(t, j)?;
            if c != ' ' && c != '-' {
                return None;
            }
            j = skip_sp(t, j + 1);
        } else {
            if at(t, j)? != p {
                return None;
            }
            j += 1;
        }
    }
    if is_alnum(at(t, j)) {
        return None;
    }
    Some(j)
}

/// First English phrase of `table` that matches at `i`.
pub(super) fn el_pick<V: Copy>(t: &[char], i: usize, table: &[(&str, V)]) -> Option<(V, usize)> {
    if !is_alnum(at(t, i)) || !word_start(t, i) {
        return None;
    }
    table.iter().find_map(|&(p, v)| el(t, i, p).map(|e| (v, e)))
}

/// Where the lexer tries next after a failure: skip a whole ASCII word/number at once.
pub(super) fn next_start(t: &[char], i: usize) -> usize {
    if is_alnum(at(t, i)) {
        let mut j = i;
        while is_alnum(at(t, j)) {
            j += 1;
        }
        j
    } else {
        i + 1
    }
}

/// End of the previous ASCII word before `i` (skipping spaces), with its start.
pub(super) fn prev_word(t: &[char], i: usize) -> Option<(usize, usize)> {
    let mut e = i;
    while e > 0 && at(t, e - 1) == Some(' ') {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && (is_alnum(at(t, s - 1)) || at(t, s - 1) == Some('\'')) {
        s -= 1;
    }
    (s < e).then_some((s, e))
}

pub(super) fn slice_is(t: &[char], s: usize, e: usize, w: &str) -> bool {
    t.get(s..e).is_some_and(|x| x.iter().copied().eq(w.chars()))
}
