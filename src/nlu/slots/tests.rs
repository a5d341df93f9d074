//! Behaviour of the slot extractors on zh-CN and en-US utterances.

use super::*;
use Locale::{EnUs, ZhCn};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}

/// Sunday.
fn today() -> NaiveDate {
    d(2026, 11, 22)
}

fn zd(s: &str) -> Option<NaiveDate> {
    parse_date(s, ZhCn, today())
}

fn ed(s: &str) -> Option<NaiveDate> {
    parse_date(s, EnUs, today())
}

fn za(s: &str) -> Option<i64> {
    parse_amount_cents(s, ZhCn)
}

fn ea(s: &str) -> Option<i64> {
    parse_amount_cents(s, EnUs)
}

// ---- Chinese dates ------------------------------------------------------------

#[test]
fn zh_relative_days() {
    assert_eq!(zd("今天"), Some(d(2026, 11, 22)));
    assert_eq!(zd("我明天还"), Some(d(2026, 11, 23)));
    assert_eq!(zd("后天吧"), Some(d(2026, 11, 24)));
    assert_eq!(zd("大后天"), Some(d(2026, 11, 25)));
    assert_eq!(zd("明天下午吧"), Some(d(2026, 11, 23)));
    assert_eq!(zd("我昨天已经还了"), Some(d(2026, 11, 21)));
}

#[test]
fn zh_next_week_weekday() {
    for s in [
        "下周五",
        "下个星期五",
        "下礼拜五",
        "下个礼拜五",
        "下星期五",
        "那个 下周五吧",
    ] {
        assert_eq!(zd(s), Some(d(2026, 11, 27)), "{s}");
    }
    assert_eq!(zd("下周一"), Some(d(2026, 11, 23)));
    assert_eq!(zd("下周日"), Some(d(2026, 11, 29)));
    assert_eq!(zd("下下周五"), Some(d(2026, 12, 4)));
}

#[test]
fn zh_this_week_weekday_rolls_over_when_past() {
    for s in ["这周五", "本周五", "周五", "星期五", "礼拜五"] {
        assert_eq!(zd(s), Some(d(2026, 11, 27)), "{s}");
    }
    // Wednesday 18th: this Friday is still ahead, next Friday is the week after.
    let wed = d(2026, 11, 18);
    assert_eq!(parse_date("这周五", ZhCn, wed), Some(d(2026, 11, 20)));
    assert_eq!(parse_date("周五", ZhCn, wed), Some(d(2026, 11, 20)));
    assert_eq!(parse_date("下周五", ZhCn, wed), Some(d(2026, 11, 27)));
    // On the Friday itself "周五" is today.
    assert_eq!(
        parse_date("周五", ZhCn, d(2026, 11, 20)),
        Some(d(2026, 11, 20))
    );
    // Today (Sunday) is not past.
    assert_eq!(zd("周日"), Some(d(2026, 11, 22)));
}

#[test]
fn zh_weekend_is_the_coming_saturday() {
    assert_eq!(zd("周末"), Some(d(2026, 11, 28)));
    assert_eq!(zd("这周末"), Some(d(2026, 11, 28)));
    assert_eq!(
        parse_date("周末", ZhCn, d(2026, 11, 18)),
        Some(d(2026, 11, 21))
    );
    assert_eq!(
        parse_date("下周末", ZhCn, d(2026, 11, 18)),
        Some(d(2026, 11, 28))
    );
}

#[test]
fn zh_next_week_alone_is_monday() {
    assert_eq!(zd("下周吧"), Some(d(2026, 11, 23)));
    assert_eq!(zd("这周"), None);
}

#[test]
fn zh_month_end_and_start() {
    assert_eq!(zd("月底"), Some(d(2026, 11, 30)));
    assert_eq!(zd("这个月底"), Some(d(2026, 11, 30)));
    assert_eq!(zd("下个月初"), Some(d(2026, 12, 1)));
    assert_eq!(zd("下月初"), Some(d(2026, 12, 1)));
    assert_eq!(zd("下个月底吧"), Some(d(2026, 12, 31)));
    assert_eq!(zd("月初"), Some(d(2026, 12, 1)));
    assert_eq!(zd("年底"), Some(d(2026, 12, 31)));
    assert_eq!(zd("明年二月底"), Some(d(2027, 2, 28)));
    assert_eq!(zd("明年的3月5号吧"), Some(d(2027, 3, 5)));
    assert_eq!(zd("二月初"), Some(d(2027, 2, 1)));
    assert_eq!(zd("十二月中旬"), Some(d(2026, 12, 15)));
    assert_eq!(zd("今年十二月底"), Some(d(2026, 12, 31)));
    assert_eq!(zd("十一月底"), Some(d(2026, 11, 30)));
    assert_eq!(zd("明年"), None);
    assert_eq!(
        parse_date("月底", ZhCn, d(2028, 2, 3)),
        Some(d(2028, 2, 29))
    );
}

#[test]
fn zh_day_of_next_month() {
    assert_eq!(zd("下个月5号"), Some(d(2026, 12, 5)));
    assert_eq!(zd("下月5号"), Some(d(2026, 12, 5)));
    assert_eq!(zd("下个月五号"), Some(d(2026, 12, 5)));
    assert_eq!(zd("下个月的十五号"), Some(d(2026, 12, 15)));
    assert_eq!(zd("下个月"), None);
}

#[test]
fn zh_day_of_month_this_or_next() {
    assert_eq!(zd("15号"), Some(d(2026, 12, 15)));
    assert_eq!(zd("十五号"), Some(d(2026, 12, 15)));
    assert_eq!(zd("二十五号还"), Some(d(2026, 11, 25)));
    assert_eq!(zd("22号"), Some(d(2026, 11, 22)));
    assert_eq!(zd("三十一号"), Some(d(2026, 12, 31)));
    assert_eq!(
        parse_date("15号", ZhCn, d(2026, 11, 10)),
        Some(d(2026, 11, 15))
    );
}

#[test]
fn zh_month_day() {
    for s in ["12月1日", "十二月一号", "12月1号", "十二月一日", "12月1"] {
        assert_eq!(zd(s), Some(d(2026, 12, 1)), "{s}");
    }
    assert_eq!(zd("1月5号"), Some(d(2027, 1, 5)));
    assert_eq!(zd("我11月15号就还了"), Some(d(2026, 11, 15)));
}

#[test]
fn zh_full_dates() {
    assert_eq!(zd("2026年12月1日"), Some(d(2026, 12, 1)));
    assert_eq!(zd("二零二六年十二月一日"), Some(d(2026, 12, 1)));
    assert_eq!(zd("2026-12-01"), Some(d(2026, 12, 1)));
    assert_eq!(zd("2026/12/01"), Some(d(2026, 12, 1)));
    assert_eq!(zd("12/1"), Some(d(2026, 12, 1)));
    assert_eq!(ed("12/1"), Some(d(2026, 12, 1)));
    assert_eq!(ed("12/1/2027"), Some(d(2027, 12, 1)));
}

#[test]
fn zh_relative_spans_as_dates() {
    assert_eq!(zd("三天后"), Some(d(2026, 11, 25)));
    assert_eq!(zd("三天以后"), Some(d(2026, 11, 25)));
    assert_eq!(zd("三天之后再说"), Some(d(2026, 11, 25)));
    assert_eq!(zd("过两天"), Some(d(2026, 11, 24)));
    assert_eq!(zd("再过三天"), Some(d(2026, 11, 25)));
    assert_eq!(zd("一周后"), Some(d(2026, 11, 29)));
    assert_eq!(zd("一个星期后"), Some(d(2026, 11, 29)));
    assert_eq!(zd("两周以后"), Some(d(2026, 12, 6)));
    assert_eq!(zd("一个月后"), Some(d(2026, 12, 22)));
    assert_eq!(zd("三天内还清"), Some(d(2026, 11, 25)));
    assert_eq!(zd("三天前"), Some(d(2026, 11, 19)));
    // A bare span is a duration, not a date.
    assert_eq!(zd("宽限三天"), None);
    assert_eq!(zd("过几天"), None);
}

#[test]
fn zh_payday_is_not_a_date() {
    assert_eq!(zd("发工资那天"), None);
    assert_eq!(zd("等我发工资那天再还"), None);
}

#[test]
fn zh_negated_date_is_skipped() {
    assert_eq!(zd("不是明天 是后天"), Some(d(2026, 11, 24)));
    assert_eq!(zd("是不是明天"), Some(d(2026, 11, 23)));
}

// ---- English dates ------------------------------------------------------------

#[test]
fn en_relative_days() {
    assert_eq!(ed("today"), Some(d(2026, 11, 22)));
    assert_eq!(ed("I'll pay tomorrow"), Some(d(2026, 11, 23)));
    assert_eq!(ed("the day after tomorrow"), Some(d(2026, 11, 24)));
    assert_eq!(ed("day after tomorrow works"), Some(d(2026, 11, 24)));
}

#[test]
fn en_next_and_this_weekday_use_iso_weeks() {
    // Sunday the 22nd: the week Mon 23..Sun 29 is "next week".
    assert_eq!(ed("I'll pay it next Friday"), Some(d(2026, 11, 27)));
    assert_eq!(ed("this Friday"), Some(d(2026, 11, 27)));
    assert_eq!(ed("next week friday"), Some(d(2026, 11, 27)));
    assert_eq!(ed("friday next week"), Some(d(2026, 11, 27)));
    let wed = d(2026, 11, 18);
    assert_eq!(parse_date("this friday", EnUs, wed), Some(d(2026, 11, 20)));
    assert_eq!(parse_date("next friday", EnUs, wed), Some(d(2026, 11, 27)));
    assert_eq!(parse_date("next monday", EnUs, wed), Some(d(2026, 11, 23)));
    assert_eq!(parse_date("last friday", EnUs, wed), Some(d(2026, 11, 13)));
}

#[test]
fn en_bare_weekday_is_strictly_after_today() {
    assert_eq!(ed("Friday"), Some(d(2026, 11, 27)));
    assert_eq!(ed("on Friday"), Some(d(2026, 11, 27)));
    assert_eq!(ed("sunday"), Some(d(2026, 11, 29)));
    let fri = d(2026, 11, 20);
    assert_eq!(parse_date("on friday", EnUs, fri), Some(d(2026, 11, 27)));
    assert_eq!(parse_date("monday", EnUs, fri), Some(d(2026, 11, 23)));
}

#[test]
fn en_day_of_month() {
    assert_eq!(ed("the 15th"), Some(d(2026, 12, 15)));
    assert_eq!(ed("on the 15th"), Some(d(2026, 12, 15)));
    assert_eq!(ed("15th"), Some(d(2026, 12, 15)));
    assert_eq!(ed("on the fifteenth"), Some(d(2026, 12, 15)));
    assert_eq!(ed("the 25th"), Some(d(2026, 11, 25)));
    assert_eq!(ed("the twenty-fifth"), Some(d(2026, 11, 25)));
    assert_eq!(
        parse_date("the 15th", EnUs, d(2026, 11, 3)),
        Some(d(2026, 11, 15))
    );
    // A spelled ordinal without "the" is an ordinary word.
    assert_eq!(ed("first I need to check"), None);
}

#[test]
fn en_month_and_day() {
    for s in [
        "December 1st",
        "Dec 1",
        "dec. 1",
        "1st of December",
        "the first of december",
        "december first",
        "December the 1st",
        "12/1",
    ] {
        assert_eq!(ed(s), Some(d(2026, 12, 1)), "{s}");
    }
    assert_eq!(ed("December 1st, 2027"), Some(d(2027, 12, 1)));
    assert_eq!(ed("January 5"), Some(d(2027, 1, 5)));
}

#[test]
fn en_month_boundaries() {
    assert_eq!(ed("end of the month"), Some(d(2026, 11, 30)));
    assert_eq!(ed("by the end of the month"), Some(d(2026, 11, 30)));
    assert_eq!(ed("end of month"), Some(d(2026, 11, 30)));
    assert_eq!(ed("first of next month"), Some(d(2026, 12, 1)));
    assert_eq!(ed("the first of next month"), Some(d(2026, 12, 1)));
    assert_eq!(ed("the 5th of next month"), Some(d(2026, 12, 5)));
    assert_eq!(ed("end of next month"), Some(d(2026, 12, 31)));
}

#[test]
fn en_spans_as_dates() {
    assert_eq!(ed("in 3 days"), Some(d(2026, 11, 25)));
    assert_eq!(ed("in three days"), Some(d(2026, 11, 25)));
    assert_eq!(ed("in a week"), Some(d(2026, 11, 29)));
    assert_eq!(ed("in two weeks"), Some(d(2026, 12, 6)));
    assert_eq!(ed("in a couple of days"), Some(d(2026, 11, 24)));
    assert_eq!(ed("3 days from now"), Some(d(2026, 11, 25)));
    assert_eq!(ed("in a month"), Some(d(2026, 12, 22)));
    assert_eq!(ed("give me a week"), None);
}

#[test]
fn en_next_week_and_weekend() {
    assert_eq!(ed("next week"), Some(d(2026, 11, 23)));
    assert_eq!(
        parse_date("next week", EnUs, d(2026, 11, 18)),
        Some(d(2026, 11, 23))
    );
    assert_eq!(ed("this weekend"), Some(d(2026, 11, 28)));
    assert_eq!(
        parse_date("this weekend", EnUs, d(2026, 11, 18)),
        Some(d(2026, 11, 21))
    );
    assert_eq!(ed("over the weekend"), Some(d(2026, 11, 28)));
    assert_eq!(ed("this week"), None);
}

#[test]
fn en_payday_is_not_a_date() {
    assert_eq!(ed("payday"), None);
    assert_eq!(ed("when I get paid on payday"), None);
}

#[test]
fn impossible_dates_are_none() {
    assert_eq!(zd("2月30日"), None);
    assert_eq!(zd("二月三十号"), None);
    assert_eq!(ed("Feb 30"), None);
    assert_eq!(ed("February 30th"), None);
    assert_eq!(zd("2026-02-30"), None);
    assert_eq!(ed("2/30"), None);
    assert_eq!(parse_date("下个月31号", ZhCn, d(2026, 10, 5)), None);
    assert_eq!(zd("13月1日"), None);
    assert_eq!(zd("12月99日"), None);
    assert_eq!(zd("2026年13月1日"), None);
    assert_eq!(za("2026年13月1日"), None);
    // Still not taken as amounts.
    assert_eq!(za("2月30日"), None);
}

#[test]
fn mixed_language_dates() {
    assert_eq!(ed("下周五 pay"), Some(d(2026, 11, 27)));
    assert_eq!(zd("我 tomorrow 还"), Some(d(2026, 11, 23)));
    assert_eq!(zd("next friday 还两千"), Some(d(2026, 11, 27)));
}

// ---- Chinese amounts ----------------------------------------------------------

#[test]
fn zh_amounts() {
    assert_eq!(za("三千五"), Some(350_000));
    assert_eq!(za("三千五百元"), Some(350_000));
    assert_eq!(za("3500元"), Some(350_000));
    assert_eq!(za("3,500元"), Some(350_000));
    assert_eq!(za("3500块"), Some(350_000));
    assert_eq!(za("三千五百块五毛"), Some(350_050));
    assert_eq!(za("三千五百元五角"), Some(350_050));
    assert_eq!(za("两百"), Some(20_000));
    assert_eq!(za("两百五"), Some(25_000));
    assert_eq!(za("一万二"), Some(1_200_000));
    assert_eq!(za("一万二千三百"), Some(1_230_000));
    assert_eq!(za("1.2万"), Some(1_200_000));
    assert_eq!(za("5千"), Some(500_000));
    assert_eq!(za("五百块钱"), Some(50_000));
    assert_eq!(za("十块"), Some(1000));
    assert_eq!(za("三块五"), Some(350));
    assert_eq!(za("五毛"), Some(50));
    assert_eq!(za("3500.50元"), Some(350_050));
    assert_eq!(za("¥3500"), Some(350_000));
    assert_eq!(za("三点五万"), Some(3_500_000));
    assert_eq!(za("1.2w"), Some(1_200_000));
    assert_eq!(za("我明天还3500"), Some(350_000));
    assert_eq!(za("那这周五先还两千"), Some(200_000));
}

#[test]
fn zh_not_amounts() {
    assert_eq!(za("还一半"), None);
    assert_eq!(za("五号"), None);
    assert_eq!(za("三天"), None);
    assert_eq!(za("十五号还"), None);
    assert_eq!(za("尾号1234"), None);
    assert_eq!(za("尾号是幺二三四"), None);
    assert_eq!(za("明天下午三点"), None);
    assert_eq!(za("三点五十"), None);
    assert_eq!(za("分三期"), None);
    assert_eq!(za("我一直在还"), None);
    assert_eq!(za("万一还不上"), None);
    assert_eq!(za("千万别打了"), None);
    assert_eq!(za("十分感谢"), None);
    assert_eq!(za("13812345678"), None);
    assert_eq!(za("第二期"), None);
    assert_eq!(za("一二三四"), None);
}

#[test]
fn amount_next_to_date_and_tail() {
    let s = extract_slots("我明天还三千五", ZhCn, today());
    assert_eq!(s.date, Some(d(2026, 11, 23)));
    assert_eq!(s.amount_cents, Some(350_000));
    let s = extract_slots("尾号1234 下周三千", ZhCn, today());
    assert_eq!(s.phone_tail.as_deref(), Some("1234"));
    assert_eq!(s.date, Some(d(2026, 11, 23)));
    assert_eq!(s.amount_cents, Some(300_000));
    let s = extract_slots("五号还两千", ZhCn, today());
    assert_eq!(s.date, Some(d(2026, 12, 5)));
    assert_eq!(s.amount_cents, Some(200_000));
}

// ---- English amounts ----------------------------------------------------------

#[test]
fn en_amounts() {
    assert_eq!(ea("3,500 dollars"), Some(350_000));
    assert_eq!(ea("$3,500.50"), Some(350_050));
    assert_eq!(ea("two hundred bucks"), Some(20_000));
    assert_eq!(ea("three thousand five hundred"), Some(350_000));
    assert_eq!(ea("3.5k"), Some(350_000));
    assert_eq!(ea("500"), Some(50_000));
    assert_eq!(ea("I can pay 500 on friday"), Some(50_000));
    assert_eq!(ea("I paid 500 last friday"), Some(50_000));
    assert_eq!(ea("I can put 200 down by Wednesday"), Some(20_000));
    assert_eq!(ea("fifty cents"), Some(50));
    assert_eq!(ea("a hundred and twenty"), Some(12_000));
    assert_eq!(ea("twelve hundred"), Some(120_000));
    assert_eq!(ea("five dollars and fifty cents"), Some(550));
    assert_eq!(ea("twenty-five dollars"), Some(2500));
    assert_eq!(ea("2 hundred"), Some(20_000));
    assert_eq!(ea("5 grand"), Some(500_000));
}

#[test]
fn en_not_amounts() {
    assert_eq!(ea("the 15th"), None);
    assert_eq!(ea("on the 15th"), None);
    assert_eq!(ea("in 3 days"), None);
    assert_eq!(ea("at 5 pm"), None);
    assert_eq!(ea("10 am"), None);
    assert_eq!(ea("last four 1234"), None);
    assert_eq!(ea("one two three four"), None);
    assert_eq!(ea("I have two kids"), None);
    assert_eq!(ea("fifteen minutes"), None);
    assert_eq!(ea("20 percent"), None);
}

#[test]
fn en_sentence_with_amount_and_date() {
    let s = extract_slots("I'll pay two hundred bucks on the 15th", EnUs, today());
    assert_eq!(s.amount_cents, Some(20_000));
    assert_eq!(s.date, Some(d(2026, 12, 15)));
}

// ---- Phone tails --------------------------------------------------------------

fn zt(s: &str) -> Option<String> {
    parse_phone_tail(s, ZhCn)
}

fn et(s: &str) -> Option<String> {
    parse_phone_tail(s, EnUs)
}

#[test]
fn zh_phone_tails() {
    assert_eq!(zt("尾号1234").as_deref(), Some("1234"));
    assert_eq!(zt("尾号是幺二三四").as_deref(), Some("1234"));
    assert_eq!(zt("后四位5678").as_deref(), Some("5678"));
    assert_eq!(zt("最后四位是 五六七八").as_deref(), Some("5678"));
    assert_eq!(zt("手机尾号 零零八六").as_deref(), Some("0086"));
    assert_eq!(zt("我手机尾号是 嗯 1 2 3 4").as_deref(), Some("1234"));
}

#[test]
fn en_phone_tails() {
    assert_eq!(et("last four 1234").as_deref(), Some("1234"));
    assert_eq!(et("ending in 5678").as_deref(), Some("5678"));
    assert_eq!(
        et("last four digits are one two three four").as_deref(),
        Some("1234")
    );
    assert_eq!(et("ends with 12 34").as_deref(), Some("1234"));
    assert_eq!(et("it ends in twelve thirty-four").as_deref(), Some("1234"));
    assert_eq!(
        et("last four are five oh six seven").as_deref(),
        Some("5067")
    );
}

#[test]
fn phone_tail_needs_cue_or_exact_four_digits() {
    assert_eq!(zt("1234").as_deref(), Some("1234"));
    assert_eq!(zt("幺二三四").as_deref(), Some("1234"));
    assert_eq!(et("one two three four").as_deref(), Some("1234"));
    assert_eq!(et("12 34").as_deref(), Some("1234"));
    assert_eq!(zt("嗯 1234").as_deref(), Some("1234"));
    assert_eq!(zt("12345"), None);
    assert_eq!(zt("我明天还1234"), None);
    assert_eq!(zt("三千五"), None);
    assert_eq!(et("I owe 1234"), None);
    assert_eq!(zt("尾号"), None);
    assert_eq!(zt("那 5502").as_deref(), Some("5502"));
    assert_eq!(zt("1234吧好像").as_deref(), Some("1234"));
    // Weak cue: a phone word, then exactly four digits.
    assert_eq!(
        et("oh sorry that's my work phone it's 3721").as_deref(),
        Some("3721")
    );
    assert_eq!(zt("手机号是5502").as_deref(), Some("5502"));
    assert_eq!(zt("手机号是13812345678"), None);
    assert_eq!(ea("oh sorry that's my work phone it's 3721"), None);
}

// ---- Yes / no -----------------------------------------------------------------

fn zy(s: &str) -> Option<bool> {
    parse_yes_no(s, ZhCn)
}

fn ey(s: &str) -> Option<bool> {
    parse_yes_no(s, EnUs)
}

#[test]
fn zh_yes() {
    for s in [
        "是",
        "是的",
        "对",
        "对的",
        "嗯",
        "嗯嗯",
        "好的",
        "可以",
        "没错",
        "行",
        "嗯 是我",
        "对 是我",
        "是我",
        "对对对",
        "好",
        "没问题",
        "对 我没有钱",
    ] {
        assert_eq!(zy(s), Some(true), "{s}");
    }
}

#[test]
fn zh_no() {
    for s in [
        "不是",
        "不对",
        "没有",
        "不行",
        "不可以",
        "不用",
        "不要",
        "不是 我是他老婆",
        "我不是本人",
        "不是的",
        "不用了谢谢",
        "我不要",
        "我没有",
    ] {
        assert_eq!(zy(s), Some(false), "{s}");
    }
}

#[test]
fn zh_unclear_or_question_is_none() {
    for s in [
        "是不是",
        "是不是你们公司",
        "你是哪里啊",
        "我是他老婆",
        "嗯 那个 我明天还",
        "好多钱啊",
        "我银行卡还了",
        "不知道",
        "不好意思",
        "对不起",
        "是你们公司吗",
        "",
        "我在开车呢",
        "哎呀 那个号好久不用了 我想不起来了",
    ] {
        assert_eq!(zy(s), None, "{s}");
    }
}

#[test]
fn en_yes_no() {
    for s in [
        "yes",
        "yeah",
        "yep",
        "sure",
        "correct",
        "that's right",
        "ok",
        "okay",
        "yeah this is John",
        "yes please",
        "speaking",
        "uh yeah",
        "no problem",
    ] {
        assert_eq!(ey(s), Some(true), "{s}");
    }
    for s in [
        "no",
        "nope",
        "not really",
        "that's not me",
        "I don't",
        "no it's his wife",
        "um no",
        "I don't think so",
    ] {
        assert_eq!(ey(s), Some(false), "{s}");
    }
    for s in [
        "who is this",
        "I don't know",
        "I have no money",
        "I'll pay tomorrow",
        "right now I can't",
        "is this about my loan?",
        "not sure",
        "hmm I mean I don't really know",
    ] {
        assert_eq!(ey(s), None, "{s}");
    }
}

// ---- Durations ----------------------------------------------------------------

#[test]
fn durations() {
    let dur = |s: &str, l| extract_slots(s, l, today()).duration_days;
    assert_eq!(dur("能不能宽限三天", ZhCn), Some(3));
    assert_eq!(dur("两周", ZhCn), Some(14));
    assert_eq!(dur("再给我一个星期", ZhCn), Some(7));
    assert_eq!(dur("半个月", ZhCn), Some(15));
    assert_eq!(dur("两三天吧", ZhCn), None);
    let long = "yeah we were on lockdown for like three weeks can I push it back two weeks";
    assert_eq!(dur(long, EnUs), Some(14));
    assert_eq!(dur("厂子停了三个月了 能不能延两个月", ZhCn), Some(60));
    assert_eq!(dur("封了两个礼拜 又停了三天", ZhCn), Some(3));
    assert_eq!(dur("三天后", ZhCn), Some(3));
    assert_eq!(dur("in a week", EnUs), Some(7));
    assert_eq!(dur("give me two more weeks", EnUs), Some(14));
    assert_eq!(dur("a couple of days", EnUs), Some(2));
    assert_eq!(dur("I can do 500 a month", EnUs), None);
    assert_eq!(dur("明天", ZhCn), None);
    let s = extract_slots("宽限三天", ZhCn, today());
    assert_eq!((s.date, s.amount_cents), (None, None));
}

// ---- Numbers ------------------------------------------------------------------

#[test]
fn chinese_numbers() {
    let cases: &[(&str, i64)] = &[
        ("三千五", 3500),
        ("一万二", 12_000),
        ("两百五", 250),
        ("十五", 15),
        ("十", 10),
        ("二十五", 25),
        ("一百零五", 105),
        ("三千零五十", 3050),
        ("一千二百三十四", 1234),
        ("幺二三四", 1234),
        ("二〇二六", 2026),
        ("两万五", 25_000),
        ("十万", 100_000),
        ("一亿两千万", 120_000_000),
        ("3,500", 3500),
        ("3500", 3500),
        ("1.2万", 12_000),
        ("5千", 5000),
        ("三万五千二", 35_200),
        ("壹仟贰佰", 1200),
        ("零", 0),
    ];
    for (s, v) in cases {
        assert_eq!(parse_chinese_number(s), Some(*v), "{s}");
    }
    for s in [
        "",
        "万",
        "百五",
        "abc",
        "三五十",
        "十二三",
        "1.5",
        "一百两百",
        "99999999999999999999999",
    ] {
        assert_eq!(parse_chinese_number(s), None, "{s}");
    }
}

// ---- Whole-utterance extraction and JSON --------------------------------------

#[test]
fn extract_combines_slots() {
    let s = extract_slots("好的 那这周五先还两千", ZhCn, today());
    assert_eq!(
        s,
        Slots {
            date: Some(d(2026, 11, 27)),
            amount_cents: Some(200_000),
            phone_tail: None,
            yes_no: Some(true),
            duration_days: None,
        }
    );
    assert_eq!(extract_slots("", ZhCn, today()), Slots::default());
}

#[test]
fn serializes_amount_in_units_and_date_iso() {
    let s = Slots {
        date: Some(d(2026, 12, 1)),
        amount_cents: Some(350_050),
        phone_tail: Some("1234".into()),
        yes_no: None,
        duration_days: Some(3),
    };
    let v = serde_json::to_value(&s).expect("serialize");
    assert_eq!(v["date"], "2026-12-01");
    assert_eq!(v["amount"].as_f64(), Some(3500.5));
    assert_eq!(v["phone_tail"], "1234");
    assert_eq!(v["duration_days"], 3);
    assert!(v.get("yes_no").is_none());
    assert!(v.get("amount_cents").is_none());
    assert_eq!(
        serde_json::to_string(&Slots::default()).expect("serialize"),
        "{}"
    );
}

// ---- Robustness ---------------------------------------------------------------

fn run_all(s: &str) {
    for l in Locale::ALL {
        for day in [today(), NaiveDate::MIN, NaiveDate::MAX, d(2028, 2, 29)] {
            let _ = extract_slots(s, l, day);
            let _ = parse_date(s, l, day);
        }
        let _ = parse_amount_cents(s, l);
        let _ = parse_phone_tail(s, l);
        let _ = parse_yes_no(s, l);
    }
    let _ = parse_chinese_number(s);
}

#[test]
fn never_panics_on_odd_input() {
    let huge_digits = "9".repeat(5000);
    let huge_zh = "九".repeat(3000);
    let units = "万亿".repeat(500);
    let odd = [
        "",
        " ",
        "\u{0}",
        "\u{200b}\u{feff}",
        "🙂🙂🙂",
        "e\u{301}",
        "ﷺ",
        "\u{10FFFF}",
        "１２３４",
        "尾号",
        "尾号是",
        "last four",
        "$",
        "¥",
        "3,",
        ",3",
        "3.",
        ".5",
        "1/",
        "/1",
        "2026-",
        "2026-12-",
        "99/99/9999",
        "0/0",
        "99999999999999999999999999999999999999999元",
        "十十十十",
        "零零零",
        "点点点",
        "三点",
        "半",
        "过",
        "in",
        "the",
        "a hundred and",
        "a",
        "in 4294967295 days",
        "in 99999 weeks",
        "99999999个月后",
        "4294967296天后",
        "第",
        "号",
        "the 99th",
        "december 99",
        "12月99日",
        "99年1月1日",
        "9999年99月99日",
        "double",
        "double double",
        "twenty-",
        "-",
        "k",
        "1k",
        "1w",
        "吗",
        "?",
        "不是不是不是",
        "是是是吗",
        &huge_digits,
        &huge_zh,
        &units,
    ];
    for s in odd {
        run_all(s);
    }
    assert_eq!(za(&huge_digits), None);
    assert_eq!(parse_chinese_number(&huge_digits), None);
    assert_eq!(parse_chinese_number(&units), None);
}

#[test]
fn never_panics_on_generated_soup() {
    // Deterministic pseudo-random strings over the characters the parsers care about.
    let alphabet: Vec<char> = "0123456789,./-:$¥ 一二两三四五六七八九十百千万亿零〇幺点号日月年天周星期礼拜末底初后前内过半个块元钱毛角分尾是不对吗好行嗯下上这本今明大abcdefghijklmnopqrstuvwxyz'🙂\u{301}"
        .chars()
        .collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = (seed % alphabet.len() as u64) as usize;
            if let Some(c) = alphabet.get(k) {
                s.push(*c);
            }
        }
        run_all(&s);
    }
}

#[test]
fn long_input_is_bounded() {
    let long = "我明天还三千五 ".repeat(10_000);
    let s = extract_slots(&long, ZhCn, today());
    assert_eq!(s.amount_cents, Some(350_000));
}

/// `cargo test --release -- --ignored --nocapture per_call_latency` prints µs/call.
#[test]
#[ignore]
fn per_call_latency() {
    let utterances: &[(Locale, &str)] = &[
        (ZhCn, "嗯 是我"),
        (ZhCn, "我明天就还三千五"),
        (ZhCn, "那个 我现在手头有点紧 还不上啊"),
        (ZhCn, "尾号是幺二三四 下周五还两千五百块"),
        (EnUs, "yeah this is him"),
        (EnUs, "I'll pay two hundred bucks on the 15th"),
        (EnUs, "I lost my job, I can't pay right now"),
        (EnUs, "last four digits are one two three four"),
    ];
    let n = 20_000;
    let start = std::time::Instant::now();
    for k in 0..n {
        let (l, t) = utterances[k % utterances.len()];
        std::hint::black_box(extract_slots(std::hint::black_box(t), l, today()));
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("extract_slots: {per:.2} µs/call");
    assert!(per < 20.0, "{per}");
}
