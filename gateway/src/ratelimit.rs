//! GCRA rate limits (the `governor` crate, which tower-governor wraps): per client IP for
//! every route (with per-route overrides, tighter on Login), and per authenticated user.
//! tower-governor's layer takes one quota and one key, and these checks need the route's
//! quota and a key only known after authentication, so the gateway calls governor directly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Limit, RateLimitConfig};

/// A refused request: when to retry, and the policy that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub retry_after: Duration,
    pub limit: Limit,
}

struct Limiter {
    limit: Limit,
    keyed: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    fn new(limit: Limit) -> Self {
        let rps = NonZeroU32::new(limit.rps).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limit,
            keyed: RateLimiter::keyed(Quota::per_second(rps).allow_burst(burst)),
        }
    }

    fn check(&self, key: String) -> Result<(), Rejection> {
        self.keyed.check_key(&key).map_err(|not_until| Rejection {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            limit: self.limit,
        })
    }
}

pub struct RateLimits {
    per_ip: Limiter,
    per_user: Limiter,
    routes: HashMap<String, Limiter>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let default = Limit {
            rps: config.rps,
            burst: config.burst,
        };
        Self {
            per_ip: Limiter::new(default),
            per_user: Limiter::new(default),
            routes: config
                .routes
                .iter()
                .map(|(path, limit)| (path.clone(), Limiter::new(*limit)))
                .collect(),
        }
    }

    /// Before authentication: the client IP, under the route's own limit if it has one.
    pub fn check_ip(&self, path: &str, ip: Option<IpAddr>) -> Result<(), Rejection> {
        let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        if let Some(route) = self.routes.get(path) {
            route.check(format!("{ip} {path}"))?;
        }
        self.per_ip.check(ip)
    }

    /// After authentication: the user, wherever they call from.
    pub fn check_user(&self, user: &str) -> Result<(), Rejection> {
        self.per_user.check(user.to_owned())
    }

    /// Forgets keys that are back to full capacity (bounded memory under many clients).
    pub fn shrink(&self) {
        self.per_ip.keyed.retain_recent();
        self.per_user.keyed.retain_recent();
        for r in self.routes.values() {
            r.keyed.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_limit_applies_per_ip_and_the_next_request_waits() {
        let mut config = RateLimitConfig::default();
        config
            .routes
            .insert("/login".into(), Limit { rps: 1, burst: 3 });
        let limits = RateLimits::new(&config);
        let ip = "203.0.113.1".parse().ok();
        for _ in 0..3 {
            limits.check_ip("/login", ip).expect("within burst");
        }
        let rejected = limits.check_ip("/login", ip).expect_err("over");
        assert!(
            rejected.retry_after > Duration::ZERO && rejected.retry_after <= Duration::from_secs(1)
        );
        assert_eq!(rejected.limit, Limit { rps: 1, burst: 3 });
        limits
            .check_ip("/login", "203.0.113.2".parse().ok())
            .expect("another ip");
        limits
            .check_ip("/other", ip)
            .expect("other routes use the default");
    }
}
