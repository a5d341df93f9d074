//! Phone-number tails after a tail cue, or a whole utterance of four digits.

use super::*;

pub(super) const ZH_TAIL_CUES: &[(&str, ())] = &[
    ("最后四位", ()),
    ("最后4位", ()),
    ("最后几位", ()),
    ("后四位", ()),
    ("后4位", ()),
    ("后几位", ()),
    ("末四位", ()),
    ("末4位", ()),
    ("尾号", ()),
    ("尾数", ()),
];

pub(super) const EN_TAIL_CUES: &[(&str, ())] = &[
    ("last four", ()),
    ("last 4", ()),
    ("final four", ()),
    ("last digits", ()),
    ("ending in", ()),
    ("ending with", ()),
    ("ends in", ()),
    ("ends with", ()),
    ("end in", ()),
    ("end with", ()),
];

pub(super) const TAIL_FILLERS_ZH: &[(&str, ())] = &[
    ("号码", ()),
    ("数字", ()),
    ("就是", ()),
    ("那个", ()),
    ("是", ()),
    ("为", ()),
    ("的", ()),
    ("嗯", ()),
    ("呃", ()),
    (":", ()),
    (",", ()),
];

pub(super) const TAIL_FILLERS_EN: &[(&str, ())] = &[
    ("digits", ()),
    ("digit", ()),
    ("numbers", ()),
    ("number", ()),
    ("are", ()),
    ("is", ()),
    ("of", ()),
    ("my", ()),
    ("the", ()),
    ("phone", ()),
    ("cell", ()),
    ("card", ()),
    ("it's", ()),
    ("its", ()),
    ("it", ()),
    ("was", ()),
    ("should", ()),
    ("be", ()),
    ("uh", ()),
    ("um", ()),
];

pub(super) fn tail_after_cue(t: &[char], i: usize, e: usize) -> Option<Mention> {
    let mut q = skip_sp(t, e);
    for _ in 0..8 {
        match zl_pick(t, q, TAIL_FILLERS_ZH).or_else(|| el_pick(t, q, TAIL_FILLERS_EN)) {
            Some((_, x)) => q = skip_sp(t, x),
            None => break,
        }
    }
    let (s, end) = read_digit_seq(t, q)?;
    (3..=6).contains(&s.len()).then(|| Mention {
        start: i,
        end,
        tail: Some(s),
        ..Mention::default()
    })
}

pub(super) fn zh_tail_at(t: &[char], i: usize) -> Option<Mention> {
    if let Some((_, e)) = zl_pick(t, i, ZH_TAIL_CUES) {
        return tail_after_cue(t, i, e);
    }
    // Weak cue: "手机号是1234": a phone word then exactly four digits.
    let (_, e) = zl_pick(
        t,
        i,
        &[("手机号", ()), ("手机", ()), ("号码", ()), ("电话", ())],
    )?;
    tail_after_cue(t, i, e).filter(|m| m.tail.as_ref().is_some_and(|s| s.len() == 4))
}

pub(super) fn en_tail_at(t: &[char], i: usize) -> Option<Mention> {
    if let Some((_, e)) = el_pick(t, i, EN_TAIL_CUES) {
        return tail_after_cue(t, i, e);
    }
    // Weak cue: "my work phone, it's 3721" - a phone word then exactly four digits.
    let (_, e) = el_pick(t, i, &[("phone", ()), ("number", ()), ("digits", ())])?;
    tail_after_cue(t, i, e).filter(|m| m.tail.as_ref().is_some_and(|s| s.len() == 4))
}

pub(super) const EN_DIGIT_WORDS: &[(&str, char)] = &[
    ("zero", '0'),
    ("oh", '0'),
    ("o", '0'),
    ("one", '1'),
    ("two", '2'),
    ("three", '3'),
    ("four", '4'),
    ("five", '5'),
    ("six", '6'),
    ("seven", '7'),
    ("eight", '8'),
    ("nine", '9'),
];

/// Digits read one by one: "1234", "12 34", "幺二三四", "one two three four",
/// "twelve thirty-four", "double five". Stops at anything else.
pub(super) fn read_digit_seq(t: &[char], i: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut end = i;
    let mut j = i;
    loop {
        let mut k = j;
        if !s.is_empty() {
            while matches!(at(t, k), Some(' ' | ',' | '-' | '.')) {
                k += 1;
            }
        }
        if let Some(d) = at(t, k).and_then(digit_val) {
            s.push(char::from_digit(d, 10)?);
            end = k + 1;
        } else if let Some((d, e)) = el_pick(t, k, EN_DIGIT_WORDS) {
            s.push(d);
            end = e;
        } else if let Some((v, e)) = el_pick(t, k, EN_TEENS) {
            s.push_str(&v.to_string());
            end = e;
        } else if let Some((v, e)) = el_pick(t, k, EN_TENS) {
            let q = skip_sp_dash(t, e);
            match el_pick(t, q, EN_DIGIT_WORDS).filter(|(d, _)| *d != '0') {
                Some((d, e2)) => {
                    s.push_str(&(v / 10).to_string());
                    s.push(d);
                    end = e2;
                }
                None => {
                    s.push_str(&v.to_string());
                    end = e;
                }
            }
        } else if let Some((n, e)) = el_pick(t, k, &[("double", 2usize), ("triple", 3)]) {
            let (d, e2) = el_pick(t, skip_sp(t, e), EN_DIGIT_WORDS).or_else(|| {
                at(t, skip_sp(t, e))
                    .filter(char::is_ascii_digit)
                    .map(|c| (c, skip_sp(t, e) + 1))
            })?;
            for _ in 0..n {
                s.push(d);
            }
            end = e2;
        } else {
            break;
        }
        j = end;
        if s.len() > 16 {
            return None;
        }
    }
    (!s.is_empty()).then_some((s, end))
}

pub(super) fn is_filler_char(c: char) -> bool {
    matches!(
        c,
        ' ' | ',' | '.' | '!' | '?' | ';' | '嗯' | '呃' | '啊' | '吧' | '哦' | '额'
    )
}

pub(super) const WHOLE_FILLERS: &[(&str, ())] = &[
    ("应该是", ()),
    ("好像是", ()),
    ("好像", ()),
    ("就是", ()),
    ("那个", ()),
    ("是", ()),
    ("那", ()),
    ("呢", ()),
];

pub(super) fn skip_fill(t: &[char], mut i: usize) -> usize {
    loop {
        if at(t, i).is_some_and(is_filler_char) {
            i += 1;
        } else if let Some((_, e)) = zl_pick(t, i, WHOLE_FILLERS).or_else(|| {
            el_pick(
                t,
                i,
                &[
                    ("uh", ()),
                    ("um", ()),
                    ("umm", ()),
                    ("it's", ()),
                    ("its", ()),
                    ("it is", ()),
                ],
            )
        }) {
            i = e;
        } else {
            return i;
        }
    }
}

/// The whole utterance is exactly four digits ("1234", "幺二三四", "one two three four").
pub(super) fn whole_utterance_digits(t: &[char]) -> Option<String> {
    let i = skip_fill(t, 0);
    let (s, e) = read_digit_seq(t, i)?;
    (skip_fill(t, e) >= t.len() && s.len() == 4).then_some(s)
}
