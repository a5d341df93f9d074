//! Deciding a list's text encoding from evidence over the whole file, not its first
//! bytes: a UTF-8 list with one bad byte must stay UTF-8 (with that row refused), not be
//! read as GB18030 with every name garbled.

use encoding_rs::{DecoderResult, Encoding};
use std::io::Read;

/// Lines with undecodable bytes remembered for the note (the rows themselves are
/// refused one by one while reading).
const BAD_LINES_KEPT: usize = 10;

/// What the decision was and how sure it is, for the import report.
#[derive(Debug, Clone)]
pub struct Detected {
    /// The encoding the file is read with.
    pub encoding: &'static Encoding,
    /// Share of the file's non-ASCII characters that decode cleanly with it (1.0 for a
    /// byte-order mark or an ASCII file).
    pub confidence: f64,
    /// How it was decided: `bom`, `forced`, `utf8`, `ascii` or `guessed`.
    pub how: &'static str,
    /// Byte sequences that do not decode with the chosen encoding.
    pub malformed: u64,
    /// The first lines holding such bytes.
    pub bad_lines: Vec<u64>,
}

/// Counts of one decoding pass over a file.
#[derive(Debug, Default)]
struct Stats {
    non_ascii: u64,
    malformed: u64,
    bad_lines: Vec<u64>,
}

impl Stats {
    fn confidence(&self) -> f64 {
        let all = self.non_ascii + self.malformed;
        if all == 0 {
            1.0
        } else {
            self.non_ascii as f64 / all as f64
        }
    }
}

/// Fill `buf` as far as the reader allows; fewer bytes only at the end of the input.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn count_lf(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// One decoding pass in chunks, counting clean non-ASCII characters and malformed
/// sequences with their lines; `also` sees every chunk (the detector's feed).
fn scan(
    r: &mut dyn Read,
    enc: &'static Encoding,
    skip: usize,
    also: &mut dyn FnMut(&[u8]),
) -> std::io::Result<Stats> {
    let mut dec = enc.new_decoder_without_bom_handling();
    let mut buf = vec![0u8; 1 << 16];
    let mut out = vec![0u8; 4 * (1 << 16) + 16];
    let mut st = Stats::default();
    let mut line = 1u64;
    let mut first = true;
    loop {
        let n = read_full(r, &mut buf)?;
        let last = n < buf.len();
        let mut src = &buf[..n];
        if first {
            src = &src[skip.min(src.len())..];
            first = false;
        }
        also(src);
        loop {
            let (res, read, written) = dec.decode_to_utf8_without_replacement(src, &mut out, last);
            st.non_ascii += out[..written].iter().filter(|&&b| b >= 0xC0).count() as u64;
            match res {
                DecoderResult::InputEmpty => {
                    line += count_lf(&src[..read]);
                    break;
                }
                DecoderResult::OutputFull => {
                    line += count_lf(&src[..read]);
                    src = &src[read..];
                }
                DecoderResult::Malformed(bad, after) => {
                    let upto = read.saturating_sub(bad as usize + after as usize);
                    let at = line + count_lf(&src[..upto]);
                    st.malformed += 1;
                    if st.bad_lines.len() < BAD_LINES_KEPT && st.bad_lines.last() != Some(&at) {
                        st.bad_lines.push(at);
                    }
                    line += count_lf(&src[..read]);
                    src = &src[read..];
                }
            }
        }
        if last {
            return Ok(st);
        }
    }
}

/// Share of non-ASCII sequences that may be bad and the file still be read as UTF-8:
/// text in another encoding (GBK) fails UTF-8 on nine characters in ten.
const UTF8_TOLERANCE: f64 = 0.05;

/// Decide the encoding of what `open` reads. `forced` (`--encoding`) wins; then a
/// byte-order mark; then UTF-8 if all but a few of the non-ASCII sequences of the whole
/// file are valid UTF-8; otherwise `chardetng`'s guess (GBK read as its superset GB18030).
pub fn detect<'a>(
    open: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + 'a>>,
    forced: Option<&'static Encoding>,
) -> std::io::Result<Detected> {
    let mut head = [0u8; 4];
    let n = read_full(&mut *open()?, &mut head)?;
    let bom = Encoding::for_bom(&head[..n]);
    let (enc, how, skip) = match (forced, bom) {
        (Some(f), _) => {
            let skip = bom.filter(|(b, _)| *b == f).map_or(0, |(_, len)| len);
            (f, "forced", skip)
        }
        (None, Some((b, len))) => (b, "bom", len),
        (None, None) => {
            let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            let utf8 = scan(&mut *open()?, encoding_rs::UTF_8, 0, &mut |b| {
                det.feed(b, false);
            })?;
            det.feed(&[], true);
            if utf8.malformed == 0 {
                let how = if utf8.non_ascii == 0 { "ascii" } else { "utf8" };
                return Ok(Detected {
                    encoding: encoding_rs::UTF_8,
                    confidence: 1.0,
                    how,
                    malformed: 0,
                    bad_lines: Vec::new(),
                });
            }
            if utf8.non_ascii > 0 && 1.0 - utf8.confidence() <= UTF8_TOLERANCE {
                return Ok(Detected {
                    encoding: encoding_rs::UTF_8,
                    confidence: utf8.confidence(),
                    how: "utf8",
                    malformed: utf8.malformed,
                    bad_lines: utf8.bad_lines,
                });
            }
            let guess = det.guess(Some(b"cn"), chardetng::Utf8Detection::Deny);
            let guess = if guess == encoding_rs::GBK {
                encoding_rs::GB18030
            } else {
                guess
            };
            (guess, "guessed", 0)
        }
    };
    let st = scan(&mut *open()?, enc, skip, &mut |_| {})?;
    Ok(Detected {
        encoding: enc,
        confidence: if how == "bom" { 1.0 } else { st.confidence() },
        how,
        malformed: st.malformed,
        bad_lines: st.bad_lines,
    })
}

/// Decide the encoding of bytes in memory (a suppression file, a test).
pub fn detect_bytes(bytes: &[u8]) -> &'static Encoding {
    detect(&mut || Ok(Box::new(bytes) as Box<dyn Read>), None)
        .map(|d| d.encoding)
        .unwrap_or(encoding_rs::UTF_8)
}

/// The encoding `--encoding NAME` names (WHATWG labels: `utf-8`, `gbk`, `gb18030`,
/// `utf-16le`...); GBK and GB2312 are read as their superset GB18030.
pub fn by_label(label: &str) -> Option<&'static Encoding> {
    let e = Encoding::for_label(label.trim().as_bytes())?;
    Some(if e == encoding_rs::GBK {
        encoding_rs::GB18030
    } else {
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_in(bytes: &[u8]) -> Detected {
        detect(&mut || Ok(Box::new(bytes) as Box<dyn Read>), None).expect("detect")
    }

    fn list(n: usize) -> String {
        let mut s = String::from("手机号,姓名,欠款金额\n");
        for i in 0..n {
            s.push_str(&format!("1380013{i:04},张伟{i},{}.00\n", 1000 + i));
        }
        s
    }

    #[test]
    fn a_utf8_list_with_one_bad_byte_stays_utf8_and_names_the_line() {
        let mut bytes = list(50).into_bytes();
        // Line 8 (the 7th data row) gets a stray byte in the name.
        let at = bytes
            .windows("张伟6".len())
            .position(|w| w == "张伟6".as_bytes())
            .expect("row");
        bytes.insert(at, 0xFF);
        let d = detect_in(&bytes);
        assert_eq!(d.encoding, encoding_rs::UTF_8);
        assert_eq!(d.how, "utf8");
        assert_eq!(d.malformed, 1);
        assert_eq!(d.bad_lines, vec![8]);
        assert!(
            d.confidence > 0.99 && d.confidence < 1.0,
            "{}",
            d.confidence
        );
    }

    #[test]
    fn gbk_lists_are_read_as_gb18030_with_high_confidence() {
        let text = list(50);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let d = detect_in(&gbk);
        assert_eq!(d.encoding, encoding_rs::GB18030);
        assert_eq!(d.how, "guessed");
        assert_eq!(d.malformed, 0);
        assert_eq!(d.confidence, 1.0);
    }

    #[test]
    fn evidence_comes_from_the_whole_file_not_the_first_64k() {
        // 100 KB of ASCII, then GBK names: the first 64 KB alone say nothing.
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("1380013{:04},abc\n", i % 10_000));
        }
        text.push_str(&list(20));
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(detect_in(&gbk).encoding, encoding_rs::GB18030);
    }

    #[test]
    fn forced_and_bom() {
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名\n张伟\n");
        let d = detect(
            &mut || Ok(Box::new(&gbk[..]) as Box<dyn Read>),
            by_label("utf-8"),
        )
        .expect("detect");
        assert_eq!((d.encoding, d.how), (encoding_rs::UTF_8, "forced"));
        assert!(d.malformed > 0 && d.confidence < 0.5);
        let bom = "\u{feff}姓名\n".as_bytes();
        let d = detect_in(bom);
        assert_eq!(
            (d.encoding, d.how, d.confidence),
            (encoding_rs::UTF_8, "bom", 1.0)
        );
        assert_eq!(by_label("GBK"), Some(encoding_rs::GB18030));
        assert_eq!(by_label("klingon"), None);
    }
}
