//! One set of queries for both backends (sqlx `Any`, `$n` placeholders used once each, in
//! order).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use platform_database::{Database, column};
use sqlx::any::AnyRow;

use crate::domain::{Family, SigningKeyRecord};
use crate::error::{AuthError, Result};
use crate::ports::{DenyList, Event, KeyStore, RefreshUse, SessionStore};
use platform_events::relay::Wake;

#[derive(Clone)]
pub struct SqlAuthStore {
    pub(super) db: Database,
    /// Woken after a commit that wrote events.
    relay: Wake,
}

impl SqlAuthStore {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            relay: Wake::default(),
        }
    }

    /// Wakes `relay` after each commit that wrote events.
    pub fn waking(mut self, relay: Wake) -> Self {
        self.relay = relay;
        self
    }

    /// Every denial still in force at `now`, with its end.
    pub async fn denials(&self, now: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>> {
        let rows = sqlx::query("SELECT jti, expires_at FROM denied_tokens WHERE expires_at > $1")
            .bind(micros(now))
            .fetch_all(&self.db.pool)
            .await
            .context("reading the deny list")?;
        rows.iter()
            .map(|r| Ok((column(r, "jti")?, instant(column(r, "expires_at")?)?)))
            .collect()
    }
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("stored instant {us} out of range")))
}

fn key_from(row: &AnyRow) -> Result<SigningKeyRecord> {
    let retired: Option<i64> = column(row, "retired_at")?;
    Ok(SigningKeyRecord {
        kid: column(row, "kid")?,
        public_key: column(row, "public_key")?,
        sealed_private_key: column(row, "sealed_private_key")?,
        created_at: instant(column(row, "created_at")?)?,
        retired_at: retired.map(instant).transpose()?,
    })
}

#[async_trait::async_trait]
impl KeyStore for SqlAuthStore {
    async fn insert_key(&self, key: &SigningKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, sealed_private_key, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.public_key)
        .bind(&key.sealed_private_key)
        .bind(micros(key.created_at))
        .bind(key.retired_at.map(micros))
        .execute(&self.db.pool)
        .await
            .with_context(|| format!("inserting signing key {}", key.kid))?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, public_key, sealed_private_key, created_at, retired_at FROM signing_keys",
        )
        .fetch_all(&self.db.pool)
        .await
        .context("reading the signing keys")?;
        rows.iter().map(key_from).collect()
    }

    async fn retire_keys_except(&self, current: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid <> $2",
        )
        .bind(micros(now))
        .bind(current)
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("retiring the signing keys but {current}"))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for SqlAuthStore {
    async fn create_family(
        &self,
        family: &Family,
        first_token_hash: &str,
        events: &[Event],
    ) -> Result<()> {
        let mut tx = self
            .db
            .pool
            .begin()
            .await
            .with_context(|| format!("creating session {}", family.id))?;
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at, revoked_at, amr) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&family.id)
        .bind(&family.user_id)
        .bind(micros(family.created_at))
        .bind(micros(family.expires_at))
        .bind(family.revoked_at.map(micros))
        .bind(family.amr.join(" "))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("creating session {}", family.id))?;
        sqlx::query("INSERT INTO refresh_tokens (hash, family_id, issued_at) VALUES ($1, $2, $3)")
            .bind(first_token_hash)
            .bind(&family.id)
            .bind(micros(family.created_at))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing the first refresh token of session {}", family.id))?;
        platform_events::outbox::commit(tx, events, &self.relay, "a new session").await?;
        Ok(())
    }

    async fn family(&self, id: &str) -> Result<Option<Family>> {
        let row = sqlx::query(
            "SELECT id, user_id, created_at, expires_at, revoked_at, amr FROM refresh_families WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await
            .with_context(|| format!("reading session {id}"))?;
        row.map(|r| {
            let revoked: Option<i64> = column(&r, "revoked_at")?;
            Ok(Family {
                id: column(&r, "id")?,
                user_id: column(&r, "user_id")?,
                created_at: instant(column(&r, "created_at")?)?,
                expires_at: instant(column(&r, "expires_at")?)?,
                revoked_at: revoked.map(instant).transpose()?,
                amr: column::<String>(&r, "amr")?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .transpose()
    }

    async fn rotate_refresh(
        &self,
        hash: &str,
        successor_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshUse> {
        let mut tx = self
            .db
            .pool
            .begin()
            .await
            .context("rotating a refresh token")?;
        let fresh = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL \
             RETURNING family_id",
        )
        .bind(micros(now))
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .context("using a refresh token")?;
        if let Some(row) = fresh {
            let family_id: String = column(&row, "family_id")?;
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, family_id, issued_at) VALUES ($1, $2, $3)",
            )
            .bind(successor_hash)
            .bind(&family_id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing the next refresh token of session {family_id}"))?;
            tx.commit().await.context("rotating a refresh token")?;
            return Ok(RefreshUse::Fresh { family_id });
        }
        let used = sqlx::query("SELECT family_id, used_at FROM refresh_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await
            .context("looking up a used refresh token")?;
        Ok(match used {
            None => RefreshUse::Unknown,
            Some(row) => {
                let used_at: Option<i64> = column(&row, "used_at")?;
                RefreshUse::Reused {
                    family_id: column(&row, "family_id")?,
                    used_at: instant(used_at.unwrap_or_default())?,
                }
            }
        })
    }

    async fn refresh_unused(&self, hash: &str) -> Result<bool> {
        let row =
            sqlx::query("SELECT hash FROM refresh_tokens WHERE hash = $1 AND used_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.db.pool)
                .await
                .context("looking up a refresh token")?;
        Ok(row.is_some())
    }

    async fn revoke_family(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(micros(now))
        .bind(id)
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("revoking session {id}"))?;
        Ok(())
    }

    async fn revoke_user_families(
        &self,
        user: &str,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3 RETURNING id",
        )
        .bind(micros(now))
        .bind(user)
        .bind(keep.unwrap_or(""))
        .fetch_all(&self.db.pool)
        .await
        .with_context(|| format!("revoking the sessions of {user}"))?;
        if let Some(keep) = keep {
            sqlx::query(
                "UPDATE refresh_families SET created_at = $1 \
                 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
            )
            .bind(micros(now))
            .bind(keep)
            .bind(user)
            .execute(&self.db.pool)
            .await
            .with_context(|| format!("keeping session {keep}"))?;
        }
        rows.iter().map(|r| Ok(column(r, "id")?)).collect()
    }

    async fn family_of(&self, hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT family_id FROM refresh_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.db.pool)
            .await
            .context("finding the session of a refresh token")?;
        row.map(|r| Ok(column(&r, "family_id")?)).transpose()
    }
}

#[async_trait::async_trait]
impl DenyList for SqlAuthStore {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO denied_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(micros(until))
        .execute(&self.db.pool)
        .await
            .with_context(|| format!("denying access token {jti}"))?;
        Ok(())
    }

    async fn deny_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO denied_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(key)
        .bind(micros(until))
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("denying {key} once"))?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn is_denied(&self, jti: &str, now: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query("SELECT jti FROM denied_tokens WHERE jti = $1 AND expires_at > $2")
            .bind(jti)
            .bind(micros(now))
            .fetch_optional(&self.db.pool)
            .await
            .with_context(|| format!("checking the deny list for {jti}"))?;
        Ok(row.is_some())
    }
}

#[async_trait::async_trait]
impl crate::ports::RevocationLog for SqlAuthStore {
    async fn append(
        &self,
        keys: &[String],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.pool.begin().await.context("logging revocations")?;
        // The counter first: its row lock orders concurrent writers.
        let last: i64 = sqlx::query_scalar(
            "UPDATE revocation_seq SET value = value + $1 WHERE id = 1 RETURNING value",
        )
        .bind(keys.len() as i64)
        .fetch_one(&mut *tx)
        .await
        .context("numbering revocations")?;
        let first = last - keys.len() as i64 + 1;
        for (seq, key) in (first..).zip(keys) {
            sqlx::query("INSERT INTO revocations (seq, key, expires_at) VALUES ($1, $2, $3)")
                .bind(seq)
                .bind(key)
                .bind(micros(until))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("logging revocation {key}"))?;
        }
        sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .context("pruning expired revocations")?;
        tx.commit().await.context("logging revocations")?;
        Ok(())
    }

    async fn since(
        &self,
        after: i64,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::ports::Revocation>> {
        let rows = sqlx::query(
            "SELECT seq, key, expires_at FROM revocations \
             WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
        )
        .bind(after)
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await
        .context("reading the revocation log")?;
        rows.iter()
            .map(|r| {
                Ok(crate::ports::Revocation {
                    seq: column(r, "seq")?,
                    key: column(r, "key")?,
                    until: instant(column(r, "expires_at")?)?,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::ports::EventLog for SqlAuthStore {
    async fn record(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let tx = self.db.pool.begin().await.context("recording events")?;
        Ok(platform_events::outbox::commit(tx, events, &self.relay, "events").await?)
    }
}
