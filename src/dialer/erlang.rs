//! Queueing formulas the predictive pacer and the simulator's validation mode rely on.

/// Erlang C: probability that an arriving call waits, with `c` servers and offered load
/// `a = λ·h` Erlangs. Returns 1.0 when the system is overloaded (`a >= c`).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a <= 0.0 {
        return if a > 0.0 { 1.0 } else { 0.0 };
    }
    if a >= c as f64 {
        return 1.0;
    }
    // Erlang B by the stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let c_f = c as f64;
    c_f * b / (c_f - a * (1.0 - b))
}

/// Mean wait in queue (all calls, including those that do not wait), seconds.
pub fn mean_wait(c: u32, a: f64, mean_handle_s: f64) -> f64 {
    if a >= c as f64 {
        return f64::INFINITY;
    }
    erlang_c(c, a) * mean_handle_s / (c as f64 - a)
}

/// Probability that a call waits longer than `t` seconds.
pub fn p_wait_exceeds(c: u32, a: f64, mean_handle_s: f64, t: f64) -> f64 {
    if a >= c as f64 {
        return 1.0;
    }
    erlang_c(c, a) * (-(c as f64 - a) * t / mean_handle_s).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_textbook_values() {
        // 10 agents, 8 Erlangs: P(wait) ≈ 0.4092 (standard Erlang C tables).
        assert!((erlang_c(10, 8.0) - 0.4092).abs() < 1e-3);
        // 1 agent behaves like M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
        assert!((mean_wait(1, 0.5, 60.0) - 60.0).abs() < 1e-9);
        assert_eq!(erlang_c(5, 6.0), 1.0);
        assert!(p_wait_exceeds(10, 8.0, 180.0, 20.0) < erlang_c(10, 8.0));
    }
}
