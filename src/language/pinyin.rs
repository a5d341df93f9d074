//! Mandarin front end for espeak-ng's `cmn-latn-pinyin` voice: Han text in, tone-numbered
//! pinyin out.
//!
//! espeak-ng's `cmn` voice guesses Han readings and gets many tones wrong; fed pinyin
//! with tone numbers it speaks the tones we choose. Per-character readings come from the
//! `pinyin` crate (its first reading for each character); on top of that this module
//! adds what a bank or collection call needs:
//!
//! * a phrase table, matched longest first from the left, for polyphones (还款 huan2,
//!   还是 hai2, 银行 hang2, 重新 chong2, 利率 lv4, 得到 de2, 了解 liao3…) and common
//!   neutral tones (谢谢 xie4 xie5, 先生 xian1 sheng5);
//! * context rules: 得 dei3 after a pronoun or adverb (我得, 就得), de5 otherwise;
//! * a few per-character defaults where the crate's first reading is the rarer one in
//!   our prompts (长 chang2, 得 de5, 嗯 en4);
//! * 为 wei2 when it states a value (金额为, 改为, 为 + number), wei4 otherwise;
//! * 一/不 tone sandhi, which espeak-ng does not do (checked with `espeak-ng -x`):
//!   一 yi2 before tone 4, yi4 before tones 1–3, yi1 alone, at the end, in ordinals
//!   (第一), dates (一月, 一日) and digit strings; 不 bu2 before tone 4; both neutral
//!   between a repeated verb (是不是, 看一看). Readings from the phrase table are final.
//! * 3-3 sandhi is left to espeak-ng: `ni3 hao3` already comes out as 35 214, and the
//!   phrase boundaries it needs are the punctuation we keep.
//!
//! Output format, as the voice wants it: syllables separated by spaces, tone 1–4 or 5
//! (neutral; a syllable without a digit is read as tone 1), ü written `v` (`lv4`, `nv3`,
//! `lve4`), `，、：；` as `,`, `。…` as `.`, `！` and `？` kept. ASCII words pass through
//! (espeak-ng switches to English for them); all-caps acronyms of 2–5 letters are
//! spelled (`A P P`, `V I P`) because that is how they are said in Mandarin, except `OK`.
//! Characters with no reading (emoji, other scripts) are dropped.

use std::collections::HashMap;
use std::sync::OnceLock;

use pinyin::ToPinyin;

/// Converts normalised Chinese text (see `text::normalize`) into espeak-ng
/// `cmn-latn-pinyin` input. Never panics; unknown characters are dropped.
pub fn to_pinyin(zh_text: &str) -> String {
    let tokens = tokenize(zh_text);
    let tokens = apply_context_rules(tokens);
    render(&tokens)
}

/// Phrase readings, for polyphones and neutral tones the per-character data gets wrong
/// in bank and collection prompts. One syllable per character.
const PHRASES: &[(&str, &str)] = &[
    // 还: huan2 (repay) vs hai2 (still).
    ("还款", "huan2 kuan3"),
    ("还钱", "huan2 qian2"),
    ("还清", "huan2 qing1"),
    ("还上", "huan2 shang4"),
    ("还贷", "huan2 dai4"),
    ("还本", "huan2 ben3"),
    ("还息", "huan2 xi1"),
    ("还给", "huan2 gei3"),
    ("还完", "huan2 wan2"),
    ("还了", "huan2 le5"),
    ("还一下", "huan2 yi2 xia4"),
    ("还多少", "huan2 duo1 shao3"),
    ("还过", "huan2 guo4"),
    ("先还", "xian1 huan2"),
    ("还不上", "huan2 bu5 shang4"),
    ("还不起", "huan2 bu5 qi3"),
    ("还不了", "huan2 bu5 liao3"),
    ("还得上", "huan2 de5 shang4"),
    ("还得起", "huan2 de5 qi3"),
    ("偿还", "chang2 huan2"),
    ("归还", "gui1 huan2"),
    ("应还", "ying1 huan2"),
    ("已还", "yi3 huan2"),
    ("未还", "wei4 huan2"),
    ("待还", "dai4 huan2"),
    ("欠还", "qian4 huan2"),
    ("退还", "tui4 huan2"),
    ("还是", "hai2 shi4"),
    ("还有", "hai2 you3"),
    ("还没", "hai2 mei2"),
    ("还要", "hai2 yao4"),
    ("还需", "hai2 xu1"),
    ("还可以", "hai2 ke3 yi3"),
    ("还在", "hai2 zai4"),
    ("还得", "hai2 dei3"),
    ("还剩", "hai2 sheng4"),
    ("还差", "hai2 cha4"),
    // 行: hang2 (bank, trade) vs xing2.
    ("银行", "yin2 hang2"),
    ("行长", "hang2 zhang3"),
    ("行业", "hang2 ye4"),
    ("行情", "hang2 qing2"),
    ("分行", "fen1 hang2"),
    ("支行", "zhi1 hang2"),
    ("总行", "zong3 hang2"),
    ("本行", "ben3 hang2"),
    ("我行", "wo3 hang2"),
    ("贵行", "gui4 hang2"),
    ("该行", "gai1 hang2"),
    ("工行", "gong1 hang2"),
    ("农行", "nong2 hang2"),
    ("中行", "zhong1 hang2"),
    ("建行", "jian4 hang2"),
    ("交行", "jiao1 hang2"),
    ("招行", "zhao1 hang2"),
    ("行为", "xing2 wei2"),
    ("进行", "jin4 xing2"),
    ("执行", "zhi2 xing2"),
    ("履行", "lv3 xing2"),
    ("发行", "fa1 xing2"),
    // 重: chong2 (again) vs zhong4.
    ("重新", "chong2 xin1"),
    ("重复", "chong2 fu4"),
    ("重置", "chong2 zhi4"),
    ("重拨", "chong2 bo1"),
    ("重试", "chong2 shi4"),
    ("重发", "chong2 fa1"),
    ("重组", "chong2 zu3"),
    ("重申", "chong2 shen1"),
    ("重要", "zhong4 yao4"),
    ("严重", "yan2 zhong4"),
    // 长: zhang3 in titles and growth (the default here is chang2).
    ("长期", "chang2 qi1"),
    ("增长", "zeng1 zhang3"),
    ("成长", "cheng2 zhang3"),
    ("家长", "jia1 zhang3"),
    ("董事长", "dong3 shi4 zhang3"),
    ("部长", "bu4 zhang3"),
    ("科长", "ke1 zhang3"),
    ("组长", "zu3 zhang3"),
    ("队长", "dui4 zhang3"),
    ("校长", "xiao4 zhang3"),
    ("院长", "yuan4 zhang3"),
    ("局长", "ju2 zhang3"),
    ("处长", "chu4 zhang3"),
    ("长大", "zhang3 da4"),
    // 分, 期, 本金, 率, 逾期.
    ("分期", "fen1 qi1"),
    ("部分", "bu4 fen5"),
    ("充分", "chong1 fen4"),
    ("过分", "guo4 fen4"),
    ("本金", "ben3 jin1"),
    ("利率", "li4 lv4"),
    ("汇率", "hui4 lv4"),
    ("费率", "fei4 lv4"),
    ("效率", "xiao4 lv4"),
    ("概率", "gai4 lv4"),
    ("比率", "bi3 lv4"),
    ("率先", "shuai4 xian1"),
    ("逾期", "yu2 qi1"),
    // 乐.
    ("快乐", "kuai4 le4"),
    ("乐意", "le4 yi4"),
    ("音乐", "yin1 yue4"),
    // 得: de5 by default here; de2 (obtain) and dei3 (must).
    ("得到", "de2 dao4"),
    ("获得", "huo4 de2"),
    ("取得", "qu3 de2"),
    ("得知", "de2 zhi1"),
    ("所得", "suo3 de2"),
    ("得以", "de2 yi3"),
    ("记得", "ji4 de5"),
    ("觉得", "jue2 de5"),
    ("值得", "zhi2 de5"),
    ("懂得", "dong3 de5"),
    ("晓得", "xiao3 de5"),
    ("得尽快", "dei3 jin3 kuai4"),
    ("得马上", "dei3 ma3 shang4"),
    ("得赶紧", "dei3 gan3 jin3"),
    ("得按时", "dei3 an4 shi2"),
    ("得先", "dei3 xian1"),
    ("就得", "jiu4 dei3"),
    ("必须得", "bi4 xu1 dei3"),
    // 了: le5 by default; liao3.
    ("了解", "liao3 jie3"),
    ("了结", "liao3 jie2"),
    ("明了", "ming2 liao3"),
    ("受不了", "shou4 bu5 liao3"),
    ("免不了", "mian3 bu5 liao3"),
    ("了不起", "liao3 bu5 qi3"),
    ("为了", "wei4 le5"),
    // 的 and 地.
    ("目的", "mu4 di4"),
    ("的确", "di2 que4"),
    ("地址", "di4 zhi3"),
    ("当地", "dang1 di4"),
    ("地方", "di4 fang5"),
    ("认真地", "ren4 zhen1 de5"),
    ("及时地", "ji2 shi2 de5"),
    ("按时地", "an4 shi2 de5"),
    ("准时地", "zhun3 shi2 de5"),
    ("尽快地", "jin3 kuai4 de5"),
    ("主动地", "zhu3 dong4 de5"),
    ("积极地", "ji1 ji2 de5"),
    ("耐心地", "nai4 xin1 de5"),
    ("逐步地", "zhu2 bu4 de5"),
    ("慢慢地", "man4 man4 de5"),
    // 为, 应, 处, 调, 差, 更, 当, 假, 着, 便, 干, 子.
    ("因为", "yin1 wei4"),
    ("作为", "zuo4 wei2"),
    ("认为", "ren4 wei2"),
    ("成为", "cheng2 wei2"),
    ("视为", "shi4 wei2"),
    ("应该", "ying1 gai1"),
    ("应当", "ying1 dang1"),
    ("应用", "ying4 yong4"),
    ("回应", "hui2 ying4"),
    ("答应", "da1 ying5"),
    ("对应", "dui4 ying4"),
    ("相应", "xiang1 ying4"),
    ("处理", "chu3 li3"),
    ("调整", "tiao2 zheng3"),
    ("协调", "xie2 tiao2"),
    ("差额", "cha1 e2"),
    ("差异", "cha1 yi4"),
    ("误差", "wu4 cha1"),
    ("差不多", "cha4 bu5 duo1"),
    ("出差", "chu1 chai1"),
    ("更新", "geng1 xin1"),
    ("变更", "bian4 geng1"),
    ("更改", "geng1 gai3"),
    ("更换", "geng1 huan4"),
    ("适当", "shi4 dang4"),
    ("上当", "shang4 dang4"),
    ("当作", "dang4 zuo4"),
    ("假期", "jia4 qi1"),
    ("放假", "fang4 jia4"),
    ("请假", "qing3 jia4"),
    ("着急", "zhao2 ji2"),
    ("便宜", "pian2 yi5"),
    ("干净", "gan1 jing4"),
    ("没空", "mei2 kong4"),
    ("有空", "you3 kong4"),
    ("空闲", "kong4 xian2"),
    ("电子", "dian4 zi3"),
    ("子女", "zi3 nv3"),
    ("曾经", "ceng2 jing1"),
    ("要求", "yao1 qiu2"),
    ("星期一", "xing1 qi1 yi1"),
    ("周一", "zhou1 yi1"),
    ("统一", "tong3 yi1"),
    ("唯一", "wei2 yi1"),
    ("逐一", "zhu2 yi1"),
    ("之一", "zhi1 yi1"),
    // 不 neutral in set phrases.
    ("对不起", "dui4 bu5 qi3"),
    ("来不及", "lai2 bu5 ji2"),
    ("不得不", "bu4 de2 bu4"),
    // Neutral tones agents say every call.
    ("谢谢", "xie4 xie5"),
    ("先生", "xian1 sheng5"),
    ("时候", "shi2 hou5"),
    ("什么", "shen2 me5"),
    ("怎么", "zen3 me5"),
    ("这么", "zhe4 me5"),
    ("那么", "na4 me5"),
    ("麻烦", "ma2 fan5"),
    ("清楚", "qing1 chu5"),
    ("明白", "ming2 bai5"),
    ("知道", "zhi1 dao5"),
    ("意思", "yi4 si5"),
    ("客气", "ke4 qi5"),
    ("告诉", "gao4 su5"),
    ("事情", "shi4 qing5"),
    ("关系", "guan1 xi5"),
    ("打算", "da3 suan5"),
    ("消息", "xiao1 xi5"),
    ("名字", "ming2 zi5"),
    ("累计", "lei3 ji4"),
    ("累积", "lei3 ji1"),
    ("给予", "ji3 yu3"),
    ("会计", "kuai4 ji4"),
    ("发卡行", "fa1 ka3 hang2"),
    ("多少", "duo1 shao3"),
];

/// Characters whose most frequent reading in our prompts is not the crate's first one.
const CHAR_DEFAULTS: &[(char, &str)] = &[
    ('长', "chang2"),
    ('得', "de5"),
    ('嗯', "en4"),
    ('欸', "ei4"),
];

/// Acronyms said as words, not spelled.
const WORD_ACRONYMS: &[&str] = &["OK"];

struct Table {
    phrases: HashMap<&'static str, Vec<&'static str>>,
    chars: HashMap<char, &'static str>,
    max_len: usize,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut phrases = HashMap::new();
        let mut max_len = 1;
        for (phrase, syllables) in PHRASES {
            let syl: Vec<&str> = syllables.split_whitespace().collect();
            // A malformed entry would misalign readings; skip it (a test pins them all).
            if syl.len() == phrase.chars().count() {
                max_len = max_len.max(syl.len());
                phrases.insert(*phrase, syl);
            }
        }
        Table {
            phrases,
            chars: CHAR_DEFAULTS.iter().copied().collect(),
            max_len,
        }
    })
}

/// Pause strength, so a run of punctuation collapses to the strongest mark.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Pause {
    Comma,
    Period,
    Exclaim,
    Question,
}

impl Pause {
    fn mark(self) -> char {
        match self {
            Pause::Comma => ',',
            Pause::Period => '.',
            Pause::Exclaim => '!',
            Pause::Question => '?',
        }
    }
}

#[derive(Debug)]
enum Token {
    Syllable {
        ch: char,
        text: String,
        /// From the phrase table: sandhi must not touch it.
        fixed: bool,
    },
    Word(String),
    Pause(Pause),
    /// A space or dropped symbol: ends an ASCII word, no pause.
    Break,
}

fn pause_of(c: char) -> Option<Pause> {
    Some(match c {
        '，' | ',' | '、' | '：' | ':' | '；' | ';' | '—' | '～' | '~' | '（' | '）' | '('
        | ')' => Pause::Comma,
        '。' | '.' | '…' | '\n' | '．' => Pause::Period,
        '！' | '!' => Pause::Exclaim,
        '？' | '?' => Pause::Question,
        _ => return None,
    })
}

/// Rewrites a crate reading (`lü4`, `le`, `n2`) into the voice's spelling; `None` for
/// anything the voice could not read, so it is dropped rather than spelled out.
fn espeak_syllable(raw: &str) -> Option<String> {
    let (base, tone) = match raw.char_indices().last() {
        Some((k, d)) if d.is_ascii_digit() => (raw.get(..k)?, d),
        _ => (raw, '5'),
    };
    let mut s: String = base
        .chars()
        .map(|c| if c == 'ü' { 'v' } else { c })
        .collect::<String>()
        .replace('ê', "ei");
    // espeak-ng has no syllabic n/m: `n2` and `m2` come out toneless.
    match s.as_str() {
        "n" | "ng" => s = "en".to_string(),
        "m" => s = "mu".to_string(),
        _ => {}
    }
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    s.push(tone);
    Some(s)
}

fn char_reading(c: char) -> Option<String> {
    if let Some(r) = table().chars.get(&c) {
        return Some((*r).to_string());
    }
    c.to_pinyin()
        .and_then(|p| espeak_syllable(p.with_tone_num_end()))
}

/// Full-width letters and digits typed on a Chinese IME read as their ASCII forms.
fn fold_ascii(c: char) -> char {
    match c {
        '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().map(fold_ascii).collect();
    let t = table();
    let mut tokens = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphanumeric() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || (matches!(chars[i], '\'' | '.')
                        && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric())
                        && i > start))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            push_word(&mut tokens, &word);
            continue;
        }
        if let Some(p) = pause_of(c) {
            tokens.push(Token::Pause(p));
            i += 1;
            continue;
        }
        if let Some((len, syllables)) = longest_phrase(t, &chars, i) {
            for (k, s) in syllables.iter().enumerate() {
                tokens.push(Token::Syllable {
                    ch: chars.get(i + k).copied().unwrap_or(c),
                    text: (*s).to_string(),
                    fixed: true,
                });
            }
            i += len;
            continue;
        }
        match char_reading(c) {
            Some(text) => tokens.push(Token::Syllable {
                ch: c,
                text,
                fixed: false,
            }),
            None => tokens.push(Token::Break),
        }
        i += 1;
    }
    tokens
}

fn longest_phrase(
    t: &'static Table,
    chars: &[char],
    i: usize,
) -> Option<(usize, &'static Vec<&'static str>)> {
    let max = t.max_len.min(chars.len().saturating_sub(i));
    (2..=max).rev().find_map(|len| {
        let s: String = chars.get(i..i + len)?.iter().collect();
        t.phrases.get(s.as_str()).map(|syl| (len, syl))
    })
}

fn push_word(tokens: &mut Vec<Token>, word: &str) {
    let letters = word.chars().all(|c| c.is_ascii_uppercase());
    let n = word.chars().count();
    if letters && (2..=5).contains(&n) && !WORD_ACRONYMS.contains(&word) {
        // Said letter by letter in Mandarin (A-P-P); espeak-ng would read "app".
        for c in word.chars() {
            tokens.push(Token::Word(c.to_string()));
        }
    } else {
        tokens.push(Token::Word(word.to_string()));
    }
}

fn tone(text: &str) -> Option<char> {
    text.chars().last().filter(char::is_ascii_digit)
}

/// Characters that make a following or preceding 一 a plain number (一月, 第一, 一二三).
fn is_numeral(c: char) -> bool {
    matches!(
        c,
        '零' | '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九' | '两' | '幺'
    )
}

fn apply_context_rules(mut tokens: Vec<Token>) -> Vec<Token> {
    for k in 0..tokens.len() {
        let (ch, fixed) = match &tokens[k] {
            Token::Syllable { ch, fixed, .. } => (*ch, *fixed),
            _ => continue,
        };
        if fixed || !matches!(ch, '一' | '不' | '为' | '得') {
            continue;
        }
        let neighbour = |j: Option<usize>| match j.and_then(|j| tokens.get(j)) {
            Some(Token::Syllable { ch, text, .. }) => Some((*ch, tone(text))),
            _ => None,
        };
        let prev = neighbour(k.checked_sub(1));
        let next = neighbour(k.checked_add(1));
        let next2 = neighbour(k.checked_add(2));
        let repeated = matches!((prev, next), (Some((p, _)), Some((n, _))) if p == n);
        let new = if ch == '得' {
            de_reading(prev)
        } else if ch == '为' {
            wei_reading(prev, next)
        } else if ch == '不' {
            match next {
                _ if repeated => "bu5",
                Some((_, Some('4'))) => "bu2",
                _ => "bu4",
            }
        } else {
            yi_reading(prev, next, next2, repeated)
        };
        if let Some(Token::Syllable { text, .. }) = tokens.get_mut(k) {
            *text = new.to_string();
        }
    }
    tokens
}

type Neighbour = Option<(char, Option<char>)>;

/// Nouns and verbs after which 为 is the copula wei2 ("金额为", "改为"): a rule rather
/// than phrases, because greedy matching would eat the noun first (更改为 = 更改 + 为).
const WEI2_AFTER: &[char] = &[
    '额', '日', '率', '期', '数', '费', '息', '间', '码', '号', '度', '限', '改', '定', '设', '变',
    '别', '成', '作', '认', '视', '称', '以', '均', '仅', '约', '价', '量', '款', '值', '址',
];

/// 得 right after a pronoun or adverb is the modal dei3 ("我得跟家里商量"); elsewhere
/// the particle de5 (说得对). Phrases hold de2 (得到, 获得).
fn de_reading(prev: Neighbour) -> &'static str {
    let modal = prev.is_some_and(|(p, _)| {
        matches!(
            p,
            '我' | '你' | '您' | '他' | '她' | '们' | '就' | '也' | '都' | '总' | '须' | '先'
        )
    });
    if modal {
        "dei3"
    } else {
        "de5"
    }
}

/// 为 is wei2 when it states a value (还款日为十二月一日), wei4 ("for", "because") else.
fn wei_reading(prev: Neighbour, next: Neighbour) -> &'static str {
    let states_value = prev.is_some_and(|(p, _)| WEI2_AFTER.contains(&p))
        || next.is_some_and(|(n, _)| is_numeral(n) || n == '十');
    if states_value {
        "wei2"
    } else {
        "wei4"
    }
}

fn yi_reading(prev: Neighbour, next: Neighbour, next2: Neighbour, repeated: bool) -> &'static str {
    let Some((next_ch, next_tone)) = next else {
        return "yi1";
    };
    if repeated {
        return "yi5";
    }
    let in_number_unit = matches!(next_ch, '百' | '千' | '万' | '亿');
    if !in_number_unit {
        // Ordinals, dates, times and digit strings keep the citation tone; so does 万一
        // ("in case"), which a phrase entry cannot hold without breaking 一万一千.
        let counted =
            prev.is_some_and(|(p, _)| matches!(p, '第' | '初' | '十' | '万') || is_numeral(p));
        let date = matches!(next_ch, '月' | '日' | '号' | '十') || is_numeral(next_ch);
        let clock = next_ch == '点' && next2.is_some_and(|(c, _)| is_numeral(c) || c == '十');
        if counted || date || clock {
            return "yi1";
        }
    }
    match next_tone {
        Some('4') => "yi2",
        Some('1' | '2' | '3') => "yi4",
        _ => "yi1",
    }
}

fn render(tokens: &[Token]) -> String {
    let mut out = String::with_capacity(tokens.len() * 5);
    let mut pending: Option<Pause> = None;
    for tok in tokens {
        match tok {
            Token::Pause(p) => {
                if !out.is_empty() {
                    pending = Some(pending.map_or(*p, |q| q.max(*p)));
                }
            }
            Token::Break => {}
            Token::Syllable { text, .. } | Token::Word(text) => {
                if let Some(p) = pending.take() {
                    out.push(p.mark());
                }
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(text);
            }
        }
    }
    if let Some(p) = pending {
        out.push(p.mark());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::normalise::normalize;
    use crate::language::Locale;

    fn py(s: &str) -> String {
        to_pinyin(s)
    }

    #[test]
    fn bill_prompt_end_to_end() {
        let text = "您的账单12月1日到期，应还金额三千五百元，如有疑问请拨打400-800-1234。";
        assert_eq!(
            py(&normalize(text, Locale::ZhCn)),
            "nin2 de5 zhang4 dan1 shi2 er4 yue4 yi1 ri4 dao4 qi1, ying1 huan2 jin1 e2 san1 qian1 \
             wu3 bai3 yuan2, ru2 you3 yi2 wen4 qing3 bo1 da3 si4 ling2 ling2, ba1 ling2 ling2, \
             yao1 er4 san1 si4."
        );
        let table = [
            ("利率3.5%", "li4 lv4 bai3 fen1 zhi1 san1 dian3 wu3"),
            ("10:30", "shi2 dian3 san1 shi2 fen1"),
            ("2027年", "er4 ling2 er4 qi1 nian2"),
            ("第3期", "di4 san1 qi1"),
        ];
        for (input, want) in table {
            assert_eq!(py(&normalize(input, Locale::ZhCn)), want, "input: {input}");
        }
    }

    #[test]
    fn polyphone_phrases() {
        let table = [
            ("还款", "huan2 kuan3"),
            ("还是", "hai2 shi4"),
            ("还有", "hai2 you3"),
            ("还没还款", "hai2 mei2 huan2 kuan3"),
            ("应还金额", "ying1 huan2 jin1 e2"),
            ("还不上", "huan2 bu5 shang4"),
            ("银行", "yin2 hang2"),
            ("行为", "xing2 wei2"),
            ("银行行长", "yin2 hang2 hang2 zhang3"),
            ("不行", "bu4 xing2"),
            ("重新", "chong2 xin1"),
            ("重要", "zhong4 yao4"),
            ("长期", "chang2 qi1"),
            ("很长", "hen3 chang2"),
            ("分期", "fen1 qi1"),
            ("本金", "ben3 jin1"),
            ("利率", "li4 lv4"),
            ("逾期", "yu2 qi1"),
            ("快乐", "kuai4 le4"),
            ("音乐", "yin1 yue4"),
            ("得到", "de2 dao4"),
            ("说得好", "shuo1 de5 hao3"),
            ("您得尽快还款", "nin2 dei3 jin3 kuai4 huan2 kuan3"),
            ("好了", "hao3 le5"),
            ("了解", "liao3 jie3"),
            ("不了解", "bu4 liao3 jie3"),
            ("不了，谢谢", "bu4 le5, xie4 xie5"),
            (
                "这个我得跟家里商量",
                "zhe4 ge4 wo3 dei3 gen1 jia1 li3 shang1 liang4",
            ),
            ("你说得对", "ni3 shuo1 de5 dui4"),
            ("我得到了", "wo3 de2 dao4 le5"),
            ("已经还过了", "yi3 jing1 huan2 guo4 le5"),
            ("先还最低", "xian1 huan2 zui4 di1"),
            ("没空", "mei2 kong4"),
            ("慢慢地说", "man4 man4 de5 shuo1"),
            ("地址", "di4 zhi3"),
            ("我的", "wo3 de5"),
            ("目的", "mu4 di4"),
            ("谢谢", "xie4 xie5"),
            ("张先生", "zhang1 xian1 sheng5"),
            ("电子账单", "dian4 zi3 zhang4 dan1"),
            ("调整", "tiao2 zheng3"),
            (
                "应还金额为三千元",
                "ying1 huan2 jin1 e2 wei2 san1 qian1 yuan2",
            ),
            (
                "还款日更改为十二月一日",
                "huan2 kuan3 ri4 geng1 gai3 wei2 shi2 er4 yue4 yi1 ri4",
            ),
            ("为您服务", "wei4 nin2 fu2 wu4"),
            ("为避免逾期", "wei4 bi4 mian3 yu2 qi1"),
            ("累计逾期", "lei3 ji4 yu2 qi1"),
            ("女儿，绿色，略微", "nv3 er2, lv4 se4, lve4 wei1"),
        ];
        for (input, want) in table {
            assert_eq!(py(input), want, "input: {input}");
        }
    }

    #[test]
    fn yi_and_bu_sandhi() {
        let table = [
            ("一个月一次", "yi2 ge4 yue4 yi2 ci4"),
            ("一起", "yi4 qi3"),
            ("一天", "yi4 tian1"),
            ("一年", "yi4 nian2"),
            ("看一看", "kan4 yi5 kan4"),
            ("一", "yi1"),
            ("第一期", "di4 yi1 qi1"),
            ("一月一日", "yi1 yue4 yi1 ri4"),
            ("十一点", "shi2 yi1 dian3"),
            ("一点三十分", "yi1 dian3 san1 shi2 fen1"),
            ("慢一点", "man4 yi4 dian3"),
            ("一百一十一元", "yi4 bai3 yi1 shi2 yi1 yuan2"),
            ("一万一千元", "yi2 wan4 yi4 qian1 yuan2"),
            ("万一您忘了", "wan4 yi1 nin2 wang4 le5"),
            ("幺二三一", "yao1 er4 san1 yi1"),
            ("统一办理", "tong3 yi1 ban4 li3"),
            ("不是", "bu2 shi4"),
            ("不要", "bu2 yao4"),
            ("不能", "bu4 neng2"),
            ("不好", "bu4 hao3"),
            ("是不是", "shi4 bu5 shi4"),
            ("对不起", "dui4 bu5 qi3"),
            ("不", "bu4"),
        ];
        for (input, want) in table {
            assert_eq!(py(input), want, "input: {input}");
        }
    }

    #[test]
    fn punctuation_becomes_pauses() {
        assert_eq!(py("你好，再见。"), "ni3 hao3, zai4 jian4.");
        assert_eq!(py("好吗？"), "hao3 ma5?");
        assert_eq!(py("太好了！"), "tai4 hao3 le5!");
        assert_eq!(py("一、二；三：四"), "yi1, er4, san1, si4");
        assert_eq!(py("嗯……好的。"), "en4. hao3 de5.");
        assert_eq!(py("，，你好？！"), "ni3 hao3?");
        assert_eq!(py("“您好”《协议》"), "nin2 hao3 xie2 yi4");
    }

    #[test]
    fn ascii_words_pass_through_and_acronyms_are_spelled() {
        assert_eq!(
            py("下载APP，成为VIP会员，OK吗？"),
            "xia4 zai4 A P P, cheng2 wei2 V I P hui4 yuan2, OK ma5?"
        );
        assert_eq!(py("登录WeChat"), "deng1 lu4 WeChat");
        assert_eq!(py("ＡＴＭ机"), "A T M ji1");
        assert_eq!(py("Wi-Fi"), "Wi Fi");
    }

    #[test]
    fn empty_and_unknown_input() {
        assert_eq!(py(""), "");
        assert_eq!(py("😀你好🌈, привет"), "ni3 hao3,");
        assert_eq!(py("😀"), "");
        assert_eq!(py("\u{0}\u{10FFFF}"), "");
        // Every character of a long noisy string: no panic, every syllable toned.
        let noisy: String = (0x3000u32..0x3400)
            .chain(0x4E00..0x5200)
            .filter_map(char::from_u32)
            .collect();
        let out = py(&noisy);
        for syl in out.split_whitespace() {
            let syl = syl.trim_end_matches([',', '.', '!', '?']);
            assert!(
                syl.ends_with(|c: char| ('1'..='5').contains(&c)) || syl.is_ascii(),
                "{syl}"
            );
            assert!(!syl.contains('ü'), "{syl}");
        }
    }

    #[test]
    fn phrase_table_is_well_formed() {
        for (phrase, syllables) in PHRASES {
            let syl: Vec<&str> = syllables.split_whitespace().collect();
            assert_eq!(syl.len(), phrase.chars().count(), "{phrase}");
            for s in syl {
                assert!(
                    s.ends_with(|c: char| ('1'..='5').contains(&c))
                        && s[..s.len() - 1].chars().all(|c| c.is_ascii_lowercase()),
                    "{phrase}: {s}"
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (phrase, _) in PHRASES {
            assert!(seen.insert(phrase), "duplicate phrase {phrase}");
        }
    }

    #[test]
    fn syllable_spelling_for_espeak() {
        let sp = |s: &str| espeak_syllable(s).unwrap_or_default();
        assert_eq!(sp("lü4"), "lv4");
        assert_eq!(sp("lüe4"), "lve4");
        assert_eq!(sp("le"), "le5");
        assert_eq!(sp("n2"), "en2");
        assert_eq!(sp("ng4"), "en4");
        assert_eq!(sp("m2"), "mu2");
        assert_eq!(sp("ê2"), "ei2");
        assert_eq!(espeak_syllable(""), None);
        assert_eq!(espeak_syllable("ń"), None);
        assert_eq!(py("嗯"), "en4");
    }
}
