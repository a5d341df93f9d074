//! The campaign simulator: theory check, pacing quality and the CLI contract.

use std::process::Command;
use voxdial::dialer::sim::{simulate, validate_erlang, SimConfig, Strategy};

#[test]
fn poisson_arrivals_to_c_agents_agree_with_erlang_c_within_sampling_error() {
    for seed in 1..=3 {
        let r = validate_erlang(8.0 / 180.0, 10, 180.0, 400.0, seed).expect("valid");
        assert!(r.arrivals > 50_000);
        assert!(
            (r.p_wait - r.p_wait_theory).abs() <= 3.0 * r.p_wait_se,
            "seed {seed}: {r:?}"
        );
        assert!(
            (r.mean_wait_s - r.mean_wait_theory_s).abs() <= 3.0 * r.mean_wait_se_s,
            "seed {seed}: {r:?}"
        );
    }
}

#[test]
fn predictive_keeps_abandons_under_three_percent_and_beats_the_vicidial_baseline() {
    for (answer_rate, agents) in [(0.1, 50), (0.2, 10), (0.3, 100), (0.4, 50)] {
        let base = SimConfig {
            agents,
            answer_rate,
            leads: 200_000,
            hours: 8.0,
            seed: 7,
            ..SimConfig::default()
        };
        let ours = simulate(&SimConfig {
            strategy: Strategy::Predictive,
            ..base.clone()
        })
        .expect("runs");
        let vici = simulate(&SimConfig {
            strategy: Strategy::Vicidial,
            ..base.clone()
        })
        .expect("runs");
        assert!(
            ours.abandon_rate <= 0.03,
            "{answer_rate}/{agents}: {ours:?}"
        );
        assert!(
            ours.talk_minutes_per_agent_hour > vici.talk_minutes_per_agent_hour,
            "{answer_rate}/{agents}: ours {} vs vicidial {}",
            ours.talk_minutes_per_agent_hour,
            vici.talk_minutes_per_agent_hour
        );
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args(args)
        .output()
        .expect("run voxdial")
}

#[test]
fn quick_run_prints_the_json_contract() {
    let out = run(&[
        "simulate",
        "--strategy",
        "predictive",
        "--agents",
        "50",
        "--answer-rate",
        "0.3",
        "--leads",
        "100000",
        "--hours",
        "8",
        "--seed",
        "3",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for k in [
        "calls_placed",
        "connects",
        "abandoned",
        "abandon_rate",
        "agent_occupancy",
        "talk_minutes_per_agent_hour",
        "transfer_wait_p95_s",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    let again = run(&[
        "simulate",
        "--strategy",
        "predictive",
        "--agents",
        "50",
        "--answer-rate",
        "0.3",
        "--leads",
        "100000",
        "--hours",
        "8",
        "--seed",
        "3",
        "--json",
    ]);
    assert_eq!(out.stdout, again.stdout, "same seed, same bytes");
    let bot = run(&[
        "simulate",
        "--strategy",
        "predictive",
        "--agents",
        "5",
        "--answer-rate",
        "0.3",
        "--leads",
        "50000",
        "--hours",
        "4",
        "--seed",
        "1",
        "--bot-first",
        "--bot-channels",
        "60",
        "--transfer-rate",
        "0.1",
        "--json",
    ]);
    let b: serde_json::Value = serde_json::from_slice(&bot.stdout).expect("json");
    assert!(b["transfers"].as_u64().unwrap_or(0) > 0, "{b}");
    let erl = run(&[
        "simulate",
        "--validate-erlang",
        "--arrival-rate",
        "0.05",
        "--agents",
        "10",
        "--mean-handle-s",
        "180",
        "--hours",
        "10",
        "--seed",
        "1",
        "--json",
    ]);
    let e: serde_json::Value = serde_json::from_slice(&erl.stdout).expect("json");
    assert!(
        e["p_wait"].is_number() && e["mean_wait_s"].is_number(),
        "{e}"
    );
    let bad = run(&["simulate", "--agents", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--agents"));
}
