//! Login-attempt counters in the `login_failures` table. An attempt is a compare-and-set on
//! the row (portable to both backends, unlike an upsert that would have to compute the
//! exponential lock in SQL): read, decide with the policy, write only if the row is still
//! what was read; a concurrent writer makes it read again.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use platform_database::column;

use super::sql::{SqlAuthStore, instant, micros};
use crate::domain::lockout::{Attempt, Counter, LockoutPolicy};
use crate::error::{AuthError, Result};
use crate::ports::LoginAttempts;

/// Stands for "no lock" where a lock instant is compared.
const UNLOCKED: i64 = -1;

impl SqlAuthStore {
    async fn counter(&self, key: &str) -> Result<Option<Counter>> {
        let row = sqlx::query(
            "SELECT failures, last_failure_at, locked_until FROM login_failures WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await
        .context("reading login attempts")?;
        row.map(|r| {
            let count: i64 = column(&r, "failures")?;
            let locked: Option<i64> = column(&r, "locked_until")?;
            Ok(Counter {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                last: instant(column(&r, "last_failure_at")?)?,
                locked_until: locked.map(instant).transpose()?,
            })
        })
        .transpose()
    }

    /// Writes `next` over `was` (or where there was no row), unless another writer came
    /// first: whether it was written.
    async fn swap(&self, key: &str, was: Option<Counter>, next: Counter) -> Result<bool> {
        let locked = next.locked_until.map(micros);
        let written = match was {
            None => {
                sqlx::query(
                    "INSERT INTO login_failures (key, failures, last_failure_at, locked_until) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(i64::from(next.count))
                .bind(micros(next.last))
                .bind(locked)
                .execute(&self.db.pool)
                .await
            }
            Some(was) => sqlx::query(
                "UPDATE login_failures SET failures = $1, last_failure_at = $2, locked_until = $3 \
                 WHERE key = $4 AND failures = $5 AND last_failure_at = $6 \
                 AND COALESCE(locked_until, -1) = $7",
            )
            .bind(i64::from(next.count))
            .bind(micros(next.last))
            .bind(locked)
            .bind(key)
            .bind(i64::from(was.count))
            .bind(micros(was.last))
            .bind(was.locked_until.map_or(UNLOCKED, micros))
            .execute(&self.db.pool)
            .await,
        }
        .context("counting a login attempt")?;
        Ok(written.rows_affected() == 1)
    }
}

/// A compare-and-set that keeps losing (impossible short of a storm of writers on one key).
const MAX_TRIES: usize = 100;

#[async_trait::async_trait]
impl LoginAttempts for SqlAuthStore {
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<Attempt> {
        for _ in 0..MAX_TRIES {
            let was = self.counter(key).await?;
            let next = match policy.attempt(was, now) {
                Ok(next) => next,
                Err(until) => return Ok(Attempt::Locked(until)),
            };
            if self.swap(key, was, next).await? {
                return Ok(Attempt::Allowed {
                    locked_until: next.locked_until,
                });
            }
        }
        Err(AuthError::Internal(anyhow::anyhow!(
            "counting a login attempt on {key}: {MAX_TRIES} concurrent writers won"
        )))
    }

    async fn forgive(&self, key: &str, set: Option<DateTime<Utc>>) -> Result<()> {
        sqlx::query(
            "UPDATE login_failures SET \
               failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, \
               locked_until = CASE WHEN locked_until = $1 THEN NULL ELSE locked_until END \
             WHERE key = $2",
        )
        .bind(set.map_or(UNLOCKED, micros))
        .bind(key)
        .execute(&self.db.pool)
        .await
        .context("giving back a login attempt")?;
        Ok(())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        // One atomic upsert: concurrent failures all count.
        let row = sqlx::query(
            "INSERT INTO login_failures (key, failures, last_failure_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_failures.last_failure_at < $3 THEN 1 \
                               ELSE login_failures.failures + 1 END, \
               last_failure_at = $4 \
             RETURNING failures",
        )
        .bind(key)
        .bind(micros(now))
        .bind(micros(now - window))
        .bind(micros(now))
        .fetch_one(&self.db.pool)
        .await
        .context("counting a failed login")?;
        let failures: i64 = column(&row, "failures")?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    async fn failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32> {
        Ok(self
            .counter(key)
            .await?
            .filter(|c| c.last >= now - window)
            .map_or(0, |c| c.count))
    }

    async fn clear(&self, key: &str) -> Result<()> {
        // Most logins have nothing to clear: read first, so they take no write lock.
        let any = sqlx::query("SELECT key FROM login_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await
            .context("reading login failures")?;
        if any.is_none() {
            return Ok(());
        }
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.db.pool)
            .await
            .context("clearing login failures")?;
        Ok(())
    }
}
