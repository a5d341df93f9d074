//! Tone detection: which call-progress, fax, modem, SIT or beep tone is on the line, from
//! a Pisarenko frequency estimate confirmed by Goertzel filters (dual tones by four fixed
//! filters over 80 ms), and what runs of tone frames mean from their frequency and cadence.

use super::config::CpdConfig;
use super::frontend::{Level, FRAME_MS, RATE, WIN, WIN2};
use super::verdict::{AnnouncementKind, Class, Hit, Rule, SitCode, ToneKind};
use std::f32::consts::PI;

/// Frames flatter than this (LPC error ratio) skip tone analysis: a tone at 10 dB SNR is ~0.1.
const TONE_MAX_FLATNESS: f32 = 0.15;

/// A tone seen in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ToneObs {
    Single(f32),
    Dual(Pair),
}

/// The dual tones of North American call progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pair {
    /// Dial tone.
    P350_440,
    /// Ringback.
    P440_480,
    /// Busy and reorder.
    P480_620,
}

/// The per-frame tone estimator: windows and scratch space, allocated once per detector.
pub(super) struct ToneAnalyzer {
    hann: [f32; WIN],
    hann_sum: f32,
    hann2: Vec<f32>,
    hann2_sum: f32,
    scratch: Vec<f32>,
}

impl ToneAnalyzer {
    pub(super) fn new() -> Self {
        let mut hann = [0f32; WIN];
        for (i, w) in hann.iter_mut().enumerate() {
            *w = 0.5 - 0.5 * (2.0 * PI * i as f32 / WIN as f32).cos();
        }
        let hann2: Vec<f32> = (0..WIN2)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / WIN2 as f32).cos())
            .collect();
        ToneAnalyzer {
            hann_sum: hann.iter().sum(),
            hann,
            hann2_sum: hann2.iter().sum(),
            hann2,
            scratch: vec![0.0; WIN2],
        }
    }

    /// The tone in the newest frame of `win2`, if the frame is one. Only frames the front
    /// end found almost perfectly predictable are worth the filters.
    pub(super) fn observe(
        &mut self,
        win2: &[f32; WIN2],
        level: &Level,
        cfg: &CpdConfig,
    ) -> Option<ToneObs> {
        if level.flat > TONE_MAX_FLATNESS {
            return None;
        }
        self.tone(win2, cfg)
    }

    fn tone(&mut self, win2: &[f32; WIN2], cfg: &CpdConfig) -> Option<ToneObs> {
        let win = &win2[WIN2 - WIN..];
        let p_win: f32 = win.iter().map(|x| x * x).sum::<f32>() / WIN as f32;
        if 10.0 * (p_win + 1e-12).log10() < cfg.tone_min_dbfs {
            return None;
        }
        let f0 = pisarenko(win);
        // A dual tone reads as one tone at its mean frequency (395, 460 or 550 Hz) over 40 ms,
        // so the pair filters run first, and only when the estimate lands there.
        if f0.is_none_or(|f| (330.0..=700.0).contains(&f)) {
            if let Some(d) = self.dual(win2, cfg) {
                return Some(d);
            }
        }
        let f0 = f0?;
        for (i, x) in win.iter().enumerate() {
            self.scratch[i] = x * self.hann[i];
        }
        // Power of a sinusoid at f estimated from the windowed DFT, as a share of the window's
        // power: ~1 for a pure tone, ~ENBW/fs (≈0.01) for white noise.
        let norm = 2.0 / (self.hann_sum * self.hann_sum) / p_win;
        let freqs = [f0 - 6.0, f0, f0 + 6.0];
        let powers = goertzel(&self.scratch[..WIN], freqs);
        let mut best = (0.0f32, f0);
        for (f, p) in freqs.into_iter().zip(powers) {
            if p * norm > best.0 {
                best = (p * norm, f);
            }
        }
        (best.0 >= cfg.tone_purity).then_some(ToneObs::Single(best.1))
    }

    fn dual(&mut self, win: &[f32; WIN2], cfg: &CpdConfig) -> Option<ToneObs> {
        let p_win: f32 = win.iter().map(|x| x * x).sum::<f32>() / WIN2 as f32;
        if 10.0 * (p_win + 1e-12).log10() < cfg.tone_min_dbfs {
            return None;
        }
        for (i, x) in win.iter().enumerate() {
            self.scratch[i] = x * self.hann2[i];
        }
        let norm = 2.0 / (self.hann2_sum * self.hann2_sum) / p_win;
        let [g350, g440, g480, g620] =
            goertzel(&self.scratch, [350.0, 440.0, 480.0, 620.0]).map(|p| p * norm);
        let pairs = [
            (Pair::P350_440, g350, g440),
            (Pair::P440_480, g440, g480),
            (Pair::P480_620, g480, g620),
        ];
        let mut best: Option<(Pair, f32)> = None;
        for (pair, a, b) in pairs {
            // Both components must be present: a single 440 Hz tone is not dial tone.
            if a + b >= cfg.tone_purity && a.min(b) >= 0.2 * (a + b) {
                match best {
                    Some((_, s)) if s >= a + b => {}
                    _ => best = Some((pair, a + b)),
                }
            }
        }
        best.map(|(p, _)| ToneObs::Dual(p))
    }
}

/// |X(f)|² of a (windowed) block at K frequencies by the Goertzel recurrence. The K filters
/// run in one pass because each recurrence is a serial dependency chain: interleaved, the CPU
/// overlaps them (about 3x faster than K separate loops).
fn goertzel<const K: usize>(x: &[f32], freqs: [f32; K]) -> [f32; K] {
    let c = freqs.map(|f| 2.0 * (2.0 * PI * f / RATE).cos());
    let mut s1 = [0.0f32; K];
    let mut s2 = [0.0f32; K];
    for &v in x {
        for k in 0..K {
            let s = v + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s;
        }
    }
    let mut out = [0.0f32; K];
    for k in 0..K {
        out[k] = (s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k]).max(0.0);
    }
    out
}

/// Dominant frequency of a single sinusoid in white noise from lags 1 and 2
/// (cos ω = (r2 + √(r2² + 8 r1²)) / 4 r1): three dot products, no bias from the noise power.
fn pisarenko(x: &[f32]) -> Option<f32> {
    let mut r1 = 0.0f64;
    let mut r2 = 0.0f64;
    for i in 2..x.len() {
        r1 += (x[i] * x[i - 1]) as f64;
        r2 += (x[i] * x[i - 2]) as f64;
    }
    if r1.abs() < 1e-12 {
        return Some(RATE / 4.0);
    }
    let c = (r2 + (r2 * r2 + 8.0 * r1 * r1).sqrt()) / (4.0 * r1);
    let f = (c.clamp(-1.0, 1.0).acos() as f32) * RATE / (2.0 * PI);
    (100.0..=3800.0).contains(&f).then_some(f)
}

// ---------------------------------------------------------------------------------------------
// Tone segments.

/// Frequency families that give tone segments their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Sit(u8),
    Cng,
    Ced,
    Modem,
    CallProgress,
    Dual(Pair),
    Other,
}

fn band_of(obs: ToneObs) -> Band {
    match obs {
        ToneObs::Dual(p) => Band::Dual(p),
        ToneObs::Single(f) => match f {
            f if (880.0..=1010.0).contains(&f) => Band::Sit(1),
            f if (1340.0..=1460.0).contains(&f) => Band::Sit(2),
            f if (1740.0..=1840.0).contains(&f) => Band::Sit(3),
            f if (1075.0..=1125.0).contains(&f) => Band::Cng,
            f if (2070.0..=2130.0).contains(&f) => Band::Ced,
            f if (2195.0..=2255.0).contains(&f) => Band::Modem,
            f if (380.0..=500.0).contains(&f) => Band::CallProgress,
            _ => Band::Other,
        },
    }
}

/// A tone run being followed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Track {
    dual: Option<Pair>,
    start: u64,
    last: u64,
    n: u32,
    sum_f: f32,
    misses: u32,
}

impl Track {
    fn freq(&self) -> f32 {
        self.sum_f / self.n.max(1) as f32
    }
    fn obs(&self) -> ToneObs {
        match self.dual {
            Some(p) => ToneObs::Dual(p),
            None => ToneObs::Single(self.freq()),
        }
    }
    fn dur_ms(&self) -> u64 {
        (self.last + 1 - self.start) * FRAME_MS
    }
    fn accepts(&self, o: ToneObs) -> bool {
        match (self.dual, o) {
            (Some(p), ToneObs::Dual(q)) => p == q,
            (None, ToneObs::Single(f)) => {
                let m = self.freq();
                (f - m).abs() <= (0.015 * m).max(15.0)
            }
            _ => false,
        }
    }
    fn seg(&self) -> Seg {
        Seg {
            band: band_of(self.obs()),
            freq: match self.dual {
                Some(Pair::P350_440) => 395.0,
                Some(Pair::P440_480) => 460.0,
                Some(Pair::P480_620) => 550.0,
                None => self.freq(),
            },
            start: self.start,
            end: self.last + 1,
        }
    }
}

/// A finished tone run, in frames.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    band: Band,
    freq: f32,
    start: u64,
    end: u64,
}

impl Seg {
    fn dur_ms(&self) -> u64 {
        (self.end - self.start) * FRAME_MS
    }

    /// A decision this segment supports, with its tone as evidence.
    fn hit(&self, class: Class, rule: Rule, off_ms: Option<u64>) -> Hit {
        let mut h = Hit::new(class, rule);
        h.tone = Some((self.freq, self.dur_ms(), off_ms));
        h
    }
}

/// Runs of tone frames and what they add up to: the tone being followed, the last
/// call-progress segments (for cadence) and the SIT segments collected so far.
pub(super) struct ToneTracker {
    cfg: CpdConfig,
    /// The frame being analysed (frames since the detector started).
    frame: u64,
    /// Voiced time heard so far: a fax does not talk before its calling tone.
    speech_ms: u64,
    track: Option<Track>,
    cp: Vec<Seg>,
    sit: Vec<Seg>,
    tone_segs: u32,
}

impl ToneTracker {
    pub(super) fn new(cfg: CpdConfig) -> Self {
        ToneTracker {
            cfg,
            frame: 0,
            speech_ms: 0,
            track: None,
            cp: Vec::new(),
            sit: Vec::new(),
            tone_segs: 0,
        }
    }

    /// Whether a tone run is going on now.
    pub(super) fn tracking(&self) -> bool {
        self.track.is_some()
    }

    /// Whether any tone segment ended so far.
    pub(super) fn heard_segments(&self) -> bool {
        self.tone_segs > 0
    }

    /// The answer starts a new cadence: ringing before it says nothing about after.
    pub(super) fn answered(&mut self) {
        self.cp.clear();
    }

    /// One frame's tone observation (frame number `frame`, `speech_ms` of voice heard
    /// before it); the decisions it supports, in order.
    pub(super) fn frame(&mut self, obs: Option<ToneObs>, frame: u64, speech_ms: u64) -> Vec<Hit> {
        self.frame = frame;
        self.speech_ms = speech_ms;
        let mut hits: Vec<Hit> = Vec::new();
        match (self.track.as_mut(), obs) {
            (Some(t), Some(o)) if t.accepts(o) => {
                t.last = frame;
                t.misses = 0;
                if let ToneObs::Single(hz) = o {
                    t.sum_f += hz;
                }
                t.n += 1;
            }
            (Some(t), None) if t.misses == 0 => t.misses = 1,
            (Some(_), _) => {
                if let Some(t) = self.track.take() {
                    hits.extend(self.on_segment(t.seg()));
                }
            }
            (None, _) => {}
        }
        if self.track.is_none() {
            if let Some(o) = obs {
                self.track = Some(Track {
                    dual: match o {
                        ToneObs::Dual(p) => Some(p),
                        ToneObs::Single(_) => None,
                    },
                    start: frame,
                    last: frame,
                    n: 1,
                    sum_f: match o {
                        ToneObs::Single(hz) => hz,
                        ToneObs::Dual(_) => 0.0,
                    },
                    misses: 0,
                });
            }
        }
        if let Some(t) = self.track {
            hits.extend(self.on_ongoing(&t));
        }
        hits.extend(self.sit_timeout(false));
        hits.extend(self.ringback_timeout());
        hits
    }

    /// The deadline: the run going on ends here and collected SIT segments are resolved.
    pub(super) fn flush(&mut self, frame: u64, speech_ms: u64) -> Vec<Hit> {
        self.frame = frame;
        self.speech_ms = speech_ms;
        let mut hits = Vec::new();
        if let Some(t) = self.track.take() {
            hits.extend(self.on_segment(t.seg()));
        }
        hits.extend(self.sit_timeout(true));
        hits
    }

    /// The deadline's guess from tones alone when nobody spoke: one long burst is most
    /// likely ringback cut short; short fragments without a cadence could be anything, and
    /// "busy" would be a confident guess.
    pub(super) fn deadline_guess(&self) -> Option<Hit> {
        let last = self.cp.last()?;
        let kind = if last.dur_ms() >= 700 {
            ToneKind::Ringback
        } else {
            ToneKind::Other
        };
        Some(last.hit(Class::Tone(kind), Rule::Deadline, None))
    }

    fn on_segment(&mut self, s: Seg) -> Option<Hit> {
        self.tone_segs += 1;
        let d = s.dur_ms();
        let c = &self.cfg;
        let beep = |s: &Seg| {
            (c.beep_min_ms..=c.beep_max_ms).contains(&s.dur_ms())
                && (500.0..=3000.0).contains(&s.freq)
        };
        match s.band {
            Band::Ced if d >= c.ced_min_ms => Some(s.hit(Class::Fax, Rule::Ced, None)),
            Band::Cng if (c.cng_min_ms..=c.cng_max_ms).contains(&d) => {
                // A voicemail beep can be 1100 Hz too; a fax does not talk first.
                if self.speech_ms < 300 {
                    Some(s.hit(Class::Fax, Rule::Cng, None))
                } else {
                    Some(s.hit(Class::Machine, Rule::Beep, None))
                }
            }
            Band::Sit(b) if (150..=500).contains(&d) => {
                let gap = c.sit_max_gap_ms / FRAME_MS + 1;
                let follows = self.sit.last().is_some_and(|l| {
                    matches!(l.band, Band::Sit(p) if p + 1 == b) && s.start <= l.end + gap
                });
                if !follows {
                    // A lone earlier SIT-band segment was a beep after all.
                    let prev = self.sit_timeout(true);
                    self.sit.push(s);
                    if prev.is_some() {
                        return prev;
                    }
                } else {
                    self.sit.push(s);
                }
                if self.sit.len() == 3 {
                    return self.sit_timeout(true);
                }
                None
            }
            Band::CallProgress | Band::Dual(_) => self.cadence(s),
            _ if beep(&s) => Some(s.hit(Class::Machine, Rule::Beep, None)),
            _ => None,
        }
    }

    /// Resolve collected SIT segments: three (or two, after a gap) make an announcement; one
    /// alone is a beep. `force` resolves without waiting for the gap.
    fn sit_timeout(&mut self, force: bool) -> Option<Hit> {
        let last = *self.sit.last()?;
        let gap = self.cfg.sit_max_gap_ms / FRAME_MS + 2;
        let ongoing = self.track.is_some_and(|t| t.start <= last.end + gap);
        if !force && (ongoing || self.frame < last.end + gap) {
            return None;
        }
        let segs = std::mem::take(&mut self.sit);
        if segs.len() >= 2 {
            let code = sit_code(&segs);
            let kind = match code {
                SitCode::Intercept | SitCode::VacantCode => AnnouncementKind::NotInService,
                SitCode::NoCircuit | SitCode::Reorder => AnnouncementKind::Unreachable,
                SitCode::Uncoded => AnnouncementKind::Unknown,
            };
            let mut h = segs[0].hit(Class::Announcement(kind), Rule::Sit, None);
            h.sit = Some(code);
            return Some(h);
        }
        let s = segs[0];
        let c = &self.cfg;
        ((c.beep_min_ms..=c.beep_max_ms).contains(&s.dur_ms()))
            .then(|| s.hit(Class::Machine, Rule::Beep, None))
    }

    fn cadence(&mut self, s: Seg) -> Option<Hit> {
        if self.cp.last().is_some_and(|l| l.band != s.band) {
            self.cp.clear();
        }
        self.cp.push(s);
        if self.cp.len() > 4 {
            self.cp.remove(0);
        }
        if s.band == Band::Dual(Pair::P440_480) && s.dur_ms() >= self.cfg.ringback_min_ms {
            return Some(s.hit(Class::Tone(ToneKind::Ringback), Rule::ToneCadence, None));
        }
        let n = self.cp.len();
        if n < 2 {
            return None;
        }
        let (a, b) = (self.cp[n - 2], self.cp[n - 1]);
        let (on_a, on_b) = (a.dur_ms(), b.dur_ms());
        let off = (b.start - a.end) * FRAME_MS;
        let r = 150..=900;
        let even = on_a.abs_diff(on_b) <= 150 && on_a.abs_diff(off) <= 250;
        if r.contains(&on_a) && r.contains(&on_b) && r.contains(&off) && even {
            let on = (on_a + on_b) / 2;
            // Busy is 0.35 (China) to 0.5 s (US); faster or slower is congestion/reorder.
            let kind = if (300..600).contains(&on) {
                ToneKind::Busy
            } else {
                ToneKind::Reorder
            };
            return Some(b.hit(Class::Tone(kind), Rule::ToneCadence, Some(off)));
        }
        None
    }

    fn ringback_timeout(&self) -> Option<Hit> {
        let last = self.cp.last()?;
        if self.track.is_some() || last.band != Band::CallProgress {
            return None;
        }
        let off = (self.frame - last.end) * FRAME_MS;
        ((700..=2500).contains(&last.dur_ms()) && off >= self.cfg.ringback_off_ms).then(|| {
            last.hit(
                Class::Tone(ToneKind::Ringback),
                Rule::ToneCadence,
                Some(off),
            )
        })
    }

    fn on_ongoing(&self, t: &Track) -> Option<Hit> {
        let s = t.seg();
        let d = t.dur_ms();
        let c = &self.cfg;
        match s.band {
            Band::Ced if d >= c.ced_min_ms => Some(s.hit(Class::Fax, Rule::Ced, None)),
            Band::Modem if d >= 500 => {
                Some(s.hit(Class::Tone(ToneKind::Modem), Rule::ContinuousTone, None))
            }
            Band::Dual(Pair::P440_480) if d >= c.ringback_min_ms => {
                Some(s.hit(Class::Tone(ToneKind::Ringback), Rule::ToneCadence, None))
            }
            Band::Dual(Pair::P350_440) if d >= 1500 => {
                Some(s.hit(Class::Tone(ToneKind::Dial), Rule::ContinuousTone, None))
            }
            Band::CallProgress if d >= 3000 => {
                Some(s.hit(Class::Tone(ToneKind::Dial), Rule::ContinuousTone, None))
            }
            _ if d >= 3000 && d > c.beep_max_ms => {
                Some(s.hit(Class::Tone(ToneKind::Other), Rule::ContinuousTone, None))
            }
            _ => None,
        }
    }
}

/// Telcordia code of a SIT from its first two segments.
fn sit_code(segs: &[Seg]) -> SitCode {
    let (Some(a), Some(b)) = (segs.first(), segs.get(1)) else {
        return SitCode::Uncoded;
    };
    if !matches!((a.band, b.band), (Band::Sit(1), Band::Sit(2))) {
        return SitCode::Uncoded;
    }
    // ITU SITs (950/1400/1800 Hz) carry no code.
    if (935.0..=965.0).contains(&a.freq) || (1387.0..=1413.0).contains(&b.freq) {
        return SitCode::Uncoded;
    }
    let hi1 = a.freq > 950.0;
    let hi2 = b.freq > 1400.0;
    // Nominal 274 ms (short) vs 380 ms (long); frames shave ~20 ms off each.
    let long1 = a.dur_ms() >= 310;
    let long2 = b.dur_ms() >= 310;
    match (hi1, hi2, long1, long2) {
        (false, false, false, false) => SitCode::Intercept,
        (true, false, true, false) => SitCode::VacantCode,
        (true, true, true, true) | (false, false, true, true) => SitCode::NoCircuit,
        (false, true, false, true) | (true, false, false, true) => SitCode::Reorder,
        _ => SitCode::Uncoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.3 * (2.0 * PI * hz * i as f32 / RATE).sin())
            .collect()
    }

    #[test]
    fn pisarenko_and_goertzel_find_the_tone() {
        for hz in [450.0, 950.0, 1400.0, 2100.0] {
            let f = pisarenko(&sine(hz, WIN)).expect("a tone");
            assert!((f - hz).abs() < 5.0, "{hz} Hz read as {f}");
            let [on, off] = goertzel(&sine(hz, WIN), [hz, hz + 200.0]);
            assert!(on > 100.0 * off, "{hz} Hz: {on} vs {off}");
        }
    }

    #[test]
    fn frequency_bands_name_the_tone_families() {
        assert_eq!(band_of(ToneObs::Single(1100.0)), Band::Cng);
        assert_eq!(band_of(ToneObs::Single(2100.0)), Band::Ced);
        assert_eq!(band_of(ToneObs::Single(913.8)), Band::Sit(1));
        assert_eq!(band_of(ToneObs::Single(450.0)), Band::CallProgress);
        assert_eq!(band_of(ToneObs::Single(3000.0)), Band::Other);
        assert_eq!(
            band_of(ToneObs::Dual(Pair::P440_480)),
            Band::Dual(Pair::P440_480)
        );
    }
}
