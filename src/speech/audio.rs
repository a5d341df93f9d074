//! PCM plumbing shared by the speech path: WAV files of any rate and channel count in,
//! mono `f32` at the rate a model wants out, and back to 16-bit for the wire and the disk.

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use super::SpeechError;

/// Mono audio at a known rate; samples in [-1, 1].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pcm {
    /// Samples, mono.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub rate: u32,
}

impl Pcm {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        if self.rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.rate)
    }

    /// The same audio with the silence at each end cut down to at most `lead_ms` before
    /// the first sound and `trail_ms` after the last, so phrases voiced one by one join
    /// with a clause's pause rather than two voices' worth of padding. "Silence" is
    /// below -40 dBFS (a voice's breath and room tone stay); all-silent audio is kept
    /// as is.
    pub fn trimmed(&self, lead_ms: u32, trail_ms: u32) -> Pcm {
        const FLOOR: f32 = 0.01;
        let loud = |x: &f32| x.abs() >= FLOOR;
        let (Some(first), Some(last)) = (
            self.samples.iter().position(loud),
            self.samples.iter().rposition(loud),
        ) else {
            return self.clone();
        };
        let per_ms = self.rate as usize / 1000;
        let from = first.saturating_sub(lead_ms as usize * per_ms);
        let to = (last + 1 + trail_ms as usize * per_ms).min(self.samples.len());
        Pcm {
            samples: self.samples[from..to].to_vec(),
            rate: self.rate,
        }
    }

    /// The same audio at `rate` (a no-op when it already is).
    pub fn at_rate(&self, rate: u32) -> Result<Pcm, SpeechError> {
        Ok(Pcm {
            samples: resample(&self.samples, self.rate, rate)?,
            rate,
        })
    }
}

/// The longest file [`load_wav`] reads: a quarter of an hour, longer than any call we
/// place and short enough that a mistaken file cannot run the recognizer for hours.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(15 * 60);

/// Sample rates a speech file may have: anything outside is a broken or hostile header
/// (a "1 Hz" header turns 32 KB into hours of audio for the resampler).
pub const SPEECH_RATES: RangeInclusive<u32> = 8_000..=48_000;

/// What a WAV header may claim before it is believed, so a crafted or damaged file is
/// refused with the field named instead of costing minutes of CPU and gigabytes of memory.
#[derive(Clone, Debug, PartialEq)]
pub struct WavLimits {
    /// Sample rates accepted, in Hz.
    pub rates: RangeInclusive<u32>,
    /// The most channels accepted.
    pub max_channels: u16,
    /// The longest audio accepted.
    pub max_duration: Duration,
    /// How the reader's user raises `max_duration` (a flag, a setting), named in the error.
    pub raise_with: Option<&'static str>,
}

impl Default for WavLimits {
    fn default() -> Self {
        WavLimits {
            rates: SPEECH_RATES,
            max_channels: 8,
            max_duration: DEFAULT_MAX_DURATION,
            raise_with: None,
        }
    }
}

/// `m min s s`, the way a person reads a duration.
fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float, any channel count), mixed
/// down to mono: recordings from phones, sipp captures and our own stereo call
/// recordings all arrive here. The header is checked against the default [`WavLimits`].
pub fn load_wav(path: &Path) -> Result<Pcm, SpeechError> {
    load_wav_limited(path, &WavLimits::default())
}

/// [`load_wav`] with the caller's limits: the header (rate, channels, data size against
/// the file's size, duration) is checked before a single sample is read.
pub fn load_wav_limited(path: &Path, limits: &WavLimits) -> Result<Pcm, SpeechError> {
    let bad = |why: String| SpeechError::Audio {
        path: path.display().to_string(),
        why,
    };
    let wav = |e: hound::Error| SpeechError::Wav {
        path: path.display().to_string(),
        source: std::sync::Arc::new(e),
    };
    let file_len = std::fs::metadata(path)
        .map_err(|e| wav(hound::Error::IoError(e)))?
        .len();
    let mut r = hound::WavReader::open(path).map_err(wav)?;
    let spec = r.spec();
    if spec.channels == 0 || spec.channels > limits.max_channels {
        return Err(bad(format!(
            "header field `channels` says {}; 1 to {} are accepted",
            spec.channels, limits.max_channels
        )));
    }
    if !limits.rates.contains(&spec.sample_rate) {
        return Err(bad(format!(
            "header field `sample rate` says {} Hz; speech audio is {} to {} Hz",
            spec.sample_rate,
            limits.rates.start(),
            limits.rates.end()
        )));
    }
    let bytes_per_sample = u64::from(spec.bits_per_sample.div_ceil(8));
    let data_bytes = u64::from(r.len()) * bytes_per_sample;
    if data_bytes > file_len {
        return Err(bad(format!(
            "header field `data size` says {data_bytes} bytes but the whole file has {file_len}"
        )));
    }
    let duration = Duration::from_secs_f64(f64::from(r.duration()) / f64::from(spec.sample_rate));
    if duration > limits.max_duration {
        let raise = limits
            .raise_with
            .map(|how| format!(" (raise the limit with {how})"))
            .unwrap_or_default();
        return Err(bad(format!(
            "lasts {}, longer than the {} accepted{raise}",
            minutes(duration),
            minutes(limits.max_duration)
        )));
    }
    let channels = usize::from(spec.channels);
    let mut samples = Vec::with_capacity(r.duration() as usize);
    let mut mix = |frame: &mut Vec<f32>, v: f32| {
        frame.push(v);
        if frame.len() == channels {
            samples.push(frame.iter().sum::<f32>() / channels as f32);
            frame.clear();
        }
    };
    let mut frame = Vec::with_capacity(channels);
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in r.samples::<f32>() {
                mix(&mut frame, s.map_err(wav)?);
            }
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            for s in r.samples::<i32>() {
                mix(&mut frame, s.map_err(wav)? as f32 * scale);
            }
        }
    }
    Ok(Pcm {
        samples,
        rate: spec.sample_rate,
    })
}

/// Writes mono 16-bit PCM, the format telephony tools and prompt packs use.
pub fn write_wav(path: &Path, pcm: &Pcm) -> Result<(), SpeechError> {
    let bad = |e: hound::Error| SpeechError::Wav {
        path: path.display().to_string(),
        source: std::sync::Arc::new(e),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(bad)?;
    for s in to_i16(&pcm.samples) {
        w.write_sample(s).map_err(bad)?;
    }
    w.finalize().map_err(bad)
}

/// Float samples to 16-bit with clipping (TTS output can overshoot 1.0).
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
        .collect()
}

/// 16-bit samples to float.
pub fn from_i16(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// The rates [`resample`] converts between: every voice, recording and model rate there
/// is, and nothing a sane header would not say.
pub const RESAMPLE_RATES: RangeInclusive<u32> = 4_000..=192_000;

/// Resamples a whole clip between any two rates (22.05 kHz voices to the call's 8 kHz,
/// 44.1 kHz recordings to the recognizer's 16 kHz) with rubato's FFT resampler, delay
/// compensated so the output lines up with the input.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, SpeechError> {
    use rubato::Resampler;
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    // The FFT resampler's tables grow with the ratio of the rates: a rate from a broken
    // header must be refused here, not turned into gigabytes.
    for rate in [from, to] {
        if !RESAMPLE_RATES.contains(&rate) {
            return Err(SpeechError::Resample {
                from,
                to,
                why: format!(
                    "{rate} Hz is not an audio rate (resampling takes {} to {} Hz)",
                    RESAMPLE_RATES.start(),
                    RESAMPLE_RATES.end()
                ),
            });
        }
    }
    fn err<E: std::error::Error + Send + Sync + 'static>(
        from: u32,
        to: u32,
    ) -> impl Fn(E) -> SpeechError {
        move |e| SpeechError::Resampler {
            from,
            to,
            source: std::sync::Arc::new(e),
        }
    }
    const CHUNK: usize = 1024;
    let mut r = rubato::FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1)
        .map_err(err(from, to))?;
    let want = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let delay = r.output_delay();
    let mut out = Vec::with_capacity(want + delay + CHUNK);
    let mut chunks = samples.chunks_exact(CHUNK);
    for c in &mut chunks {
        let o = r.process(&[c], None).map_err(err(from, to))?;
        out.extend_from_slice(&o[0]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let o = r
            .process_partial(Some(&[rest]), None)
            .map_err(err(from, to))?;
        out.extend_from_slice(&o[0]);
    }
    while out.len() < want + delay {
        let o = r
            .process_partial::<&[f32]>(None, None)
            .map_err(err(from, to))?;
        if o[0].is_empty() {
            break;
        }
        out.extend_from_slice(&o[0]);
    }
    let end = (delay + want).min(out.len());
    Ok(out.get(delay..end).map(<[f32]>::to_vec).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_cuts_the_padding_at_both_ends_and_keeps_the_sound() {
        let rate = 8_000;
        let mut samples = vec![0.0; 800]; // 100 ms of silence
        samples.extend(tone(440.0, rate, 0.2)); // 200 ms of sound
        samples.extend(vec![0.001; 2_400]); // 300 ms under the floor
        let pcm = Pcm { samples, rate };
        let t = pcm.trimmed(20, 150);
        // The sine's first sample is 0: the sound starts at its second.
        let lead = t.samples.iter().position(|x| x.abs() >= 0.01).unwrap_or(0);
        assert!((159..=161).contains(&lead), "lead {lead} samples");
        let trail =
            t.samples.len() - 1 - t.samples.iter().rposition(|x| x.abs() >= 0.01).unwrap_or(0);
        assert_eq!(trail, 1_200, "150 ms kept after the last sound");
        // Shorter padding than asked for is kept as it is.
        let again = t.trimmed(50, 500);
        assert_eq!(again.samples.len(), t.samples.len());
        // All silence: nothing to anchor on, nothing cut.
        let quiet = Pcm {
            samples: vec![0.0; 100],
            rate,
        };
        assert_eq!(quiet.trimmed(0, 0).samples.len(), 100);
    }

    fn tone(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_pitch() {
        let x = tone(440.0, 22050, 1.0);
        let y = resample(&x, 22050, 8000).expect("resample");
        assert_eq!(y.len(), 8000);
        // Zero crossings of a 440 Hz tone over one second: ~880.
        let zc = y
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((870..=890).contains(&zc), "{zc}");
        // Delay compensated: the tone starts at the start, not after the filter delay.
        assert!(y[20..60].iter().any(|s| s.abs() > 0.2));
    }

    #[test]
    fn wav_round_trip_mixes_stereo_to_mono() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("st.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).expect("create");
        for _ in 0..100 {
            w.write_sample(16384i16).expect("l");
            w.write_sample(0i16).expect("r");
        }
        w.finalize().expect("fin");
        let pcm = load_wav(&p).expect("load");
        assert_eq!(pcm.rate, 44100);
        assert_eq!(pcm.samples.len(), 100);
        assert!((pcm.samples[0] - 0.25).abs() < 1e-3);
        let e = load_wav(&dir.path().join("missing.wav")).expect_err("missing");
        assert!(e.to_string().contains("missing.wav"), "{e}");
    }

    /// A canonical 44-byte PCM WAV header with whatever the fields say, then `payload`.
    fn crafted(channels: u16, rate: u32, data_len: u32, payload: &[u8]) -> Vec<u8> {
        let bits = 16u16;
        let align = channels.saturating_mul(bits / 8);
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + payload.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&rate.saturating_mul(u32::from(align)).to_le_bytes());
        b.extend_from_slice(&align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn load_bytes(name: &str, bytes: &[u8], limits: &WavLimits) -> Result<Pcm, SpeechError> {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        load_wav_limited(&p, limits)
    }

    #[test]
    fn absurd_headers_are_refused_with_the_file_and_the_field_named() {
        let payload = vec![0u8; 32_000];
        let limits = WavLimits::default();
        // 32 KB that claim 1 Hz: 16,000 s of audio for the resampler.
        let e = load_bytes("one_hz.wav", &crafted(1, 1, 32_000, &payload), &limits)
            .expect_err("1 Hz")
            .to_string();
        assert!(
            e.contains("one_hz.wav") && e.contains("`sample rate`") && e.contains("1 Hz"),
            "{e}"
        );
        let e = load_bytes("wide.wav", &crafted(40, 8000, 32_000, &payload), &limits)
            .expect_err("40 channels")
            .to_string();
        assert!(
            e.contains("wide.wav") && e.contains("`channels` says 40"),
            "{e}"
        );
        let e = load_bytes(
            "short.wav",
            &crafted(1, 8000, 2_000_000_000, &payload),
            &limits,
        )
        .expect_err("data larger than the file")
        .to_string();
        assert!(
            e.contains("short.wav") && e.contains("`data size` says 2000000000 bytes"),
            "{e}"
        );
        // The same bytes with an honest header load.
        let ok = load_bytes("ok.wav", &crafted(1, 8000, 32_000, &payload), &limits).expect("ok");
        assert_eq!((ok.rate, ok.samples.len()), (8000, 16_000));
    }

    #[test]
    fn files_longer_than_the_limit_are_refused_naming_how_to_raise_it() {
        // Two seconds at 8 kHz against a one-second limit.
        let payload = vec![0u8; 32_000];
        let limits = WavLimits {
            max_duration: Duration::from_secs(1),
            raise_with: Some("--max-minutes"),
            ..WavLimits::default()
        };
        let e = load_bytes("long.wav", &crafted(1, 8000, 32_000, &payload), &limits)
            .expect_err("too long")
            .to_string();
        assert!(
            e.contains("long.wav") && e.contains("lasts 2 s") && e.contains("--max-minutes"),
            "{e}"
        );
        assert_eq!(minutes(Duration::from_secs(903)), "15 min 3 s");
    }

    #[test]
    fn the_resampler_refuses_rates_no_audio_has() {
        let e = resample(&[0.0; 1000], 1, 16_000).expect_err("1 Hz");
        assert!(e.to_string().contains("1 Hz"), "{e}");
        assert!(resample(&[0.0; 1000], 16_000, 1_000_000).is_err());
        assert_eq!(
            resample(&[0.0; 800], 8_000, 16_000).expect("ok").len(),
            1600
        );
    }
}
