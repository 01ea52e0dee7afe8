//! The deny list and the login-failure counters in Redis, shared by every auth replica.
//! Entries carry their own expiry, so nothing needs sweeping.

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

fn redis_error(e: redis::RedisError) -> AuthError {
    AuthError::Internal(anyhow::Error::new(e).context("redis"))
}

/// Counts a failure and (re)starts the quiet window, atomically.
const RECORD_FAILURE: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
";

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

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.prefix)
    }
}

fn millis_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_milliseconds())
        .unwrap_or(0)
        .max(1)
}

#[async_trait::async_trait]
impl DenyList for RedisState {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()> {
        let ttl = millis_until(until, Utc::now());
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(self.key("deny", jti), 1u8, ttl)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn is_denied(&self, jti: &str, _now: DateTime<Utc>) -> Result<bool> {
        let mut conn = self.conn.clone();
        conn.exists(self.key("deny", jti))
            .await
            .map_err(redis_error)
    }
}

#[async_trait::async_trait]
impl LoginAttempts for RedisState {
    async fn locked_until(&self, key: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let mut conn = self.conn.clone();
        let until: Option<i64> = conn.get(self.key("lock", key)).await.map_err(redis_error)?;
        Ok(until
            .and_then(DateTime::from_timestamp_micros)
            .filter(|u| *u > now))
    }

    async fn record_failure(
        &self,
        key: &str,
        _now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::Script::new(RECORD_FAILURE)
            .key(self.key("fail", key))
            .arg(window.num_milliseconds().max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn lock(&self, key: &str, until: DateTime<Utc>) -> Result<()> {
        let ttl = millis_until(until, Utc::now());
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(self.key("lock", key), until.timestamp_micros(), ttl)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .del(&[self.key("fail", key), self.key("lock", key)])
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}
