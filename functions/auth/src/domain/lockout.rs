//! Brute-force protection, decided here and stored by the ports.
//!
//! - Per (account, client) pair and per client, an attempt is counted *before* the password is
//!   checked, and the count that reaches the threshold locks the key at once
//!   ([`LockoutPolicy::attempt`]); so of any number of concurrent guesses at most `threshold`
//!   reach the password check. The lock grows exponentially, is bounded, and expires by
//!   itself; a quiet window resets the count.
//! - Per account, from every client together, failures never lock: they slow every attempt on
//!   the account down ([`Slowdown`]), so an attacker cannot lock its owner out.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Attempts (failed or still running) before the key locks.
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
    /// Attempts older than this (since the last one) are forgotten.
    pub window: Duration,
}

/// What a store keeps per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: u32,
    pub last: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; when this attempt locked the key (it was the threshold-th), until when, so
    /// the lock can be lifted if it succeeds.
    Allowed { locked_until: Option<DateTime<Utc>> },
    /// Refused without counting: the key is locked until then.
    Locked(DateTime<Utc>),
}

impl LockoutPolicy {
    /// How long to lock after the `count`-th attempt (zero below the threshold).
    pub fn lock_for(&self, count: u32) -> Duration {
        if count < self.threshold {
            return Duration::ZERO;
        }
        let doublings = (count - self.threshold).min(20);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The counter after an attempt at `now`, or the instant the lock refusing it ends.
    pub fn attempt(
        &self,
        counter: Option<Counter>,
        now: DateTime<Utc>,
    ) -> Result<Counter, DateTime<Utc>> {
        if let Some(until) = counter.and_then(|c| c.locked_until).filter(|u| *u > now) {
            return Err(until);
        }
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let count = match counter {
            Some(c) if c.last >= now - window => c.count.saturating_add(1),
            _ => 1,
        };
        let lock = self.lock_for(count);
        Ok(Counter {
            count,
            last: now,
            locked_until: (!lock.is_zero())
                .then(|| now + chrono::Duration::from_std(lock).unwrap_or(chrono::Duration::MAX)),
        })
    }
}

/// How failures on one account from every client slow each attempt on it down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slowdown {
    /// Failures (within `window`) before attempts wait.
    pub after: u32,
    /// The wait at `after` failures, doubling with each further one …
    pub base: Duration,
    /// … up to this.
    pub max: Duration,
    pub window: Duration,
}

impl Slowdown {
    /// How long an attempt waits before the password is checked, after `failures`.
    pub fn delay_for(&self, failures: u32) -> Duration {
        if failures < self.after {
            return Duration::ZERO;
        }
        let doublings = (failures - self.after).min(20);
        self.base.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            threshold: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(900),
            window: Duration::from_secs(900),
        }
    }

    #[test]
    fn lockouts_start_at_the_threshold_double_and_stop_at_the_maximum() {
        let p = policy();
        assert_eq!(p.lock_for(4), Duration::ZERO);
        assert_eq!(p.lock_for(5), Duration::from_secs(30));
        assert_eq!(p.lock_for(6), Duration::from_secs(60));
        assert_eq!(p.lock_for(9), Duration::from_secs(480));
        assert_eq!(p.lock_for(10), Duration::from_secs(900));
        assert_eq!(p.lock_for(1000), Duration::from_secs(900));
    }

    #[test]
    fn the_threshold_th_attempt_locks_before_it_is_checked_and_a_lock_refuses_without_counting() {
        let p = policy();
        let t0 = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1);
        let mut c = None;
        for n in 1..=4 {
            let next = p.attempt(c, t0).expect("allowed");
            assert_eq!((next.count, next.locked_until), (n, None));
            c = Some(next);
        }
        let fifth = p.attempt(c, t0).expect("the fifth is allowed");
        assert_eq!(fifth.locked_until, Some(t0 + chrono::Duration::seconds(30)));
        assert_eq!(
            p.attempt(Some(fifth), t0),
            Err(t0 + chrono::Duration::seconds(30))
        );
        // After the lock: one more attempt, which locks twice as long at once.
        let later = t0 + chrono::Duration::seconds(30);
        let sixth = p.attempt(Some(fifth), later).expect("lock over");
        assert_eq!(sixth.count, 6);
        assert_eq!(
            sixth.locked_until,
            Some(later + chrono::Duration::seconds(60))
        );
        // A quiet window starts the count again.
        let quiet = later + chrono::Duration::seconds(901 + 60);
        assert_eq!(p.attempt(Some(sixth), quiet).map(|c| c.count), Ok(1));
    }

    #[test]
    fn the_account_slowdown_starts_after_its_threshold_doubles_and_is_bounded() {
        let s = Slowdown {
            after: 10,
            base: Duration::from_millis(250),
            max: Duration::from_secs(4),
            window: Duration::from_secs(900),
        };
        assert_eq!(s.delay_for(9), Duration::ZERO);
        assert_eq!(s.delay_for(10), Duration::from_millis(250));
        assert_eq!(s.delay_for(11), Duration::from_millis(500));
        assert_eq!(s.delay_for(14), Duration::from_secs(4));
        assert_eq!(s.delay_for(10_000), Duration::from_secs(4));
    }
}
