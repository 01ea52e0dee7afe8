//! The deny list and the login counters with Redis configured: Redis in front of the
//! database, never instead of it, so Redis being away is not an outage.
//!
//! - Denials are written to the database first (the record) and to Redis (where they are
//!   read, shared and fast), to Redis even while degraded, so none made during a refill is
//!   missed there. Single-use denials (`deny_once`) are decided by the database
//!   alone, so a replay is caught whether or not Redis saw the first use.
//! - When a Redis command fails, the state turns *degraded*: a warning, the gauge
//!   `auth_redis_degraded` at 1, and every operation goes to the database until Redis is back
//!   (counted in `auth_redis_fallbacks_total`). Login counters then count in the database,
//!   shared by every replica; those counts are left behind when Redis returns.
//! - A watcher probes Redis every second. When it answers again, or answers without the
//!   marker this state keeps in it (it came back empty), the denials still in force are
//!   copied back from the database before Redis is read again. Left open: a replica cut off
//!   from Redis while the others reach it writes denials to the database only, and the
//!   others read Redis; auth's own ValidateToken may take such a token until that replica
//!   reaches Redis again (the gateway and the services follow the revocation log, which is
//!   in the database, and are not affected). After Redis comes back empty, denials are
//!   missing from it for up to a probe interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{RedisState, SqlAuthStore};
use crate::domain::lockout::{Attempt, LockoutPolicy};
use crate::error::Result;
use crate::ports::{Clock, DenyList, LoginAttempts};

pub struct SharedState {
    redis: RedisState,
    sql: SqlAuthStore,
    clock: Arc<dyn Clock>,
    /// Until the watcher has seen Redis answer and filled it, everything goes to the database.
    degraded: AtomicBool,
}

/// How often the watcher looks at Redis.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

impl SharedState {
    /// Starts degraded: the watcher fills Redis and turns to it once it answers.
    pub fn start(redis: RedisState, sql: SqlAuthStore, clock: Arc<dyn Clock>) -> Arc<Self> {
        let state = Arc::new(Self {
            redis,
            sql,
            clock,
            degraded: AtomicBool::new(true),
        });
        metrics::gauge!("auth_redis_degraded").set(1.0);
        let watched = Arc::downgrade(&state);
        tokio::spawn(async move {
            while let Some(state) = watched.upgrade() {
                state.probe().await;
                drop(state);
                tokio::time::sleep(PROBE_EVERY).await;
            }
        });
        state
    }

    /// Whether operations go to the database for now.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::SeqCst)
    }

    /// Looks at Redis once: fills it when it is back or came back empty.
    pub async fn probe(&self) {
        match self.redis.is_filled().await {
            Ok(true) if !self.is_degraded() => {}
            Ok(_) => match self.refill().await {
                Ok(count) => {
                    if self.degraded.swap(false, Ordering::SeqCst) {
                        tracing::info!(
                            denials = count,
                            "Redis answers: shared state in Redis again"
                        );
                    } else {
                        tracing::warn!(
                            denials = count,
                            "Redis came back empty: denials copied back from the database"
                        );
                    }
                    metrics::gauge!("auth_redis_degraded").set(0.0);
                }
                Err(e) => self.fell_back("filling Redis", &e),
            },
            Err(e) => self.fell_back("probing Redis", &e),
        }
    }

    async fn refill(&self) -> Result<usize> {
        let denials = self.sql.denials(self.clock.now()).await?;
        self.redis.fill(&denials).await?;
        Ok(denials.len())
    }

    fn fell_back(&self, what: &'static str, error: &crate::error::AuthError) {
        metrics::counter!("auth_redis_fallbacks_total", "op" => what).increment(1);
        if !self.degraded.swap(true, Ordering::SeqCst) {
            tracing::warn!(%error, "Redis unavailable ({what}): the deny list and login counters use the database until it is back");
            metrics::gauge!("auth_redis_degraded").set(1.0);
        }
    }

    /// Redis's answer, or (when degraded, or it fails) the database's.
    async fn either<T, R, S>(&self, what: &'static str, redis: R, sql: S) -> Result<T>
    where
        R: Future<Output = Result<T>>,
        S: Future<Output = Result<T>>,
    {
        if !self.is_degraded() {
            match redis.await {
                Ok(answer) => return Ok(answer),
                Err(e) => self.fell_back(what, &e),
            }
        } else {
            metrics::counter!("auth_redis_fallbacks_total", "op" => what).increment(1);
        }
        sql.await
    }
}

#[async_trait::async_trait]
impl DenyList for SharedState {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()> {
        self.sql.deny(jti, until).await?;
        // Redis too, even while degraded: a denial made while the watcher refills Redis
        // (after its snapshot, before it turns to Redis) must not be missing there.
        if let Err(e) = self.redis.deny(jti, until).await {
            // Recorded in the database: the watcher copies it in when Redis is back.
            self.fell_back("denying a token", &e);
        }
        Ok(())
    }

    async fn deny_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool> {
        self.sql.deny_once(key, until).await
    }

    async fn is_denied(&self, jti: &str, now: DateTime<Utc>) -> Result<bool> {
        self.either(
            "reading the deny list",
            self.redis.is_denied(jti, now),
            self.sql.is_denied(jti, now),
        )
        .await
    }
}

#[async_trait::async_trait]
impl LoginAttempts for SharedState {
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<Attempt> {
        self.either(
            "counting a login attempt",
            self.redis.begin(key, now, policy),
            self.sql.begin(key, now, policy),
        )
        .await
    }

    async fn forgive(&self, key: &str, set: Option<DateTime<Utc>>) -> Result<()> {
        self.either(
            "giving back a login attempt",
            self.redis.forgive(key, set),
            self.sql.forgive(key, set),
        )
        .await
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        self.either(
            "counting a failed login",
            self.redis.record_failure(key, now, window),
            self.sql.record_failure(key, now, window),
        )
        .await
    }

    async fn failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        self.either(
            "reading failed logins",
            self.redis.failures(key, now, window),
            self.sql.failures(key, now, window),
        )
        .await
    }

    async fn clear(&self, key: &str) -> Result<()> {
        self.either(
            "clearing login attempts",
            self.redis.clear(key),
            self.sql.clear(key),
        )
        .await
    }
}
