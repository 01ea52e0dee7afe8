//! Wall-clock time as a port: the cores and the gateway read the time through [`Clock`], so
//! a test can hold it still or move it forward (`platform_testkit::clock::ManualClock`)
//! instead of sleeping until something expires.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Seconds since the Unix epoch (what token claims count in).
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The system's clock, to the microsecond (what the stores keep, so a value read back
/// equals the one written).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    fn unix_seconds(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_keeps_microseconds_and_agrees_with_itself() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
        assert!((SystemClock.unix_seconds() - now.timestamp()).abs() <= 1);
    }
}
