//! PCM plumbing shared by the speech path: WAV files of any rate and channel count in,
//! mono `f32` at the rate a model wants out, and back to 16-bit for the wire and the disk.

use std::path::Path;

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

    /// The same audio at `rate` (a no-op when it already is).
    pub fn at_rate(&self, rate: u32) -> Result<Pcm, SpeechError> {
        Ok(Pcm {
            samples: resample(&self.samples, self.rate, rate)?,
            rate,
        })
    }
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float, any channel count), mixed
/// down to mono: recordings from phones, sipp captures and our own stereo call
/// recordings all arrive here.
pub fn load_wav(path: &Path) -> Result<Pcm, SpeechError> {
    let bad = |why: String| SpeechError::Audio {
        path: path.display().to_string(),
        why,
    };
    let wav = |e: hound::Error| SpeechError::Wav {
        path: path.display().to_string(),
        source: std::sync::Arc::new(e),
    };
    let mut r = hound::WavReader::open(path).map_err(wav)?;
    let spec = r.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>().map_err(wav)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav)?
        }
    };
    if spec.sample_rate == 0 {
        return Err(bad("sample rate 0".into()));
    }
    let samples = interleaved
        .chunks(channels)
        .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        .collect();
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

/// Resamples a whole clip between any two rates (22.05 kHz voices to the call's 8 kHz,
/// 44.1 kHz recordings to the recognizer's 16 kHz) with rubato's FFT resampler, delay
/// compensated so the output lines up with the input.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, SpeechError> {
    use rubato::Resampler;
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
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
}
