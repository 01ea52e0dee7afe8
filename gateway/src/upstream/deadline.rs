//! Timeouts and deadlines: a call has the route's timeout (`upstream.route_timeouts_ms`, else
//! `upstream.timeout_ms`), or the caller's own deadline (`connect-timeout-ms` /
//! `grpc-timeout`) when that is sooner. Only a caller's deadline goes upstream, less the
//! time already spent; a route's timeout stays at the gateway, as Envoy keeps its route
//! timeouts (and an upstream is spared parsing a deadline and arming a timer for every call).

use std::time::Duration;

use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::gate::Call;

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: Instant,
    /// The caller set it, so what is left of it goes upstream.
    pub from_caller: bool,
    /// When the call came in.
    started: Instant,
}

impl Deadline {
    pub fn of(config: &UpstreamConfig, path: &str, call: &Call) -> Self {
        let route_timeout = match config.route_timeouts_ms.get(path) {
            Some(ms) => Duration::from_millis(*ms),
            None => Duration::from_millis(config.timeout_ms),
        };
        let budget = call
            .head
            .budget
            .map_or(route_timeout, |b| b.min(route_timeout));
        Self {
            at: call.started + budget,
            from_caller: call.head.budget.is_some(),
            started: call.started,
        }
    }

    /// The time an attempt starts at, as far as the clock can tell: the first attempt of a
    /// call that sends no deadline upstream uses the time the call came in (one clock read
    /// less; the clients keep the deadline themselves).
    pub fn attempt_starts(&self, attempt: u32) -> Instant {
        if attempt == 1 && !self.from_caller {
            self.started
        } else {
            Instant::now()
        }
    }

    /// What goes upstream of the deadline for an attempt starting at `now`, if anything.
    pub fn sent(&self, now: Instant) -> Option<Duration> {
        self.from_caller
            .then(|| self.at.saturating_duration_since(now))
    }
}
