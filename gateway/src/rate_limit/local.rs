//! One GCRA limit in this process (the `governor` crate, which tower-governor wraps),
//! keyed by client IP or user.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::Rejection;
use crate::config::Limit;

/// governor's keyed limiter with foldhash rather than SipHash: keys are looked up on every
/// call.
type Keyed<K> = RateLimiter<K, DashMapStateStore<K, foldhash::fast::RandomState>, DefaultClock>;

pub struct Limiter<K: std::hash::Hash + Eq + Clone> {
    pub limit: Limit,
    keyed: Keyed<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    pub fn new(limit: Limit) -> Self {
        let rps = NonZeroU32::new(limit.rps).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limit,
            keyed: RateLimiter::dashmap_with_clock_and_hasher(
                Quota::per_second(rps).allow_burst(burst),
                DefaultClock::default(),
                foldhash::fast::RandomState::default(),
            ),
        }
    }

    pub fn check(&self, key: &K) -> Result<(), Rejection> {
        self.keyed.check_key(key).map_err(|not_until| Rejection {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            limit: self.limit,
        })
    }

    /// Forgets keys that are back to full capacity.
    pub fn shrink(&self) {
        self.keyed.retain_recent();
        self.keyed.shrink_to_fit();
    }
}
