//! Voice activity as a per-frame input of the bot pipeline: one speech probability per
//! 20 ms frame. A trait, so the pipeline runs over the Silero VAD on a live call and over
//! a plain energy detector where the models are not built in (tests, and a fallback).

use crate::speech::turn::frame_energy_db;

/// Says how likely one inbound frame (16 kHz, 20 ms) is speech. Implementations keep the
/// state they need across frames of one call (a detector per call).
pub trait SpeechDetector: Send {
    /// Speech probability of the frame, 0..=1 (a boolean detector gives 0.0 or 1.0).
    fn speech_prob(&mut self, frame: &[f32]) -> f32;

    /// Forget the audio so far: the next frame starts a new stream (frames were skipped,
    /// so the detector's context no longer joins on).
    fn reset(&mut self) {}
}

/// A detector that needs no model: a frame is speech when it is louder than a floor.
/// Noise and music fool it, so a live call uses Silero; this one lets the pipeline and its
/// tests run everywhere.
#[derive(Clone, Copy, Debug)]
pub struct EnergyDetector {
    /// Frames at or above this level (dBFS) count as speech.
    pub threshold_db: f32,
}

impl EnergyDetector {
    /// Speech on a phone line sits around -20 dBFS, line noise below -55.
    pub const DEFAULT_THRESHOLD_DB: f32 = -40.0;
}

impl Default for EnergyDetector {
    fn default() -> Self {
        EnergyDetector {
            threshold_db: EnergyDetector::DEFAULT_THRESHOLD_DB,
        }
    }
}

impl SpeechDetector for EnergyDetector {
    fn speech_prob(&mut self, frame: &[f32]) -> f32 {
        let pcm: Vec<i16> = frame
            .iter()
            .map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16)
            .collect();
        if frame_energy_db(&pcm) >= self.threshold_db {
            1.0
        } else {
            0.0
        }
    }
}

/// Silero's speech flag for the frame (sherpa-onnx runs it on 32 ms windows, so a frame
/// reports the latest window's decision).
#[cfg(feature = "speech")]
impl SpeechDetector for crate::speech::vad::Vad {
    fn speech_prob(&mut self, frame: &[f32]) -> f32 {
        if self.push(frame).speaking {
            1.0
        } else {
            0.0
        }
    }

    fn reset(&mut self) {
        crate::speech::vad::Vad::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loud_frame_is_speech_and_a_quiet_one_is_not() {
        let mut d = EnergyDetector::default();
        let loud: Vec<f32> = (0..320).map(|i| 0.2 * (i as f32 * 0.3).sin()).collect();
        let quiet = vec![0.0005f32; 320];
        assert_eq!(d.speech_prob(&loud), 1.0);
        assert_eq!(d.speech_prob(&quiet), 0.0);
        assert_eq!(d.speech_prob(&[]), 0.0);
    }
}
