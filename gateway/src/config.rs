//! The gateway's one configuration type, [`Config`]: the kernel's base section (`server`,
//! `telemetry`, `discovery`, `redis`; `database` and `data_dir` are accepted, so the stack's
//! shared environment never breaks the gateway, which keeps nothing durable) beside its own
//! keys (`GATEWAY__…` variables, section `gateway` of the `PLATFORM_CONFIG` file), plus the
//! conventional `GATEWAY_CORS_ORIGINS`, `GATEWAY_RATE_LIMIT_RPS` and `GATEWAY_RATE_LIMIT_BURST`.

use std::collections::BTreeMap;

use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use serde::{Deserialize, Deserializer};

pub const DEFAULT_PORT: u16 = 8080;

/// The gateway's own conventional variables, for `platform_kernel::config::load_service_with`.
pub const CONVENTIONAL: &[(&str, &str)] = &[
    ("GATEWAY_CORS_ORIGINS", "cors.origins"),
    ("GATEWAY_RATE_LIMIT_RPS", "rate_limit.rps"),
    ("GATEWAY_RATE_LIMIT_BURST", "rate_limit.burst"),
];

/// The gateway binary's configuration.
pub type Config = ServiceConfig<GatewayConfig>;

/// The gateway's own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    pub cors: CorsConfig,
    pub rate_limit: RateLimitConfig,
    pub auth: JwtConfig,
    pub upstream: UpstreamConfig,
    /// Serving threads, each with its own runtime and socket (0: one per core).
    pub workers: usize,
}

impl OwnConfig for GatewayConfig {
    const SERVICE: &'static str = "gateway";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
}

/// A list given either as a YAML list or as one comma-separated string (environment).
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Either::Many(v) => v,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins, e.g. `https://app.example.com`; empty: no CORS headers at all.
    #[serde(deserialize_with = "list")]
    pub origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// Sustained requests per second.
    pub rps: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl Default for Limit {
    fn default() -> Self {
        Self {
            rps: 50,
            burst: 100,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Per client IP (and, separately, per authenticated user), every route.
    pub rps: u32,
    pub burst: u32,
    /// Tighter (or looser) limits per method path, per client IP.
    pub routes: BTreeMap<String, Limit>,
    /// IPv6 clients are limited by this prefix, not by address (64: one subscriber usually
    /// holds a whole /64, and could otherwise rotate through 2^64 budgets).
    pub ipv6_prefix: u8,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let login = Limit { rps: 1, burst: 10 };
        Self {
            rps: 50,
            burst: 100,
            routes: BTreeMap::from([
                ("/platform.auth.v1.AuthService/Login".to_owned(), login),
                ("/platform.auth.v1.AuthService/VerifyMfa".to_owned(), login),
                (
                    "/platform.identity.v1.IdentityService/CreateUser".to_owned(),
                    login,
                ),
                (
                    "/platform.identity.v1.IdentityService/RequestPasswordReset".to_owned(),
                    login,
                ),
                (
                    "/platform.identity.v1.IdentityService/ResendVerification".to_owned(),
                    login,
                ),
                // The mail pages that send mail, like the methods they call.
                ("/reset-password/request".to_owned(), login),
                ("/verify-email/resend".to_owned(), login),
            ]),
            ipv6_prefix: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
    /// How often the JWKS is fetched from the auth service anyway.
    pub jwks_refresh_secs: u64,
    /// A token with an unknown `kid` triggers a refetch at most this often.
    pub unknown_kid_refetch_secs: u64,
    /// CreateUser is public (self-service sign-up).
    pub allow_self_signup: bool,
    /// How often auth's revocation feed is read: a logged-out token is refused within about
    /// this long (at most 1000: revocation reaches the edge within a second).
    pub revocation_poll_ms: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: "platform".to_owned(),
            audience: "platform".to_owned(),
            leeway_secs: 30,
            jwks_refresh_secs: 300,
            unknown_kid_refetch_secs: 5,
            allow_self_signup: true,
            revocation_poll_ms: 250,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Per-call timeout when the caller sets none (or a longer one).
    pub timeout_ms: u64,
    /// Per method path.
    pub route_timeouts_ms: BTreeMap<String, u64>,
    /// Attempts for idempotent methods (and calls that could not be sent).
    pub max_attempts: u32,
    /// An upstream connection idle this long is closed rather than used again. Keep it
    /// below the services' `server.idle_timeout_secs` (75 s), so an instance never closes a
    /// connection just as a call goes out on it.
    pub idle_timeout_secs: u64,
    /// Unary HTTP/1.1 calls go out through the gateway's own client (`platform-http1`);
    /// off, through hyper's (`GATEWAY__UPSTREAM__OWN_HTTP1_CLIENT`).
    pub own_http1_client: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            route_timeouts_ms: BTreeMap::new(),
            max_attempts: 3,
            idle_timeout_secs: 60,
            own_http1_client: true,
        }
    }
}

impl Validate for GatewayConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.rate_limit.rps == 0 || self.rate_limit.burst == 0 {
            return bad(
                "rate_limit (GATEWAY_RATE_LIMIT_RPS/BURST)",
                "must be positive",
            );
        }
        if !(1..=1000).contains(&self.auth.revocation_poll_ms) {
            return bad(
                "auth.revocation_poll_ms",
                "must be between 1 and 1000 (revocation reaches the edge within a second)",
            );
        }
        if self.rate_limit.ipv6_prefix > 128 {
            return bad("rate_limit.ipv6_prefix", "must be at most 128");
        }
        for (route, limit) in &self.rate_limit.routes {
            if limit.rps == 0 || limit.burst == 0 {
                return bad(&format!("rate_limit.routes.{route}"), "must be positive");
            }
        }
        for origin in &self.cors.origins {
            if origin.parse::<http::HeaderValue>().is_err() || !origin.contains("://") {
                return bad(
                    "cors.origins (GATEWAY_CORS_ORIGINS)",
                    &format!("`{origin}` is not an origin"),
                );
            }
        }
        if self.upstream.max_attempts == 0 {
            return bad("upstream.max_attempts", "must be at least 1");
        }
        if self.upstream.idle_timeout_secs == 0 {
            return bad("upstream.idle_timeout_secs", "must be at least 1");
        }
        Ok(())
    }
}
