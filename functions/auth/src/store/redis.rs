//! The deny list and the login-failure counters in Redis, shared by every auth replica.
//!
//! What counts is decided by the service's clock, as in the SQL store: an entry keeps the
//! instant it ends at, and is compared with the `now` the core passes (so the core, and its
//! tests, run on one clock). Each entry also carries a Redis expiry a little after that
//! instant, so nothing needs sweeping.

use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use crate::error::{AuthError, Result};
use crate::ports::{DenyList, LoginAttempts};

#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
}

/// A Redis failure, saying what it was doing.
fn redis_error(what: &'static str) -> impl FnOnce(redis::RedisError) -> AuthError {
    move |e| AuthError::Internal(anyhow::Error::new(e).context(format!("redis: {what}")))
}

/// Deny entries written before entries kept their end (as `1`) count until Redis drops them,
/// at the token's expiry; anything below this is such a value, not an instant in µs.
const LEGACY_DENIED: i64 = 1_000_000_000;

/// Counts a failure at ARGV[1] (µs), starting again from 1 after a quiet window of ARGV[2]
/// µs, atomically; the entry is dropped by Redis ARGV[3] ms from now.
const RECORD_FAILURE: &str = r"
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local n = 1
if last and last >= tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
else
  redis.call('HSET', KEYS[1], 'n', 1)
end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n
";

/// Redis keeps an entry this much longer than it counts (clocks of replicas differ a little).
const KEEP_AFTER_MS: u64 = 5_000;

impl RedisState {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let conn = ConnectionManager::new(client)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to Redis: {e}"))?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}auth:"),
        })
    }

    /// What every key of this state starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }
}

/// How long Redis keeps an entry that counts until `until`: to then (by the system's
/// clock), plus [`KEEP_AFTER_MS`].
fn keep_for(until: DateTime<Utc>) -> u64 {
    u64::try_from((until - Utc::now()).num_milliseconds())
        .unwrap_or(0)
        .saturating_add(KEEP_AFTER_MS)
}

#[async_trait::async_trait]
impl DenyList for RedisState {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(
                self.key("deny", jti),
                until.timestamp_micros(),
                keep_for(until),
            )
            .await
            .map_err(redis_error("denying a token"))?;
        Ok(())
    }

    async fn deny_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("deny", key))
            .arg(until.timestamp_micros())
            .arg("NX")
            .arg("PX")
            .arg(keep_for(until))
            .query_async(&mut conn)
            .await
            .map_err(redis_error("denying once"))?;
        Ok(set.is_some())
    }

    async fn is_denied(&self, jti: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut conn = self.conn.clone();
        let until: Option<i64> = conn
            .get(self.key("deny", jti))
            .await
            .map_err(redis_error("reading the deny list"))?;
        Ok(until.is_some_and(|until| until < LEGACY_DENIED || until > now.timestamp_micros()))
    }
}

#[async_trait::async_trait]
impl LoginAttempts for RedisState {
    async fn locked_until(&self, key: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let mut conn = self.conn.clone();
        let until: Option<i64> = conn
            .get(self.key("lock", key))
            .await
            .map_err(redis_error("reading a login lockout"))?;
        Ok(until
            .and_then(DateTime::from_timestamp_micros)
            .filter(|u| *u > now))
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        let mut conn = self.conn.clone();
        // `failures:` (a hash), not the `fail:` counters of earlier versions, which expire by
        // themselves within one window (during an upgrade the two count apart: a lockout may
        // take up to twice the failures for one window).
        let n: i64 = redis::Script::new(RECORD_FAILURE)
            .key(self.key("failures", key))
            .arg(now.timestamp_micros())
            .arg(window.num_microseconds().unwrap_or(i64::MAX))
            .arg(keep_for(now + window))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("counting a failed login"))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn lock(&self, key: &str, until: DateTime<Utc>) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(
                self.key("lock", key),
                until.timestamp_micros(),
                keep_for(until),
            )
            .await
            .map_err(redis_error("locking logins"))?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn
            // `fail:` is where earlier versions counted.
            .del(&[
                self.key("failures", key),
                self.key("fail", key),
                self.key("lock", key),
            ])
            .await
            .map_err(redis_error("clearing login failures"))?;
        Ok(())
    }
}
