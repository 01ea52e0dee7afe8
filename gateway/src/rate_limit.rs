//! Rate limits: GCRA per client IP for every route (with per-route overrides, tighter on
//! Login), and per authenticated user; in this process (`local`, the `governor` crate, which
//! tower-governor wraps) or shared by every replica through Redis (`redis`). tower-governor's
//! layer takes one quota and one key, and these checks need the route's quota and a key only
//! known after authentication, so the gateway calls governor directly.
//!
//! Two steps of the request path: [`admit_client`] before any signature is checked (the IP's
//! limits, and the user's with them when the token was verified before: one Redis round
//! trip), and [`admit_user`] for a user verified just now. A refusal is 429 with
//! `Retry-After`, `RateLimit` and `RateLimit-Policy`, and a Connect or gRPC error body.

mod local;
pub mod redis;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::HeaderValue;
use metrics::Counter;
use platform_kernel::ErrorCode;

use self::local::Limiter;
use self::redis::{Decision, SharedLimiter};
use crate::config::{Limit, RateLimitConfig};
use crate::gate::Call;
use crate::protocol::{Wire, error};

/// The first rate-limit step: the client's IP (under the route's own limit if it has one),
/// and the user's limit with it when the token was recognised without verification.
pub async fn admit_client(
    limits: &RateLimits,
    call: &mut Call,
    path: &str,
) -> Result<(), Response> {
    let checked = match &call.identity {
        Some(known) => {
            limits
                .check_ip_and_user(path, call.client_ip, &known.user)
                .await
        }
        None => limits.check_ip(path, call.client_ip).await,
    };
    call.user_admitted = call.identity.is_some();
    checked.map_err(|rejection| too_many(call.head.wire, rejection))
}

/// The second: a user verified after the IP's limit let the call through.
pub async fn admit_user(limits: &RateLimits, call: &mut Call) -> Result<(), Response> {
    if call.user_admitted {
        return Ok(());
    }
    let Some(verified) = &call.identity else {
        return Ok(());
    };
    let checked = limits.check_user(&verified.user).await;
    call.user_admitted = true;
    checked.map_err(|rejection| too_many(call.head.wire, rejection))
}

/// 429 in the caller's protocol, saying when to come back and what the policy is.
fn too_many(wire: Wire, rejection: Rejection) -> Response {
    let secs = rejection.retry_after.as_millis().div_ceil(1000).max(1) as u64;
    let mut response = error(
        wire,
        ErrorCode::ResourceExhausted,
        &format!("rate limit exceeded; retry in {secs} s"),
    );
    let headers = response.headers_mut();
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{};w=1;burst={}",
        rejection.limit.rps, rejection.limit.burst
    )) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "limit={}, remaining=0, reset={secs}",
        rejection.limit.burst
    )) {
        headers.insert("ratelimit", v);
    }
    metrics::counter!("gateway_rate_limited_total").increment(1);
    response
}

/// A refused request: when to retry, and the policy that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub retry_after: Duration,
    pub limit: Limit,
}

/// `gateway_rate_limit_decisions_total{backend,result}` (one per request checked) and the
/// Redis-unavailable counter, registered once rather than looked up on every request.
struct Decisions {
    local_allowed: Counter,
    local_rejected: Counter,
    redis_allowed: Counter,
    redis_rejected: Counter,
    redis_unavailable: Counter,
}

impl Decisions {
    fn new() -> Self {
        let decision = |backend: &'static str, result: &'static str| metrics::counter!("gateway_rate_limit_decisions_total", "backend" => backend, "result" => result);
        Self {
            local_allowed: decision("local", "allowed"),
            local_rejected: decision("local", "rejected"),
            redis_allowed: decision("redis", "allowed"),
            redis_rejected: decision("redis", "rejected"),
            redis_unavailable: metrics::counter!("gateway_rate_limit_redis_unavailable_total"),
        }
    }
}

/// Clients without a known IP (no socket, no trusted forwarding) share one bucket.
const UNKNOWN_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

pub struct RateLimits {
    per_ip: Limiter<IpAddr>,
    per_user: Limiter<Arc<str>>,
    routes: HashMap<String, Limiter<IpAddr>, foldhash::fast::RandomState>,
    shared: Option<SharedLimiter>,
    decisions: Decisions,
    ipv6_prefix: u8,
}

impl RateLimits {
    /// Shares the limits through Redis when `shared` is given.
    pub fn with_shared(config: &RateLimitConfig, shared: Option<SharedLimiter>) -> Self {
        Self {
            shared,
            ..Self::new(config)
        }
    }

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
            shared: None,
            decisions: Decisions::new(),
            ipv6_prefix: config.ipv6_prefix,
        }
    }

    /// Before authentication: the client IP, under the route's own limit if it has one.
    pub async fn check_ip(&self, path: &str, ip: Option<IpAddr>) -> Result<(), Rejection> {
        self.check(Some((path, ip)), None).await
    }

    /// After authentication: the user, wherever they call from. (A shared string: governor
    /// clones the key on every check.)
    pub async fn check_user(&self, user: &Arc<str>) -> Result<(), Rejection> {
        self.check(None, Some(user)).await
    }

    /// Both at once, when the user is known before the IP is checked (a token verified
    /// earlier): with Redis, one round trip instead of two.
    pub async fn check_ip_and_user(
        &self,
        path: &str,
        ip: Option<IpAddr>,
        user: &Arc<str>,
    ) -> Result<(), Rejection> {
        self.check(Some((path, ip)), Some(user)).await
    }

    /// Redis when it answers (every bucket in one call, all or nothing), the local limiter
    /// when it does not or is not configured (bucket by bucket).
    async fn check(
        &self,
        by_ip: Option<(&str, Option<IpAddr>)>,
        user: Option<&Arc<str>>,
    ) -> Result<(), Rejection> {
        let by_ip = by_ip.map(|(path, ip)| {
            let client = ip.map_or(UNKNOWN_IP, |ip| {
                platform_kernel::peer::client_group(ip, self.ipv6_prefix)
            });
            (path, self.routes.get(path), client)
        });
        if let Some(shared) = &self.shared {
            let mut keys = Vec::with_capacity(3);
            if let Some((path, route, ip)) = by_ip {
                if let Some(route) = route {
                    keys.push((format!("route:{path}:{ip}"), route.limit));
                }
                keys.push((format!("ip:{ip}"), self.per_ip.limit));
            }
            if let Some(user) = user {
                keys.push((format!("user:{user}"), self.per_user.limit));
            }
            // Boxed, so a gateway without Redis does not carry the Redis call's size in
            // every request's future.
            match Box::pin(shared.check(&keys)).await {
                Decision::Allowed => {
                    self.decisions.redis_allowed.increment(1);
                    return Ok(());
                }
                Decision::Rejected(which, retry_after) => {
                    self.decisions.redis_rejected.increment(1);
                    return Err(Rejection {
                        retry_after,
                        limit: keys.get(which).map_or(self.per_ip.limit, |k| k.1),
                    });
                }
                Decision::Unavailable => self.decisions.redis_unavailable.increment(1),
            }
        }
        let decision = self.local(by_ip.map(|(_, route, ip)| (route, ip)), user);
        match decision {
            Ok(()) => self.decisions.local_allowed.increment(1),
            Err(_) => self.decisions.local_rejected.increment(1),
        }
        decision
    }

    /// Bucket by bucket in this process.
    fn local(
        &self,
        by_ip: Option<(Option<&Limiter<IpAddr>>, IpAddr)>,
        user: Option<&Arc<str>>,
    ) -> Result<(), Rejection> {
        if let Some((route, ip)) = by_ip {
            if let Some(route) = route {
                route.check(&ip)?;
            }
            self.per_ip.check(&ip)?;
        }
        if let Some(user) = user {
            self.per_user.check(user)?;
        }
        Ok(())
    }

    /// Forgets keys that are back to full capacity (bounded memory under many clients).
    pub fn shrink(&self) {
        self.per_ip.shrink();
        self.per_user.shrink();
        for r in self.routes.values() {
            r.shrink();
        }
        if let Some(shared) = &self.shared {
            shared.shrink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_route_limit_applies_per_ip_and_the_next_request_waits() {
        let mut config = RateLimitConfig::default();
        config
            .routes
            .insert("/login".into(), Limit { rps: 1, burst: 3 });
        let limits = RateLimits::new(&config);
        let ip = "203.0.113.1".parse().ok();
        for _ in 0..3 {
            limits.check_ip("/login", ip).await.expect("within burst");
        }
        let rejected = limits.check_ip("/login", ip).await.expect_err("over");
        assert!(
            rejected.retry_after > Duration::ZERO && rejected.retry_after <= Duration::from_secs(1)
        );
        assert_eq!(rejected.limit, Limit { rps: 1, burst: 3 });
        limits
            .check_ip("/login", "203.0.113.2".parse().ok())
            .await
            .expect("another ip");
        limits
            .check_ip("/other", ip)
            .await
            .expect("other routes use the default");
    }

    #[tokio::test]
    async fn ipv6_clients_share_the_limit_of_their_slash_64() {
        let config = RateLimitConfig {
            rps: 1,
            burst: 3,
            ..RateLimitConfig::default()
        };
        let limits = RateLimits::new(&config);
        for n in 1..=3 {
            let ip = format!("2001:db8:5:5::{n}").parse().ok();
            limits.check_ip("/m", ip).await.expect("within the burst");
        }
        limits
            .check_ip("/m", "2001:db8:5:5:ffff::1".parse().ok())
            .await
            .expect_err("a new address in the same /64 is the same client");
        limits
            .check_ip("/m", "2001:db8:5:6::1".parse().ok())
            .await
            .expect("the next /64 is another client");
    }

    #[tokio::test]
    async fn with_redis_the_ip_and_the_user_are_one_decision_and_a_refusal_takes_nothing() {
        let config = RateLimitConfig {
            rps: 1,
            burst: 3,
            ..RateLimitConfig::default()
        };
        let shared = redis::tests::limiter().await;
        let limits = RateLimits::with_shared(&config, Some(shared));
        let user: Arc<str> = Arc::from("user-1");
        let ip = |n: u8| Some(IpAddr::from([203, 0, 113, n]));
        for n in 1..=3 {
            limits
                .check_ip_and_user("/m", ip(n), &user)
                .await
                .expect("within the user's burst, from three addresses");
        }
        let refused = limits
            .check_ip_and_user("/m", ip(4), &user)
            .await
            .expect_err("the user's fourth call");
        assert!(refused.retry_after > Duration::ZERO);
        // The refused call took nothing from the fourth address: its whole burst is left.
        for _ in 0..3 {
            limits
                .check_ip("/m", ip(4))
                .await
                .expect("the address's own burst");
        }
        limits.check_ip("/m", ip(4)).await.expect_err("and no more");
    }
}
