//! Hold audio: a soft synthesized arpeggio (no recorded or copyrighted music), generated
//! here so `voices/hold/hold.wav` can be rebuilt and checked byte for byte.

/// Sample rate of the hold tune (telephone band; the line is G.711 anyway).
pub const RATE: u32 = 8000;

/// The hold tune, 8 s at 8 kHz mono: four chords (C, Am, F, G), each arpeggiated in
/// quarter-second notes with a gentle attack and decay, at about -20 dBFS so it never
/// clips after G.711 and sounds like music rather than a tone (a steady tone reads as
/// "line dead" or a busy signal to callers).
pub fn tune() -> Vec<i16> {
    // MIDI note numbers of each chord's arpeggio (root, third, fifth, octave).
    const CHORDS: [[u8; 4]; 4] = [
        [60, 64, 67, 72],
        [57, 60, 64, 69],
        [53, 57, 60, 65],
        [55, 59, 62, 67],
    ];
    let note_len = RATE as usize / 4;
    let mut out = Vec::with_capacity(CHORDS.len() * 8 * note_len);
    for chord in CHORDS {
        for step in 0..8 {
            let midi = chord[[0, 1, 2, 3, 2, 1, 2, 3][step]];
            let f = 440.0 * 2f64.powf((f64::from(midi) - 69.0) / 12.0);
            for i in 0..note_len {
                let t = i as f64 / f64::from(RATE);
                let attack = (i as f64 / 160.0).min(1.0);
                let decay = (-3.0 * t).exp();
                let wave = (2.0 * std::f64::consts::PI * f * t).sin()
                    + 0.3 * (4.0 * std::f64::consts::PI * f * t).sin();
                out.push((wave * attack * decay * 2600.0).round() as i16);
            }
        }
    }
    out
}

/// Write [`tune`] as a 16-bit mono WAV.
pub fn write_wav(path: &std::path::Path) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for s in tune() {
        w.write_sample(s)?;
    }
    w.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/voices/hold/hold.wav");

    /// Rebuilds the committed file: `cargo test --lib queue::hold -- --ignored`.
    #[test]
    #[ignore]
    fn write_committed_hold_audio() {
        write_wav(std::path::Path::new(COMMITTED)).unwrap();
    }

    #[test]
    fn the_committed_hold_audio_is_the_generated_tune() {
        let mut r = hound::WavReader::open(COMMITTED).unwrap();
        assert_eq!((r.spec().sample_rate, r.spec().channels), (RATE, 1));
        let file: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        let want = tune();
        assert_eq!(file.len(), want.len());
        // libm's last bit may differ between platforms: one step of tolerance.
        assert!(file.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1));
        let peak = want.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((2000..4000).contains(&peak), "{peak}");
    }
}
