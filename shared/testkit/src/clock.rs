//! A clock that stands still until the test moves it.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use platform_kernel::clock::Clock;

pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Starts at the current second (tokens it signs are valid for real verifiers too).
    pub fn starting_now() -> Self {
        Self::new(DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default())
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.unix_seconds(), 1_800_000_090);
    }
}
