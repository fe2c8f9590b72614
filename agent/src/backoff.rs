//! Reconnect delays: exponential from 1 s, capped at 60 s, with jitter so that many
//! agents restarted together do not reconnect in step (architecture §7.2).

use std::time::Duration;

pub const FIRST: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt; `jitter` in `[0, 1)` picks a point in the
    /// upper half of the current window, never below [`FIRST`].
    pub fn next_with(&mut self, jitter: f64) -> Duration {
        let window = FIRST.saturating_mul(1u32 << self.failures.min(6)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        let delay = window.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        delay.max(FIRST)
    }

    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::random_range(0.0..1.0))
    }

    /// After a connection that worked, start again from the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_and_stop_at_sixty() {
        let mut b = Backoff::default();
        let top: Vec<u64> = (0..10).map(|_| b.next_with(1.0).as_secs()).collect();
        assert_eq!(top, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    }

    #[test]
    fn jitter_stays_within_the_upper_half_and_never_below_a_second() {
        let mut b = Backoff::default();
        for _ in 0..12 {
            b.next_with(0.0);
        }
        assert_eq!(b.next_with(0.0), Duration::from_secs(30));
        let mut b = Backoff::default();
        assert_eq!(b.next_with(0.0), FIRST);
        assert_eq!(b.next_with(0.0), FIRST);
        assert_eq!(b.next_with(0.5), Duration::from_secs(3));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.next_with(1.0);
        }
        b.reset();
        assert_eq!(b.next_with(1.0), FIRST);
    }
}
