//! The campaign simulator: theory check, pacing quality and the CLI contract.

use std::process::Command;
use voxdial::dialer::pacing::Strategy;
use voxdial::dialer::sim::{simulate, validate_erlang, SimConfig};

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
        let ratio = simulate(&SimConfig {
            strategy: Strategy::Ratio,
            ..base.clone()
        })
        .expect("runs");
        // Fixed ratio may win only by breaking the 3% rule.
        assert!(
            ratio.abandon_rate > 0.03
                || ours.talk_minutes_per_agent_hour > ratio.talk_minutes_per_agent_hour,
            "{answer_rate}/{agents}: ours {} vs ratio {} at {}",
            ours.talk_minutes_per_agent_hour,
            ratio.talk_minutes_per_agent_hour,
            ratio.abandon_rate
        );
    }
}

#[test]
fn the_policy_engine_runs_inside_the_simulation() {
    use std::sync::Arc;
    use voxdial::policy::Policy;
    let policy = Arc::new(Policy::load("cn-collection").expect("preset"));
    // 07:00 to 23:00 Shanghai: the first and last hours are outside calling hours.
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T07:00:00+08:00")
        .expect("time")
        .timestamp();
    let cfg = SimConfig {
        agents: 20,
        answer_rate: 0.3,
        leads: 5_000,
        hours: 16.0,
        seed: 3,
        policy: Some(policy),
        start_unix: start,
        ..SimConfig::default()
    };
    let r = simulate(&cfg).expect("runs");
    assert!(
        r.blocks.get("calling_window").copied().unwrap_or(0) >= 5_000,
        "{:?}",
        r.blocks
    );
    assert!(
        r.retries > 0,
        "unanswered leads come back on the retry schedule"
    );
    assert!(r.calls_placed > 5_000 - r.leads_left);
    // Nothing was dialled in the first hour.
    assert!(r.dial_level_per_minute[..59].iter().all(|x| *x == 0.0));
    assert!(r.dial_level_per_minute[70..100].iter().any(|x| *x > 0.0));
    assert_eq!(
        simulate(&cfg).expect("runs"),
        r,
        "deterministic with a policy too"
    );
}

#[test]
fn config_files_drive_runs_and_bad_ones_name_the_place() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("sim.yaml");
    std::fs::write(
        &cfg,
        "agents: 10\nanswer_rate: 0.25\nleads: 3000\nhours: 2\nseed: 5\npolicy: uk-ofcom\nstart: 2026-11-23T09:00:00Z\ncompare: [ratio, predictive]\n",
    )
    .expect("write");
    let charts = dir.path().join("charts");
    let out = run(&[
        "simulate",
        "--config",
        cfg.to_str().expect("p"),
        "--compare",
        "--json",
        "--charts",
        charts.to_str().expect("p"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["strategy"], "predictive");
    for f in ["dial_level.svg", "abandon_rate.svg", "occupancy.svg"] {
        let svg = std::fs::read_to_string(charts.join(f)).expect("chart written");
        assert!(svg.starts_with("<svg") && svg.contains("predictive"), "{f}");
    }
    // A flag overrides the file.
    let out = run(&[
        "simulate",
        "--config",
        cfg.to_str().expect("p"),
        "--agents",
        "3",
        "--json",
    ]);
    let one: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(one["connects"].as_u64().expect("n") < rows[1]["connects"].as_u64().expect("n"));

    std::fs::write(&cfg, "agents: 10\nanser_rate: 0.25\n").expect("write");
    let out = run(&["simulate", "--config", cfg.to_str().expect("p")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sim.yaml:2:1: unknown key `anser_rate`"),
        "{err}"
    );
    std::fs::write(&cfg, "policy: nowhere\n").expect("write");
    let out = run(&["simulate", "--config", cfg.to_str().expect("p")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy `nowhere`"));
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
