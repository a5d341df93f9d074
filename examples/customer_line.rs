//! A scripted customer's voice for a test call: synthesizes each line with the locale's
//! voice, places it at its start second, and writes `DIR/customer.pcap`, which
//! `tests/sip/customer_speaks.xml` (a sipp phone run from DIR) plays once answered.
//!
//! cargo run --release --example customer_line -- DIR en-US 60 "5=Yes, this is me." "26=I can pay today."

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use voxdial::media::g711::G711;
use voxdial::media::pcap::{timeline, write_rtp_pcap};
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::SpeechConfig;
use voxdial::speech::tts::{self, Voice};
use voxdial::Locale;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: customer_line DIR LOCALE TOTAL_S AT=TEXT...");
    }
    let dir = PathBuf::from(&args[0]);
    let locale: Locale = args[1].parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let total: f64 = args[2].parse().context("TOTAL_S: seconds")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = SpeechConfig::default_config()?;
    let voice = Voice::load(cfg.tts_for(locale)?, &root.join("data/models"))?;
    let mut clips = Vec::new();
    for a in &args[3..] {
        let (at, text) = a
            .split_once('=')
            .with_context(|| format!("{a:?}: expected AT=TEXT"))?;
        let at: f64 = at
            .parse()
            .with_context(|| format!("{a:?}: AT is seconds"))?;
        let mut samples = Vec::new();
        let mut rate = 0;
        tts::speak(&voice, text, locale, |c| {
            rate = c.pcm.rate;
            samples.extend_from_slice(&c.pcm.samples);
        })?;
        let pcm = Pcm { samples, rate }.at_rate(8000)?;
        clips.push((at, audio::to_i16(&pcm.samples)));
    }
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("customer.pcap");
    write_rtp_pcap(&out, &timeline(&clips, total), G711::Ulaw)?;
    println!("{}: {} lines over {total} s", out.display(), clips.len());
    Ok(())
}
