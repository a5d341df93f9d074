//! Helpers shared by the integration tests that run real SIP peers (sipp) on 127.0.0.1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fail with the fix when sipp is missing (scripts/test.sh installs it).
pub fn require_sipp() {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "sipp is not installed: run scripts/test.sh (it installs the Debian package sip-tester)"
    );
}

/// Wait up to `secs` for a peer; its exit code (0 = its scenario passed, -2 = killed).
pub fn wait_exit(mut c: Child, secs: u64) -> i32 {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(s)) = c.try_wait() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = c.kill();
            return -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
