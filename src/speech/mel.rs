//! Whisper's log-mel front end, for models that take Whisper encoder features as input
//! (the Smart Turn end-of-turn model): 16 kHz audio in, 80 mel bands × 10 ms frames out.
//!
//! It follows the Hugging Face `WhisperFeatureExtractor` with `do_normalize` (the front end
//! Smart Turn was trained with): the window is normalised to zero mean and unit variance,
//! framed with a centred, reflect-padded 25 ms periodic Hann window every 10 ms, its power
//! spectrum projected on 80 Slaney-normalised mel filters, and the log10 clamped to 8
//! decades below its peak and scaled to roughly -1..1. whisper.cpp keeps its own front end
//! inside the library, so this one is ours. Pure arithmetic: builds without models.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate the features are defined for.
pub const SAMPLE_RATE: usize = 16_000;
/// Analysis window (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Mel bands.
pub const N_MELS: usize = 80;

const N_BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
const NORM_EPS: f32 = 1e-7;

/// One mel filter: its first FFT bin and its weights from there on (the filters are
/// triangles a few bins wide, so a sparse row is ~20× less work than the dense matrix).
#[derive(Clone, Debug)]
struct Filter {
    first: usize,
    weights: Vec<f64>,
}

/// A log-mel extractor for windows of a fixed length. Build once and reuse: it holds the
/// FFT plan, the Hann window and the filter bank.
#[derive(Clone)]
pub struct LogMel {
    samples: usize,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    filters: Vec<Filter>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz, logarithmic above.
    if hz >= 1000.0 {
        15.0 + (hz / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

fn filter_bank() -> Vec<Filter> {
    let nyquist = (SAMPLE_RATE / 2) as f64;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let bin_hz = |k: usize| nyquist * k as f64 / (N_BINS - 1) as f64;
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let dense: Vec<f64> = (0..N_BINS)
                .map(|k| {
                    let f = bin_hz(k);
                    let up = (f - left) / (centre - left);
                    let down = (right - f) / (right - centre);
                    up.min(down).max(0.0) * norm
                })
                .collect();
            let first = dense.iter().position(|w| *w > 0.0).unwrap_or(0);
            let last = dense.iter().rposition(|w| *w > 0.0).unwrap_or(first);
            Filter {
                first,
                weights: dense[first..=last].to_vec(),
            }
        })
        .collect()
}

impl LogMel {
    /// An extractor for windows of `seconds` of 16 kHz audio (Smart Turn: 8 s, 800 frames).
    pub fn new(seconds: usize) -> LogMel {
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        LogMel {
            samples: seconds.max(1) * SAMPLE_RATE,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
            window,
            filters: filter_bank(),
        }
    }

    /// Samples in one window.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Frames per window (one per hop; the reference drops the last, centred one).
    pub fn frames(&self) -> usize {
        self.samples / HOP
    }

    /// The last `samples()` of `audio`, zero-padded at the front when shorter: a model
    /// trained on turn ends sees the end of the turn at the end of its window.
    pub fn window_of(&self, audio: &[f32]) -> Vec<f32> {
        let take = audio.len().min(self.samples);
        let mut w = vec![0.0f32; self.samples - take];
        w.extend_from_slice(&audio[audio.len() - take..]);
        w
    }

    /// Features of exactly one window (a shorter input is zero-padded at the end, a longer
    /// one cut, as the reference does): `N_MELS` rows of `frames()` values, row-major.
    pub fn features(&self, audio: &[f32]) -> Vec<f32> {
        let mut x: Vec<f32> = audio.iter().copied().take(self.samples).collect();
        x.resize(self.samples, 0.0);
        // Zero mean, unit variance over the whole window, padding included. The sums are
        // taken in f64 (the reference's numpy sums float32 pairwise, close to exact; a
        // plain f32 running sum over 128k samples is not), the scaling in f32 as there.
        let n = x.len() as f64;
        let mean = (x.iter().map(|v| f64::from(*v)).sum::<f64>() / n) as f32;
        let var = (x
            .iter()
            .map(|v| f64::from(v - mean) * f64::from(v - mean))
            .sum::<f64>()
            / n) as f32;
        let scale = 1.0 / (var + NORM_EPS).sqrt();
        for v in &mut x {
            *v = (*v - mean) * scale;
        }
        // Centred frames: reflect-pad half a window on each side.
        let pad = N_FFT / 2;
        let len = x.len();
        let reflect = |i: isize| -> f64 {
            let j = if i < 0 {
                (-i) as usize
            } else if i as usize >= len {
                2 * (len - 1) - i as usize
            } else {
                i as usize
            };
            f64::from(x.get(j).copied().unwrap_or(0.0))
        };
        let frames = self.frames();
        let mut log = vec![0.0f64; N_MELS * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; N_BINS];
        for t in 0..frames {
            let start = (t * HOP) as isize - pad as isize;
            for (k, v) in input.iter_mut().enumerate() {
                *v = reflect(start + k as isize) * self.window[k];
            }
            // Lengths come from the plan itself, so the transform cannot refuse them.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, f) in self.filters.iter().enumerate() {
                let e: f64 = f
                    .weights
                    .iter()
                    .zip(&power[f.first..])
                    .map(|(w, p)| w * p)
                    .sum();
                log[m * frames + t] = e.max(MEL_FLOOR).log10();
            }
        }
        let peak = log.iter().copied().fold(f64::MIN, f64::max);
        log.iter()
            .map(|v| ((v.max(peak - 8.0) + 4.0) / 4.0) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_bank_is_slaney_mel() {
        // The scale's fixed points: linear to 1 kHz (15 mel), then log steps.
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(600.0) - 9.0).abs() < 1e-12);
        for hz in [0.0, 250.0, 999.0, 1000.0, 3100.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6, "{hz}");
        }
        let bank = filter_bank();
        assert_eq!(bank.len(), N_MELS);
        // Each triangle has area-normalised peak 2/(width in Hz): low filters are narrow
        // and tall, high ones wide and low; every bin up to Nyquist is covered by some.
        let peak = |f: &Filter| f.weights.iter().copied().fold(0.0, f64::max);
        assert!(peak(&bank[0]) > peak(&bank[79]) * 5.0);
        assert!(bank.iter().all(|f| !f.weights.is_empty()));
        assert!(bank[79].first + bank[79].weights.len() >= N_BINS - 2);
        let mut covered = [false; N_BINS];
        for f in &bank {
            for (i, w) in f.weights.iter().enumerate() {
                if *w > 0.0 {
                    covered[f.first + i] = true;
                }
            }
        }
        assert!(covered[1..N_BINS - 1].iter().all(|c| *c));
    }

    #[test]
    fn a_tone_lights_its_own_band_and_silence_sits_at_the_floor() {
        let lm = LogMel::new(1);
        assert_eq!(lm.frames(), 100);
        // 1 kHz tone in the middle half second, silence around it.
        let audio: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| {
                if (4000..12000).contains(&i) {
                    0.3 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let f = lm.features(&audio);
        assert_eq!(f.len(), N_MELS * 100);
        let at = |m: usize, t: usize| f[m * 100 + t];
        // The band holding 1 kHz (15 mel, about band 28 of 80 over 0-45.2 mel) is the
        // loudest in a tone frame.
        let loudest = (0..N_MELS)
            .max_by(|a, b| at(*a, 50).total_cmp(&at(*b, 50)))
            .unwrap_or(0);
        assert!((25..=31).contains(&loudest), "{loudest}");
        // Clamped 8 decades below the peak and scaled: peak (p+4)/4, floor (p-4)/4.
        let max = f.iter().copied().fold(f32::MIN, f32::max);
        let min = f.iter().copied().fold(f32::MAX, f32::min);
        assert!((max - min - 2.0).abs() < 1e-4, "{max} {min}");
        assert!((at(0, 5) - min).abs() < 1e-6);
    }

    #[test]
    fn the_window_keeps_the_end_of_the_turn() {
        let lm = LogMel::new(1);
        let short = vec![0.5f32; 100];
        let w = lm.window_of(&short);
        assert_eq!(w.len(), SAMPLE_RATE);
        assert_eq!(w[SAMPLE_RATE - 1], 0.5);
        assert_eq!(w[SAMPLE_RATE - 101], 0.0);
        let long: Vec<f32> = (0..SAMPLE_RATE * 2).map(|i| i as f32).collect();
        let w = lm.window_of(&long);
        assert_eq!(w[0], SAMPLE_RATE as f32);
        assert_eq!(w[SAMPLE_RATE - 1], (2 * SAMPLE_RATE - 1) as f32);
    }
}
