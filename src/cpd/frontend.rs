//! The signal front end: inbound PCM at the line's rate becomes 20 ms analysis frames at
//! 8 kHz (16 kHz input goes through `media::resample`, the same 2:1 filter the media path
//! uses), high-passed, with the loudness, spectral flatness and zero-crossing rate that the
//! tone and speech rules start from.

use super::config::CpdConfig;
use crate::media::resample::Downsampler;
use std::f32::consts::PI;

/// Analysis rate: telephone audio carries nothing useful for CPD above 4 kHz.
pub(super) const RATE: f32 = 8000.0;
/// Samples per analysis frame (20 ms at 8 kHz), the RTP packet size.
pub(super) const FRAME: usize = 160;
/// Single-tone window (40 ms): 25 Hz bins, short enough to time a 274 ms SIT segment.
pub(super) const WIN: usize = 320;
/// Dual-tone window (80 ms): 12.5 Hz bins, so 440 and 480 Hz are three bins apart and a
/// single 450 or 460 Hz tone does not pass for the pair.
pub(super) const WIN2: usize = 640;
pub(super) use super::config::FRAME_MS;

/// Second-order Butterworth high-pass at 200 Hz: removes DC and mains hum and the rumble of
/// brown noise, which otherwise pass the energy gate as "speech".
struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl HighPass {
    fn new() -> Self {
        let w0 = 2.0 * PI * 200.0 / RATE;
        let alpha = w0.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let c = w0.cos();
        let a0 = 1.0 + alpha;
        HighPass {
            b: [(1.0 + c) / 2.0 / a0, -(1.0 + c) / a0, (1.0 + c) / 2.0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// One frame's loudness and spectral shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Level {
    /// Frame power in dBFS (full-scale square = 0).
    pub(super) db: f32,
    /// Spectral flatness proxy (1 = white, near 0 for tones and vowels); 1 for frames too
    /// quiet to measure.
    pub(super) flat: f32,
    /// Zero crossings per sample.
    pub(super) zcr: f32,
}

/// Framing state: the last 80 ms of high-passed 8 kHz audio, the newest 20 ms frame at
/// its end, filled sample by sample so any chunking of the input gives the same frames.
pub(super) struct Frontend {
    down: Option<Downsampler>,
    /// The 8 kHz copy of the latest 16 kHz push (kept to reuse its allocation).
    resampled: Vec<i16>,
    hp: HighPass,
    win: [f32; WIN2],
    fill: usize,
    hamming: [f32; FRAME],
    scratch: [f32; FRAME],
}

impl Frontend {
    /// A front end for input at `rate_hz` (8000 or 16000, checked by `CpdConfig::validate`).
    pub(super) fn new(rate_hz: u32) -> Self {
        let mut hamming = [0f32; FRAME];
        for (i, w) in hamming.iter_mut().enumerate() {
            *w = 0.54 - 0.46 * (2.0 * PI * i as f32 / (FRAME - 1) as f32).cos();
        }
        Frontend {
            down: (rate_hz == 16000).then(Downsampler::default),
            resampled: Vec::new(),
            hp: HighPass::new(),
            win: [0.0; WIN2],
            fill: 0,
            hamming,
            scratch: [0.0; FRAME],
        }
    }

    /// 16 kHz input brought to the analysis rate through the resampler (whose state carries
    /// across calls, so chunk edges do not click); `None` when the input is already 8 kHz.
    pub(super) fn resample(&mut self, pcm: &[i16]) -> Option<Vec<i16>> {
        let d = self.down.as_mut()?;
        let mut out = std::mem::take(&mut self.resampled);
        out.clear();
        d.process(pcm, &mut out);
        Some(out)
    }

    /// Gives back the buffer [`Frontend::resample`] returned, to reuse its allocation.
    pub(super) fn recycle(&mut self, buf: Vec<i16>) {
        self.resampled = buf;
    }

    /// Adds one 8 kHz sample; true when it completed a frame (read it with
    /// [`Frontend::window`], then call [`Frontend::advance`]).
    pub(super) fn push_sample(&mut self, s: i16) -> bool {
        let x = f32::from(s) / 32768.0;
        self.win[WIN2 - FRAME + self.fill] = self.hp.run(x);
        self.fill += 1;
        self.fill == FRAME
    }

    /// The last 80 ms, newest frame last.
    pub(super) fn window(&self) -> &[f32; WIN2] {
        &self.win
    }

    /// Makes room for the next frame.
    pub(super) fn advance(&mut self) {
        self.win.copy_within(FRAME.., 0);
        self.fill = 0;
    }

    /// Loudness and shape of the newest frame. Frames too quiet to be speech or a tone skip
    /// the flatness (most of a call's first seconds are such frames).
    pub(super) fn level(&mut self, cfg: &CpdConfig) -> Level {
        let cur = &self.win[WIN2 - FRAME..];
        let p: f32 = cur.iter().map(|x| x * x).sum::<f32>() / FRAME as f32;
        let db = 10.0 * (p + 1e-12).log10();
        let crossings = cur
            .windows(2)
            .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
            .count();
        let zcr = crossings as f32 / FRAME as f32;
        if db < cfg.min_speech_dbfs.min(cfg.tone_min_dbfs) {
            return Level { db, flat: 1.0, zcr };
        }
        for (i, x) in cur.iter().enumerate() {
            self.scratch[i] = x * self.hamming[i];
        }
        let flat = lpc_flatness(&self.scratch);
        Level { db, flat, zcr }
    }
}

/// Spectral flatness by proxy: the order-10 LPC prediction-error ratio (1 = white, → 0 for
/// peaky spectra such as vowels and tones).
pub(super) fn lpc_flatness(x: &[f32]) -> f32 {
    const P: usize = 10;
    let mut r = [0f64; P + 1];
    for (k, rk) in r.iter_mut().enumerate() {
        *rk = x[k..]
            .iter()
            .zip(x.iter())
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
    }
    if r[0] < 1e-10 {
        return 1.0;
    }
    // A touch of white-noise correction keeps Levinson stable on pure tones.
    let r0 = r[0] * (1.0 + 1e-6);
    let mut a = [0f64; P + 1];
    a[0] = 1.0;
    let mut err = r0;
    for i in 1..=P {
        let mut acc = r[i];
        for j in 1..i {
            acc += a[j] * r[i - j];
        }
        let k = -acc / err;
        let prev = a;
        for j in 1..i {
            a[j] = prev[j] + k * prev[i - j];
        }
        a[i] = k;
        err *= 1.0 - k * k;
        if err <= 0.0 {
            return 0.0;
        }
    }
    ((err / r0) as f32).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (9000.0 * (2.0 * PI * hz * i as f32 / rate as f32).sin()) as i16)
            .collect()
    }

    /// Frames of `pcm` fed in `chunk`-sample pieces; (level dB, flatness) of each.
    fn frames(rate: u32, pcm: &[i16], chunk: usize) -> Vec<(f32, f32)> {
        let mut f = Frontend::new(rate);
        let cfg = CpdConfig::default();
        let mut out = Vec::new();
        for c in pcm.chunks(chunk) {
            let buf = f.resample(c);
            for &s in buf.as_deref().unwrap_or(c) {
                if f.push_sample(s) {
                    let l = f.level(&cfg);
                    out.push((l.db, l.flat));
                    f.advance();
                }
            }
            if let Some(b) = buf {
                f.recycle(b);
            }
        }
        out
    }

    #[test]
    fn sixteen_khz_tones_reach_the_analysis_rate_at_their_level_and_shape() {
        // The tone families CPD names sit between 350 Hz (dial) and 2225 Hz (modem): each
        // must arrive from 16 kHz input as loud and as pure as from 8 kHz input.
        for hz in [350.0, 450.0, 1100.0, 1400.0, 1800.0, 2100.0, 2225.0] {
            let at8 = frames(8000, &tone(hz, 8000, 8000), 160);
            let at16 = frames(16000, &tone(hz, 16000, 16000), 320);
            assert_eq!(at8.len(), 50);
            assert_eq!(at16.len(), 50, "{hz} Hz");
            let (d8, f8) = at8[25];
            let (d16, f16) = at16[25];
            assert!((d8 - d16).abs() < 0.5, "{hz} Hz: {d8} dB vs {d16} dB");
            assert!(f16 < 0.05 && f8 < 0.05, "{hz} Hz: flatness {f8} vs {f16}");
        }
        // What would alias into the band (6 kHz -> 2 kHz) is stopped.
        let alias = frames(16000, &tone(6000.0, 16000, 16000), 320);
        let (d8, _) = frames(8000, &tone(2000.0, 8000, 8000), 160)[25];
        assert!(alias[25].0 < d8 - 20.0, "6 kHz leaks at {} dB", alias[25].0);
    }

    #[test]
    fn chunking_does_not_change_the_frames() {
        let pcm = tone(440.0, 16000, 4000);
        assert_eq!(frames(16000, &pcm, 320), frames(16000, &pcm, 1));
        assert_eq!(frames(16000, &pcm, 320), frames(16000, &pcm, 77));
    }

    #[test]
    fn flatness_tells_a_tone_from_white_noise() {
        let t: Vec<f32> = (0..160).map(|i| (0.3 * (i as f32)).sin()).collect();
        assert!(lpc_flatness(&t) < 0.05);
        let mut x = 1u32;
        let n: Vec<f32> = (0..160)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as f32 / u32::MAX as f32 - 0.5
            })
            .collect();
        assert!(lpc_flatness(&n) > 0.5);
        assert_eq!(lpc_flatness(&[0.0; 160]), 1.0);
    }
}
