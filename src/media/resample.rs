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

/// A streaming FIR with its own history.
#[derive(Clone)]
struct Fir {
    taps: [f32; 23],
    hist: [f32; 23],
    pos: usize,
}

impl Fir {
    fn new() -> Self {
        Fir {
            taps: taps(),
            hist: [0.0; 23],
            pos: 0,
        }
    }

    fn push(&mut self, x: f32) -> f32 {
        self.hist[self.pos] = x;
        self.pos = (self.pos + 1) % self.hist.len();
        let n = self.hist.len();
        let mut acc = 0.0;
        for (k, t) in self.taps.iter().enumerate() {
            acc += t * self.hist[(self.pos + n - 1 - k) % n];
        }
        acc
    }
}

fn clamp16(x: f32) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

/// 16 kHz -> 8 kHz.
#[derive(Clone)]
pub struct Downsampler {
    fir: Fir,
    phase: bool,
}

impl Default for Downsampler {
    fn default() -> Self {
        Downsampler {
            fir: Fir::new(),
            phase: false,
        }
    }
}

impl Downsampler {
    /// Filter and keep every other sample, appending to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for &s in input {
            let y = self.fir.push(f32::from(s));
            if !self.phase {
                out.push(clamp16(y));
            }
            self.phase = !self.phase;
        }
    }
}

/// 8 kHz -> 16 kHz.
#[derive(Clone)]
pub struct Upsampler {
    fir: Fir,
}

impl Default for Upsampler {
    fn default() -> Self {
        Upsampler { fir: Fir::new() }
    }
}

impl Upsampler {
    /// Insert zeros and filter (gain 2 keeps the level), appending to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for &s in input {
            out.push(clamp16(2.0 * self.fir.push(f32::from(s))));
            out.push(clamp16(2.0 * self.fir.push(0.0)));
        }
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
