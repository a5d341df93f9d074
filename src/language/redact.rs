//! Masking of account-like numbers in free text before it is kept: a customer who reads out
//! an ID card, bank card, social security or phone number to the bot must not find it in
//! a call report, a log or a QC screen. Recognised text keeps only what a reviewer needs
//! (the last four digits, as bank statements show them); the live conversation still sees
//! the unmasked words, only what is stored or logged goes through here.
//!
//! A number is a run of digits (ASCII, full-width or spoken Chinese digits: 幺, 零, 一…九)
//! with at most one space or hyphen between digits, because recognisers write "6222 0212
//! 3456 7812" and "123-45-6789". Runs are masked when their shape is one of:
//! - 13 digits or more: a bank card (13-19), a Chinese ID number (15 or 18, or 17 and `X`),
//!   or numbers read back to back;
//! - 11 digits starting with 1: a Chinese mobile number;
//! - 10 digits grouped 3-3-4: a North American phone number;
//! - 9 digits grouped 3-2-4: a US social security number.
//!
//! Amounts ("12,000", "3000块") and dates ("20261122") are not account-shaped and stay.

use std::borrow::Cow;

/// How many trailing digits stay readable.
const KEEP: usize = 4;

/// `text` with every account-shaped number masked but its last four digits, or `text`
/// itself when it holds none (the common case costs no allocation).
pub fn mask_account_numbers(text: &str) -> Cow<'_, str> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Option<Vec<char>> = None;
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            i += 1;
            continue;
        }
        let run = scan_run(&chars, i);
        if run.is_account_shaped() {
            let masked = out.get_or_insert_with(|| chars.clone());
            let visible_from = run.digits.len().saturating_sub(KEEP);
            for (k, &pos) in run.digits.iter().enumerate() {
                if k < visible_from {
                    masked[pos] = '*';
                }
            }
        }
        i = run.end;
    }
    match out {
        Some(c) => Cow::Owned(c.into_iter().collect()),
        None => Cow::Borrowed(text),
    }
}

/// One run of digits: where each digit is, how they were grouped, and where the run ends.
struct Run {
    /// Positions (in chars) of the digits, including a final `X` of an ID number.
    digits: Vec<usize>,
    /// Digits per group, groups being split by a space or a hyphen.
    groups: Vec<usize>,
    /// Whether the first digit is a 1 (every Chinese mobile number's is).
    first_is_one: bool,
    /// First char after the run.
    end: usize,
}

impl Run {
    fn is_account_shaped(&self) -> bool {
        match self.digits.len() {
            // Longer runs are numbers read back to back: mask them rather than guess.
            13.. => true,
            11 => self.first_is_one && self.groups.len() <= 3,
            10 => self.groups == [3, 3, 4],
            9 => self.groups == [3, 2, 4],
            _ => false,
        }
    }
}

fn scan_run(chars: &[char], start: usize) -> Run {
    let mut digits = vec![start];
    let mut groups = vec![1];
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if is_digit(c) {
            digits.push(i);
            if let Some(g) = groups.last_mut() {
                *g += 1;
            }
            i += 1;
        } else if matches!(c, ' ' | '-') && chars.get(i + 1).copied().is_some_and(is_digit) {
            groups.push(0);
            i += 1;
        } else if matches!(c, 'X' | 'x')
            && digits.len() == 17
            && !chars.get(i + 1).copied().is_some_and(char::is_alphanumeric)
        {
            // The check character of a Chinese ID number.
            digits.push(i);
            i += 1;
            break;
        } else {
            break;
        }
    }
    Run {
        digits,
        groups,
        first_is_one: matches!(chars[start], '1' | '１' | '一' | '幺'),
        end: i,
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
        || ('０'..='９').contains(&c)
        || matches!(
            c,
            '零' | '〇' | '幺' | '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九'
        )
}

#[cfg(test)]
mod tests {
    use super::mask_account_numbers as mask;

    #[test]
    fn id_and_card_numbers_keep_only_their_last_four_digits() {
        assert_eq!(
            mask("是我,我身份证号110105199001012345"),
            "是我,我身份证号**************2345"
        );
        assert_eq!(mask("身份证11010519900101123X"), "身份证**************123X");
        assert_eq!(
            mask("card 6222 0212 3456 7812 okay"),
            "card **** **** **** 7812 okay"
        );
        assert_eq!(mask("卡号6222021234567812378"), "卡号***************2378");
    }

    #[test]
    fn phone_and_ssn_shapes_are_masked() {
        assert_eq!(mask("打我13812345678"), "打我*******5678");
        assert_eq!(mask("my ssn is 123-45-6789"), "my ssn is ***-**-6789");
        assert_eq!(mask("call 415-555-0123"), "call ***-***-0123");
        assert_eq!(
            mask("幺三八一二三四五六七八"),
            "*******五六七八",
            "spoken Chinese digits"
        );
    }

    #[test]
    fn amounts_dates_and_short_numbers_stay() {
        for t in [
            "我下周五还3000块",
            "I can pay 12,000 on 2026-11-27",
            "尾号2345",
            "20261122",
            "打12378投诉",
            "one two three",
            "",
            "一万二千",
        ] {
            assert_eq!(mask(t), t);
        }
        assert!(matches!(
            mask("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn odd_input_does_not_panic() {
        let long = "1".repeat(100_000);
        let masked = mask(&long);
        assert_eq!(masked.chars().filter(|c| *c == '*').count(), 100_000 - 4);
        let _ = mask("- - 1-2- 3 X x 12345678901234567x");
        let _ = mask("１２３４５６７８９０１２３４５６７８");
    }
}
