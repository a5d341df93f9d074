//! The end-of-turn model (Smart Turn v3.2) with the real model file: its front end and
//! verdicts agree with the reference implementation, and on the utterance set of
//! `tests/data/turn_set` (complete answers, sentences paused in the middle; see
//! `examples/turn_set.rs`) the whole path of a call (8 kHz frames upsampled as the media
//! worker does, Silero VAD, the turn controller, the pipeline's request, the model) cuts
//! off no more sentences at their pauses, and misses no more ends, than it did when the
//! set was made.
#![cfg(feature = "speech")]

use std::path::{Path, PathBuf};

use voxdial::speech::config::SpeechConfig;
use voxdial::speech::mel::LogMel;
use voxdial::speech::smart_turn::EndOfTurnModel;
use voxdial::Locale;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn models() -> PathBuf {
    let m = root().join("data/models");
    assert!(
        m.join("turn/smart-turn-v3.2-cpu.onnx").is_file(),
        "end-of-turn model missing: run scripts/setup.sh (or voxdial models install)"
    );
    m
}

fn model() -> EndOfTurnModel {
    let cfg = SpeechConfig::default_config().expect("config");
    let c = cfg.end_of_turn_for(Locale::EnUs).expect("en-US has an end-of-turn model");
    EndOfTurnModel::load(c, &models()).expect("model")
}

fn clip(name: &str) -> Vec<f32> {
    voxdial::speech::audio::load_wav(&root().join("tests/data/whisper_clips").join(name))
        .expect("clip")
        .samples
}

#[test]
fn features_and_verdicts_match_the_reference_implementation() {
    // Reference: Pipecat 1.14's numpy front end (`_whisper_features.py`) and the same ONNX
    // file in Python's onnxruntime 1.28.0 (the minor version sherpa-onnx ships, one thread,
    // all graph optimisations), on these 16 kHz clips zero-padded at the front to 8 s:
    // probability, four feature values and the features' sum. The model is int8: other
    // runtime versions or optimisation levels move its output by up to ~0.3 (zh01: 0.864
    // in 1.31, 0.539 with basic optimisations only), so the pin matters.
    let reference = [
        ("en01.wav", 0.978554, [0.445462, 1.647293, -0.090838, -0.090838], 4546.0352),
        ("en02.wav", 0.982320, [0.148129, 1.359827, -0.001224, -0.001224], 5579.8447),
        ("zh01.wav", 0.805015, [0.323987, 1.452175, -0.149259, -0.149259], 6624.8877),
    ];
    let lm = LogMel::new(8);
    let mut m = model();
    for (name, p, points, sum) in reference {
        let audio = clip(name);
        let f = lm.features(&lm.window_of(&audio));
        let at = |mel: usize, t: usize| f[mel * 800 + t];
        let got = [at(0, 0), at(10, 700), at(40, 790), at(79, 799)];
        for (g, w) in got.iter().zip(points) {
            assert!((g - w).abs() < 1e-3, "{name}: features {got:?} vs {points:?}");
        }
        let s: f64 = f.iter().map(|v| f64::from(*v)).sum();
        assert!((s - sum).abs() < 1.0, "{name}: sum {s} vs {sum}");
        let v = m.predict(&audio).expect("predict");
        assert!(
            (v.probability - p).abs() < 0.002,
            "{name}: {} vs {p}",
            v.probability
        );
    }
}
