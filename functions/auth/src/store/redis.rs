//! The deny list and the login-failure counters in Redis, shared by every auth replica.
//!
//! What counts is decided by the service's clock, as in the SQL store: an entry keeps the
//! instant it ends at, and is compared with the `now` the core passes (so the core, and its
//! tests, run on one clock). Each entry also carries a Redis expiry a little after that
//! instant, so nothing needs sweeping.

use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use crate::domain::lockout::{Attempt, LockoutPolicy};
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

/// An attempt at ARGV[1] (µs) on the hash KEYS[1] {n, last, lock}, as
/// `LockoutPolicy::attempt` decides (the same rule, in Lua, so it is one atomic step):
/// refused with the lock's end while locked; else counted (from 1 again after a quiet window
/// of ARGV[2] µs) and, from the ARGV[3]-th attempt, locked for ARGV[4] µs doubling per
/// further attempt up to ARGV[5] µs. Returns {allowed (1/0), lock end or 0}. Redis drops the
/// entry ARGV[6] ms from now.
const BEGIN_ATTEMPT: &str = r"
local now = tonumber(ARGV[1])
local lock = tonumber(redis.call('HGET', KEYS[1], 'lock') or '0')
if lock > now then
  return {0, lock}
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if last < now - tonumber(ARGV[2]) then
  n = 0
end
n = n + 1
local threshold = tonumber(ARGV[3])
local until_ = 0
if n >= threshold then
  local doublings = math.min(n - threshold, 20)
  until_ = now + math.min(tonumber(ARGV[4]) * (2 ^ doublings), tonumber(ARGV[5]))
end
redis.call('HSET', KEYS[1], 'n', n, 'last', now, 'lock', until_)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, until_}
";

/// Takes back an attempt on KEYS[1]: one fewer, and the lock lifted if it ends at ARGV[1].
const FORGIVE_ATTEMPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then
  redis.call('HSET', KEYS[1], 'n', n - 1)
end
if ARGV[1] ~= '0' and redis.call('HGET', KEYS[1], 'lock') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lock', 0)
end
return 1
";

/// Redis keeps an entry this much longer than it counts (clocks of replicas differ a little).
const KEEP_AFTER_MS: u64 = 5_000;

impl RedisState {
    /// Not connected yet: Redis may be away when the service starts (see
    /// [`platform_kernel::redis`]).
    pub fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            conn: platform_kernel::redis::connect(url)?,
            prefix: format!("{prefix}auth:"),
        })
    }

    /// Whether this Redis still holds what was copied into it (it may have come back empty).
    pub async fn is_filled(&self) -> Result<bool> {
        let mut conn = self.conn.clone();
        conn.exists(self.key("state", "filled"))
            .await
            .map_err(redis_error("checking the shared state"))
    }

    /// Copies denials in (each until its end) and marks the state filled.
    pub async fn fill(&self, denials: &[(String, DateTime<Utc>)]) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for (key, until) in denials {
            pipe.pset_ex(
                self.key("deny", key),
                until.timestamp_micros(),
                keep_for(*until),
            )
            .ignore();
        }
        pipe.set(self.key("state", "filled"), 1).ignore();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_error("filling the shared state"))
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

fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl LoginAttempts for RedisState {
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<Attempt> {
        let mut conn = self.conn.clone();
        let window = chrono::Duration::from_std(policy.window).unwrap_or(chrono::Duration::MAX);
        // Kept for as long as it can matter: a window after the longest lock.
        let keep =
            keep_for(now + window + chrono::Duration::from_std(policy.max).unwrap_or(window));
        let (allowed, until): (i64, i64) = redis::Script::new(BEGIN_ATTEMPT)
            .key(self.key("attempts", key))
            .arg(now.timestamp_micros())
            .arg(micros(policy.window))
            .arg(policy.threshold)
            .arg(micros(policy.base))
            .arg(micros(policy.max))
            .arg(keep)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("counting a login attempt"))?;
        let until = DateTime::from_timestamp_micros(until).filter(|_| until > 0);
        Ok(match (allowed, until) {
            (1, until) => Attempt::Allowed {
                locked_until: until,
            },
            (_, Some(until)) => Attempt::Locked(until),
            (_, None) => Attempt::Locked(now),
        })
    }

    async fn forgive(&self, key: &str, set: Option<DateTime<Utc>>) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::Script::new(FORGIVE_ATTEMPT)
            .key(self.key("attempts", key))
            .arg(set.map_or(0, |t| t.timestamp_micros()))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("giving back a login attempt"))?;
        Ok(())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        let mut conn = self.conn.clone();
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

    async fn failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        let mut conn = self.conn.clone();
        let (n, last): (Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.key("failures", key))
            .arg("n")
            .arg("last")
            .query_async(&mut conn)
            .await
            .map_err(redis_error("reading failed logins"))?;
        let recent = last.is_some_and(|last| last >= (now - window).timestamp_micros());
        Ok(if recent {
            u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX)
        } else {
            0
        })
    }

    async fn clear(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn
            // `fail:` and `lock:` are where earlier versions counted.
            .del(&[
                self.key("attempts", key),
                self.key("failures", key),
                self.key("fail", key),
                self.key("lock", key),
            ])
            .await
            .map_err(redis_error("clearing login attempts"))?;
        Ok(())
    }
}
