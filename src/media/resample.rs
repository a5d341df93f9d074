//! 8 kHz <-> 16 kHz for the speech pipeline (which works at 16 kHz) and the phone line
//! (G.711 at 8 kHz). A fixed 2:1 ratio needs only one short linear-phase low-pass FIR,
//! kept with its history across 20 ms frames so frame edges do not click.

/// Filter taps: a Hamming-windowed sinc at 3.7 kHz for a 16 kHz rate.
fn taps() -> [f32; 23] {
    let n = 23usize;
    let fc = 3700.0 / 16000.0;
    let mut t = [0f32; 23];
    let mid = (n - 1) as f32 / 2.0;
    let mut sum = 0.0;
    for (i, v) in t.iter_mut().enumerate() {
        let x = i as f32 - mid;
        let sinc = if x == 0.0 {
            2.0 * fc
        } else {
            (2.0 * std::f32::consts::PI * fc * x).sin() / (std::f32::consts::PI * x)
        };
        let w = 0.54 - 0.46 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos();
        *v = sinc * w;
        sum += *v;
    }
    for v in &mut t {
        *v /= sum;
    }
    t
}

/// A block FIR: the last N-1 inputs are kept in front of each new block, so every
/// output is one dot product over a contiguous window (vectorises; no modulo).
#[derive(Clone)]
struct Fir<const N: usize> {
    /// Taps reversed, so `window[k] * rev[k]` is the convolution.
    rev: [f32; N],
    buf: Vec<f32>,
}

impl<const N: usize> Fir<N> {
    fn new(taps: [f32; N]) -> Self {
        let mut rev = taps;
        rev.reverse();
        Fir {
            rev,
            buf: vec![0.0; N - 1],
        }
    }

    /// Filter a block; `emit(i, y)` receives each output.
    fn run(&mut self, input: &[i16], mut emit: impl FnMut(usize, f32)) {
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        for (i, w) in self.buf.windows(N).enumerate() {
            // Four partial sums let the compiler use SIMD lanes.
            let mut acc = [0f32; 4];
            for (k, (a, b)) in w.iter().zip(&self.rev).enumerate() {
                acc[k % 4] += a * b;
            }
            emit(i, acc[0] + acc[1] + acc[2] + acc[3]);
        }
        let keep = self.buf.len() - (N - 1);
        self.buf.drain(..keep);
    }
}

fn clamp16(x: f32) -> i16 {
    // `as` saturates at the i16 range; rounding half away from zero without `roundf`.
    (x + 0.5f32.copysign(x)) as i16
}

/// 16 kHz -> 8 kHz.
#[derive(Clone)]
pub struct Downsampler {
    fir: Fir<23>,
    phase: bool,
}

impl Default for Downsampler {
    fn default() -> Self {
        Downsampler {
            fir: Fir::new(taps()),
            phase: false,
        }
    }
}

impl Downsampler {
    /// Filter and keep every other sample, appending to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let start = self.phase;
        self.fir.run(input, |i, y| {
            if (i % 2 == 0) != start {
                out.push(clamp16(y));
            }
        });
        if input.len() % 2 == 1 {
            self.phase = !self.phase;
        }
    }
}

/// 8 kHz -> 16 kHz, polyphase: the zero-stuffed samples are never multiplied, so each
/// output costs half the taps.
#[derive(Clone)]
pub struct Upsampler {
    even: Fir<12>,
    odd: Fir<12>,
}

impl Default for Upsampler {
    fn default() -> Self {
        let t = taps();
        let (mut e, mut o) = ([0f32; 12], [0f32; 12]);
        for (i, v) in t.iter().enumerate() {
            if i % 2 == 0 {
                e[i / 2] = 2.0 * v;
            } else {
                o[i / 2] = 2.0 * v;
            }
        }
        Upsampler {
            even: Fir::new(e),
            odd: Fir::new(o),
        }
    }
}

impl Upsampler {
    /// Two output samples per input sample (gain 2 keeps the level), appended to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let base = out.len();
        out.resize(base + 2 * input.len(), 0);
        let dst = &mut out[base..];
        self.even.run(input, |i, y| dst[2 * i] = clamp16(y));
        let dst = &mut out[base..];
        self.odd.run(input, |i, y| dst[2 * i + 1] = clamp16(y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, rate: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate).sin()) as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&v| f32::from(v).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn speech_band_passes_and_aliases_are_stopped() {
        // 1 kHz passes both ways at about the same level.
        let mut d = Downsampler::default();
        let mut out = vec![];
        for chunk in tone(1000.0, 16000.0, 3200).chunks(320) {
            d.process(chunk, &mut out);
        }
        assert_eq!(out.len(), 1600);
        let r = rms(&out[100..]) / rms(&tone(1000.0, 8000.0, 1600));
        assert!((0.9..1.1).contains(&r), "1 kHz down gain {r}");
        // 6 kHz would alias to 2 kHz at 8 kHz: it must be strongly attenuated.
        let mut d = Downsampler::default();
        let mut out = vec![];
        d.process(&tone(6000.0, 16000.0, 3200), &mut out);
        let r = rms(&out[100..]) / 5657.0;
        assert!(r < 0.1, "6 kHz leaks through at {r}");
        let mut u = Upsampler::default();
        let mut up = vec![];
        for chunk in tone(1000.0, 8000.0, 1600).chunks(160) {
            u.process(chunk, &mut up);
        }
        assert_eq!(up.len(), 3200);
        let r = rms(&up[200..]) / 5657.0;
        assert!((0.9..1.1).contains(&r), "1 kHz up gain {r}");
    }
}
