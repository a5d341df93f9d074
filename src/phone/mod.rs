//! Synthetic phones for tests, the demo and load runs (`voxdial phone`): customers that
//! answer, talk and hang up like people, from a personas file, and agents that register,
//! answer transferred calls and record what reached them.
//!
//! `persona` is the file (who answers a number and how they behave); `customer` the
//! sans-IO turn-taking of one customer (what it hears and the time in, "say line N" /
//! "stop" / "hang up" out), cheap enough that a load test is bounded by the bot, not by
//! its customers; `voices` synthesizes every line once, before any call, into a WAV cache;
//! `talk` puts a customer or an agent's phone on an answered call (the `CallAgent` seam).

pub mod customer;
pub mod driver;
pub mod persona;
pub mod talk;
pub mod voices;

/// A dialled number as the phones' logs and errors show it: only its last four digits.
/// The synthetic customers stand in for real debtors, and their logs are kept.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().min(4);
    let hidden = chars.len() - keep;
    let tail: String = chars[hidden..].iter().collect();
    format!("{}{tail}", "*".repeat(hidden))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_number_keeps_only_its_last_four_digits() {
        assert_eq!(super::mask_number("+15550001234"), "********1234");
        assert_eq!(super::mask_number("1234"), "1234");
        assert_eq!(super::mask_number("12345"), "*2345");
    }
}
