//! How long to wait before trying a failed exchange again: exponential backoff with full jitter.
//!
//! Full jitter (a uniform draw in `[0, min(cap, base * 2^attempt)]`, as in the AWS Architecture Blog's
//! "Exponential Backoff and Jitter") spreads retries of many deliveries that failed together, so a
//! recovering operator is not hit by all of them at the same instant.

use std::time::Duration;

use rand::Rng;

use crate::ExchangeError;

/// The first ceiling: attempt 0 waits up to this long.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// No wait is longer than this, however many attempts failed.
pub const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);

/// Backoff parameters. `BackoffPolicy::default()` uses `BACKOFF_BASE` and `BACKOFF_CAP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: BACKOFF_BASE,
            cap: BACKOFF_CAP,
        }
    }
}

impl BackoffPolicy {
    /// The ceiling for `attempt` (0 for the wait after the first failure): `min(cap, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .map_or(self.cap, |ceiling| ceiling.min(self.cap))
    }

    /// A uniform draw in `[0, ceiling(attempt)]`, to the millisecond.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling_ms = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.gen_range(0..=ceiling_ms))
    }

    /// The wait after `error` on `attempt`: the jittered delay, but never less than the `Retry-After` the
    /// other side asked for (itself capped, so a hostile answer cannot park a delivery for a year).
    pub fn delay_after(&self, attempt: u32, error: &ExchangeError, rng: &mut impl Rng) -> Duration {
        let delay = self.delay(attempt, rng);
        match error.retry_after() {
            Some(asked) => delay.max(asked.min(self.cap)),
            None => delay,
        }
    }
}

/// The default policy's delay for `attempt` (0 for the wait after the first failure).
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    BackoffPolicy::default().delay(attempt, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceilings_double_then_stop_at_the_cap() {
        let policy = BackoffPolicy::default();
        let ceilings: Vec<u64> = (0..12).map(|a| policy.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(policy.ceiling(u32::MAX), BACKOFF_CAP);
        let tiny = BackoffPolicy {
            base: Duration::from_secs(u64::MAX / 2),
            cap: Duration::from_secs(5),
        };
        assert_eq!(tiny.ceiling(40), Duration::from_secs(5));
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_spread_over_it() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in [0, 1, 3, 9, 30, u32::MAX] {
            let ceiling = BackoffPolicy::default().ceiling(attempt);
            let draws: Vec<Duration> = (0..2000).map(|_| backoff(attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            // Full jitter: draws fill the whole range, not just the top of it.
            let low = draws.iter().filter(|d| **d < ceiling / 4).count();
            let high = draws.iter().filter(|d| **d > ceiling * 3 / 4).count();
            assert!(
                (350..650).contains(&low),
                "attempt {attempt}: {low} low draws"
            );
            assert!(
                (350..650).contains(&high),
                "attempt {attempt}: {high} high draws"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..5).map(|a| backoff(a, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn retry_after_sets_a_floor_capped_by_the_policy() {
        let mut rng = StdRng::seed_from_u64(3);
        let policy = BackoffPolicy::default();
        let asked = |seconds| ExchangeError::Unavailable {
            service: "operator",
            status: 503,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert!(policy.delay_after(0, &asked(30), &mut rng) >= Duration::from_secs(30));
        assert_eq!(
            policy.delay_after(0, &asked(365 * 24 * 3600), &mut rng),
            BACKOFF_CAP
        );
        let timeout = ExchangeError::Timeout {
            service: "operator",
            timeout_ms: 10,
        };
        assert!(policy.delay_after(0, &timeout, &mut rng) <= Duration::from_secs(1));
    }
}
