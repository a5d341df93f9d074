//! Yes / no cues: conservative, first decisive cue wins, questions give none.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Yn {
    Yes,
    No,
    Question,
    Skip,
}

/// Chinese cues, longest first where one contains another. Order matters: neutral and
/// question forms come before the yes/no cues they contain.
pub(super) const ZH_YN: &[(&str, Yn)] = &[
    ("不好意思", Yn::Skip),
    ("不知道", Yn::Skip),
    ("不清楚", Yn::Skip),
    ("不确定", Yn::Skip),
    ("不一定", Yn::Skip),
    ("不记得", Yn::Skip),
    ("对不起", Yn::Skip),
    ("是不是", Yn::Question),
    ("对不对", Yn::Question),
    ("好不好", Yn::Question),
    ("行不行", Yn::Question),
    ("可不可以", Yn::Question),
    ("能不能", Yn::Question),
    ("要不要", Yn::Question),
    ("有没有", Yn::Question),
    ("没什么问题", Yn::Yes),
    ("没有问题", Yn::Yes),
    ("没问题", Yn::Yes),
    ("没错", Yn::Yes),
    ("没毛病", Yn::Yes),
    ("不可以", Yn::No),
    ("不需要", Yn::No),
    ("不同意", Yn::No),
    ("不愿意", Yn::No),
    ("不是", Yn::No),
    ("不对", Yn::No),
    ("不行", Yn::No),
    ("不用", Yn::No),
    ("不要", Yn::No),
    ("没有", Yn::No),
    ("可以吗", Yn::Question),
    ("是吗", Yn::Question),
    ("对吗", Yn::Question),
    ("好吗", Yn::Question),
    ("行吗", Yn::Question),
    ("是么", Yn::Question),
    ("对么", Yn::Question),
    ("是否", Yn::Question),
    ("为什么", Yn::Question),
    ("为啥", Yn::Question),
    ("什么", Yn::Question),
    ("怎么", Yn::Question),
    ("多少", Yn::Question),
    ("几号", Yn::Question),
    ("谁", Yn::Question),
    ("哪", Yn::Question),
    ("对于", Yn::Skip),
    ("对方", Yn::Skip),
    ("对面", Yn::Skip),
    ("对象", Yn::Skip),
    ("银行", Yn::Skip),
    ("进行", Yn::Skip),
    ("执行", Yn::Skip),
    ("行为", Yn::Skip),
    ("还是", Yn::Skip),
    ("但是", Yn::Skip),
    ("可是", Yn::Skip),
    ("要是", Yn::Skip),
    ("只是", Yn::Skip),
    ("于是", Yn::Skip),
    ("总是", Yn::Skip),
    ("而是", Yn::Skip),
    ("老是", Yn::Skip),
    ("真是", Yn::Skip),
    ("像是", Yn::Skip),
    ("算是", Yn::Skip),
    ("倒是", Yn::Skip),
    ("好像", Yn::Skip),
    ("还好", Yn::Skip),
    ("最好", Yn::Skip),
    ("可能", Yn::Skip),
    ("是的", Yn::Yes),
    ("对的", Yn::Yes),
    ("好的", Yn::Yes),
    ("好吧", Yn::Yes),
    ("好啊", Yn::Yes),
    ("好呀", Yn::Yes),
    ("好嘞", Yn::Yes),
    ("行吧", Yn::Yes),
    ("行啊", Yn::Yes),
    ("可以", Yn::Yes),
    ("当然", Yn::Yes),
    ("同意", Yn::Yes),
    ("确认", Yn::Yes),
    ("就是我", Yn::Yes),
    ("我就是", Yn::Yes),
    ("是我", Yn::Yes),
    ("本人", Yn::Yes),
];

/// English cues (word-bounded), same ordering rule as [`ZH_YN`].
pub(super) const EN_YN: &[(&str, Yn)] = &[
    ("i don't really know", Yn::Skip),
    ("i dont really know", Yn::Skip),
    ("i really don't know", Yn::Skip),
    ("i don't know", Yn::Skip),
    ("i dont know", Yn::Skip),
    ("i do not know", Yn::Skip),
    ("i don't remember", Yn::Skip),
    ("i'm not sure", Yn::Skip),
    ("not sure", Yn::Skip),
    ("no problem", Yn::Yes),
    ("no worries", Yn::Yes),
    ("not a problem", Yn::Yes),
    ("that's not me", Yn::No),
    ("thats not me", Yn::No),
    ("that is not me", Yn::No),
    ("it's not me", Yn::No),
    ("that's not right", Yn::No),
    ("that's wrong", Yn::No),
    ("not really", Yn::No),
    ("not correct", Yn::No),
    ("not right", Yn::No),
    ("not me", Yn::No),
    ("i don't", Yn::No),
    ("i dont", Yn::No),
    ("i do not", Yn::No),
    ("incorrect", Yn::No),
    ("wrong number", Yn::No),
    ("wrong person", Yn::No),
    ("no way", Yn::No),
    ("no thanks", Yn::No),
    ("no thank you", Yn::No),
    ("nope", Yn::No),
    ("nah", Yn::No),
    ("that's right", Yn::Yes),
    ("thats right", Yn::Yes),
    ("that is right", Yn::Yes),
    ("that's me", Yn::Yes),
    ("thats me", Yn::Yes),
    ("it's me", Yn::Yes),
    ("this is he", Yn::Yes),
    ("this is him", Yn::Yes),
    ("this is she", Yn::Yes),
    ("this is her", Yn::Yes),
    ("this is me", Yn::Yes),
    ("speaking", Yn::Yes),
    ("of course", Yn::Yes),
    ("sounds good", Yn::Yes),
    ("go ahead", Yn::Yes),
    ("you got it", Yn::Yes),
    ("uh huh", Yn::Yes),
    ("mm hmm", Yn::Yes),
    ("mhm", Yn::Yes),
    ("yes", Yn::Yes),
    ("yeah", Yn::Yes),
    ("yep", Yn::Yes),
    ("yup", Yn::Yes),
    ("yea", Yn::Yes),
    ("sure", Yn::Yes),
    ("correct", Yn::Yes),
    ("ok", Yn::Yes),
    ("okay", Yn::Yes),
    ("alright", Yn::Yes),
    ("all right", Yn::Yes),
    ("absolutely", Yn::Yes),
    ("definitely", Yn::Yes),
    ("certainly", Yn::Yes),
    ("who", Yn::Question),
    ("what", Yn::Question),
    ("where", Yn::Question),
    ("when", Yn::Question),
    ("why", Yn::Question),
    ("how", Yn::Question),
    ("which", Yn::Question),
];

pub(super) const EN_CLAUSE_QUESTIONS: &[(&str, Yn)] = &[
    ("is this", Yn::Question),
    ("is it", Yn::Question),
    ("are you", Yn::Question),
    ("do you", Yn::Question),
    ("can you", Yn::Question),
    ("could you", Yn::Question),
    ("would you", Yn::Question),
];

pub(super) const ZH_FILLERS: &[(&str, ())] = &[
    ("就是说", ()),
    ("那个", ()),
    ("这个", ()),
    ("你好", ()),
    ("您好", ()),
    ("然后", ()),
    ("嗯", ()),
    ("恩", ()),
    ("呃", ()),
    ("额", ()),
    ("啊", ()),
    ("哦", ()),
    ("噢", ()),
    ("喔", ()),
    ("喂", ()),
    ("诶", ()),
    ("哎", ()),
    ("唉", ()),
];

pub(super) const EN_FILLERS: &[(&str, ())] = &[
    ("uh", ()),
    ("uhh", ()),
    ("um", ()),
    ("umm", ()),
    ("er", ()),
    ("erm", ()),
    ("hmm", ()),
    ("hm", ()),
    ("well", ()),
    ("oh", ()),
    ("so", ()),
    ("hello", ()),
    ("hi", ()),
    ("hey", ()),
];

pub(super) fn is_clause_break(c: char) -> bool {
    matches!(c, ' ' | ',' | '.' | '!' | ';' | '?' | '~')
}

/// A clause boundary at `i`: punctuation, or a space next to Chinese text (ASR output
/// spaces Chinese chunks; between English words a space is just a word gap).
pub(super) fn clause_break_at(t: &[char], i: usize) -> bool {
    match at(t, i) {
        Some(' ') => is_cjk(before(t, i)) || is_cjk(at(t, i + 1)),
        Some(c) => is_clause_break(c),
        None => true,
    }
}

/// Single-char cue (是/对/好/行) at a clause start, followed by something that keeps it
/// an answer ("是我", "对对", "好的") rather than the start of a sentence ("好多钱").
pub(super) fn zh_single_yes(t: &[char], i: usize) -> Option<usize> {
    let c = at(t, i)?;
    if !matches!(c, '是' | '对' | '好' | '行') {
        return None;
    }
    let ok = match at(t, i + 1) {
        None => true,
        Some(f) if is_clause_break(f) || f == c => true,
        Some(f) if "啊呀的吧嘞哈滴哒呢啦嘛".contains(f) => f != '嘛' || c != '是',
        Some(f) => matches!(c, '是' | '对') && "我是对本".contains(f),
    };
    ok.then_some(i + 1)
}

pub(super) fn yes_no_scan(t: &[char]) -> Option<bool> {
    let mut i = 0;
    let mut clause_start = true;
    // Where the current clause's first real word starts (after fillers).
    let mut clause_pos = 0;
    while let Some(c) = at(t, i) {
        if c == ' ' && !clause_break_at(t, i) {
            i += 1;
            continue;
        }
        if is_clause_break(c) {
            clause_start = true;
            i += 1;
            continue;
        }
        // Cue tables first ("uh huh" is a yes, not the filler "uh" + "huh").
        let table_hit = zl_pick(t, i, ZH_YN).or_else(|| el_pick(t, i, EN_YN));
        if table_hit.is_none() {
            if let Some((_, e)) = zl_pick(t, i, ZH_FILLERS).or_else(|| el_pick(t, i, EN_FILLERS)) {
                i = e;
                continue;
            }
        }
        if clause_start {
            clause_pos = i;
        }
        // 不用/不要/没有 are also ordinary verbs mid-sentence ("那个号好久不用了"): they
        // only answer at the head of a clause, optionally after 我.
        let head = clause_start || (i == clause_pos + 1 && at(t, clause_pos) == Some('我'));
        let table_hit = table_hit.filter(|&(v, e)| {
            v != Yn::No
                || head
                || !t
                    .get(i..e)
                    .is_some_and(|w| WEAK_NO.iter().any(|x| x.chars().eq(w.iter().copied())))
        });
        let hit = table_hit
            .or_else(|| {
                if clause_start {
                    el_pick(t, i, EN_CLAUSE_QUESTIONS)
                        .or_else(|| zh_single_yes(t, i).map(|e| (Yn::Yes, e)))
                } else {
                    None
                }
            })
            .or_else(|| en_no_at(t, i, clause_start).map(|e| (Yn::No, e)))
            .or_else(|| {
                // "right" alone is an answer; "right now" is not.
                let e = el(t, i, "right")?;
                (clause_start && skip_fill(t, e) >= t.len()).then_some((Yn::Yes, e))
            });
        match hit {
            Some((Yn::Skip, e)) => {
                i = e;
                clause_start = false;
            }
            Some((Yn::Question, _)) => return None,
            Some((v, e)) => {
                return if clause_is_question(t, e) {
                    None
                } else {
                    Some(v == Yn::Yes)
                };
            }
            None => {
                clause_start = false;
                i = next_start(t, i);
            }
        }
    }
    only_mm(t).then_some(true)
}

pub(super) const WEAK_NO: &[&str] = &["不用", "不要", "没有", "不需要"];

/// "no" is a determiner too ("I have no money"): it only counts at a clause start or as
/// the last word.
pub(super) fn en_no_at(t: &[char], i: usize, clause_start: bool) -> Option<usize> {
    let e = el(t, i, "no")?;
    (clause_start || skip_fill(t, e) >= t.len()).then_some(e)
}

/// The clause that holds the cue ends in 吗/么 or '?': it is being asked, not answered.
pub(super) fn clause_is_question(t: &[char], mut e: usize) -> bool {
    while let Some(c) = at(t, e) {
        if c == '?' {
            return true;
        }
        if clause_break_at(t, e) {
            break;
        }
        e += 1;
    }
    matches!(before(t, e), Some('吗' | '么'))
}

/// The utterance is nothing but 嗯 (and punctuation): a murmured yes.
pub(super) fn only_mm(t: &[char]) -> bool {
    let mut seen = false;
    let mut i = 0;
    while let Some(c) = at(t, i) {
        if c == '嗯' || c == '恩' {
            seen = true;
            i += 1;
        } else if is_clause_break(c) {
            i += 1;
        } else if let Some((_, e)) = el_pick(t, i, &[("mm", ()), ("mmm", ()), ("en", ())]) {
            seen = true;
            i = e;
        } else {
            return false;
        }
    }
    seen
}
