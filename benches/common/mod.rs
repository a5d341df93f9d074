//! What the load benches share: starting and stopping the `voxdial` child processes they
//! measure, and naming the machine a figure was measured on.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Start `cmd` with its stderr in `err` and its stdout drained on a thread (so it never
/// blocks on the pipe); returns once it printed a line saying it is `listening`, or an
/// error with its stderr if it has not within `within`.
pub fn spawn_listening(cmd: &mut Command, err: &Path, within: Duration) -> Result<Child, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(err).map_err(|e| e.to_string())?,
        ))
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ready = Some(tx);
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("listening") {
                if let Some(t) = ready.take() {
                    let _ = t.send(());
                }
            }
        }
    });
    if rx.recv_timeout(within).is_err() {
        stop(&mut child);
        return Err(format!(
            "never listened: {}",
            std::fs::read_to_string(err).unwrap_or_default()
        ));
    }
    Ok(child)
}

/// SIGTERM (the graceful stop every voxdial process handles), then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The CPU a figure was measured on: model, cores and the SIMD flags the speech models
/// care about.
pub fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    let flags = field("flags");
    let simd: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| {
            f.starts_with("avx") || f.starts_with("fma") || f.starts_with("f16c") || *f == "sse4_2"
        })
        .collect();
    format!(
        "CPU: {} x{cores}; SIMD flags: {}",
        field("model name"),
        simd.join(" ")
    )
}

/// The load averages and run queue, to say how busy the machine was before a run.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}
