//! The one retry policy, used by the service clients and by the gateway: at most
//! `max_attempts` attempts of a call; a retry only while the budget allows (retries add at
//! most `budget_percent` of the calls plus `budget_min_per_sec`: tower's `TpsBudget`, so a
//! sick fleet is not hammered); each after an exponential backoff with jitter (`backon`:
//! between the delay and twice it), never past the call's deadline. Whether a failure is
//! safe to retry at all (idempotent method, or not sent) is the caller's to say.
//!
//! `TpsBudget` takes a lock and reads the clock on every deposit; the gateway's cores would
//! contend for it on every call. So calls are counted per thread, and deposited
//! [`DEPOSIT_EVERY`] at a time, each deposit worth that many calls.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use backon::BackoffBuilder as _;
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::config::RetryConfig;

/// Calls counted per thread before they go into the budget (as one deposit).
pub const DEPOSIT_EVERY: u32 = 16;

/// Per-thread call counters: more than the cores of any host, threads beyond share.
const SHARDS: usize = 64;

#[repr(align(128))]
struct Counter(AtomicU32);

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

pub struct RetryPolicy {
    budget: TpsBudget,
    calls: Box<[Counter]>,
    max_attempts: u32,
    backoff_min: Duration,
    backoff_max: Duration,
}

/// Why a call is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It has had its `max_attempts`.
    Attempts,
    /// Retries are over their budget.
    Budget,
    /// No time is left before its deadline.
    Deadline,
}

impl RetryPolicy {
    pub fn new(config: &RetryConfig) -> Self {
        Self {
            budget: TpsBudget::new(
                Duration::from_secs(10),
                config.budget_min_per_sec,
                (config.budget_percent * DEPOSIT_EVERY as f32).min(1000.0),
            ),
            calls: (0..SHARDS).map(|_| Counter(AtomicU32::new(0))).collect(),
            max_attempts: config.max_attempts.max(1),
            backoff_min: Duration::from_millis(config.backoff_min_ms),
            backoff_max: Duration::from_millis(config.backoff_max_ms),
        }
    }

    /// A call begins (it counts towards what the retries may add up to).
    pub fn begin(&self, deadline: Instant) -> Retries<'_> {
        let calls = &self.calls[THREAD.with(|t| *t)].0;
        if calls.fetch_add(1, Ordering::Relaxed) % DEPOSIT_EVERY == DEPOSIT_EVERY - 1 {
            self.budget.deposit();
        }
        Retries {
            policy: self,
            deadline,
            attempt: 1,
            delays: None,
        }
    }
}

/// One call's retries.
pub struct Retries<'a> {
    policy: &'a RetryPolicy,
    deadline: Instant,
    attempt: u32,
    delays: Option<backon::ExponentialBackoff>,
}

impl Retries<'_> {
    /// The attempt under way (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether another attempt may follow this one (attempts left; the budget is not asked).
    pub fn more_allowed(&self) -> bool {
        self.attempt < self.policy.max_attempts
    }

    /// After a failed attempt that is safe to retry: waits the backoff (cut short by the
    /// deadline) and starts the next attempt, or says why there is none.
    pub async fn next(&mut self) -> Result<(), Refused> {
        if !self.more_allowed() {
            return Err(Refused::Attempts);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Refused::Deadline);
        }
        if !self.policy.budget.withdraw() {
            return Err(Refused::Budget);
        }
        let policy = self.policy;
        let delay = self
            .delays
            .get_or_insert_with(|| {
                backon::ExponentialBuilder::default()
                    .with_min_delay(policy.backoff_min)
                    .with_max_delay(policy.backoff_max)
                    .with_jitter()
                    .without_max_times()
                    .build()
            })
            .next()
            .unwrap_or(policy.backoff_max);
        // Boxed: the wait is rare, and would otherwise make every call's future larger.
        Box::pin(tokio::time::sleep(delay.min(left))).await;
        self.attempt += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, min_per_sec: u32) -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            max_attempts,
            backoff_min_ms: 1,
            backoff_max_ms: 2,
            budget_percent: 0.0,
            budget_min_per_sec: min_per_sec,
        })
    }

    #[tokio::test]
    async fn attempts_stop_at_the_maximum() {
        let policy = policy(3, 100);
        let mut retries = policy.begin(Instant::now() + Duration::from_secs(5));
        assert_eq!(retries.attempt(), 1);
        assert_eq!(retries.next().await, Ok(()));
        assert_eq!(retries.next().await, Ok(()));
        assert_eq!(retries.attempt(), 3);
        assert!(!retries.more_allowed());
        assert_eq!(retries.next().await, Err(Refused::Attempts));
    }

    #[tokio::test]
    async fn the_budget_bounds_retries_across_calls() {
        // No percentage, one retry a second (over the 10 s window: 10) for everyone.
        let policy = policy(100, 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut granted = 0;
        for _ in 0..20 {
            let mut retries = policy.begin(deadline);
            if retries.next().await.is_ok() {
                granted += 1;
            }
        }
        assert!((1..=10).contains(&granted), "{granted}");
        assert_eq!(policy.begin(deadline).next().await, Err(Refused::Budget));
    }

    #[tokio::test]
    async fn deposits_in_batches_keep_the_percentage() {
        let policy = RetryPolicy::new(&RetryConfig {
            max_attempts: 2,
            backoff_min_ms: 1,
            backoff_max_ms: 1,
            budget_percent: 0.25,
            budget_min_per_sec: 0,
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        for _ in 0..(4 * DEPOSIT_EVERY) {
            let _call = policy.begin(deadline);
        }
        // 64 calls at 25%: 16 retries, and not one more.
        let mut granted = 0;
        for _ in 0..20 {
            let mut retries = Retries {
                policy: &policy,
                deadline,
                attempt: 1,
                delays: None,
            };
            if retries.next().await.is_ok() {
                granted += 1;
            }
        }
        assert_eq!(granted, 16);
    }

    #[tokio::test]
    async fn no_retry_once_the_deadline_has_passed() {
        let policy = policy(3, 100);
        let mut retries = policy.begin(Instant::now());
        assert_eq!(retries.next().await, Err(Refused::Deadline));
    }
}
