//! Brute-force protection: failed logins are counted per account and per client IP; past a
//! threshold the key is locked for an exponentially growing, bounded time that expires by
//! itself. A quiet window resets the count.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first lockout.
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
}

impl LockoutPolicy {
    /// How long to lock after the `failures`-th consecutive failure (zero below the threshold).
    pub fn lock_for(&self, failures: u32) -> Duration {
        if failures < self.threshold {
            return Duration::ZERO;
        }
        let doublings = (failures - self.threshold).min(20);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_start_at_the_threshold_double_and_stop_at_the_maximum() {
        let p = LockoutPolicy {
            threshold: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(900),
            window: Duration::from_secs(900),
        };
        assert_eq!(p.lock_for(4), Duration::ZERO);
        assert_eq!(p.lock_for(5), Duration::from_secs(30));
        assert_eq!(p.lock_for(6), Duration::from_secs(60));
        assert_eq!(p.lock_for(9), Duration::from_secs(480));
        assert_eq!(p.lock_for(10), Duration::from_secs(900));
        assert_eq!(p.lock_for(1000), Duration::from_secs(900));
    }
}
