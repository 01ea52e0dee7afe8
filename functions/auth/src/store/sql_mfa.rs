//! Second factors in the `mfa_*` tables; every single-use rule is one conditional write.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use platform_database::column;

use super::sql::{SqlAuthStore, micros};
use crate::error::Result;
use crate::ports::{MfaStore, TotpRecord};

#[async_trait::async_trait]
impl MfaStore for SqlAuthStore {
    async fn totp(&self, user: &str) -> Result<Option<TotpRecord>> {
        let row =
            sqlx::query("SELECT sealed_secret, confirmed_at FROM mfa_totp WHERE user_id = $1")
                .bind(user)
                .fetch_optional(&self.db.pool)
                .await
                .with_context(|| format!("reading the second factor of {user}"))?;
        row.map(|r| {
            let confirmed: Option<i64> = column(&r, "confirmed_at")?;
            Ok(TotpRecord {
                user_id: user.to_owned(),
                sealed_secret: column(&r, "sealed_secret")?,
                confirmed: confirmed.is_some(),
            })
        })
        .transpose()
    }

    async fn put_pending_totp(&self, user: &str, sealed: &str, now: DateTime<Utc>) -> Result<bool> {
        let written = sqlx::query(
            "INSERT INTO mfa_totp (user_id, sealed_secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = $4, created_at = $5, last_step = 0 \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user)
        .bind(sealed)
        .bind(micros(now))
        .bind(sealed)
        .bind(micros(now))
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("storing a TOTP enrolment of {user}"))?;
        Ok(written.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        user: &str,
        sealed: &str,
        step: i64,
        codes: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let what = || format!("confirming the TOTP of {user}");
        let mut tx = self.db.pool.begin().await.with_context(what)?;
        let confirmed = sqlx::query(
            "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND sealed_secret = $4 AND confirmed_at IS NULL",
        )
        .bind(micros(now))
        .bind(step)
        .bind(user)
        .bind(sealed)
        .execute(&mut *tx)
        .await
        .with_context(what)?;
        if confirmed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await
            .with_context(what)?;
        for hash in codes {
            sqlx::query("INSERT INTO mfa_recovery_codes (user_id, hash) VALUES ($1, $2)")
                .bind(user)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .with_context(what)?;
        }
        tx.commit().await.with_context(what)?;
        Ok(true)
    }

    async fn use_step(&self, user: &str, step: i64) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE mfa_totp SET last_step = $1 \
             WHERE user_id = $2 AND last_step < $3 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user)
        .bind(step)
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("using a TOTP code of {user}"))?;
        Ok(used.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user: &str, hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND hash = $3 AND used_at IS NULL",
        )
        .bind(micros(now))
        .bind(user)
        .bind(hash)
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("using a recovery code of {user}"))?;
        Ok(used.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user: &str) -> Result<u32> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user)
        .fetch_one(&self.db.pool)
        .await
        .with_context(|| format!("counting the recovery codes of {user}"))?;
        let n: i64 = column(&row, "n")?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn delete_mfa(&self, user: &str) -> Result<bool> {
        let what = || format!("removing the second factor of {user}");
        let mut tx = self.db.pool.begin().await.with_context(what)?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await
            .with_context(what)?;
        let deleted = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await
            .with_context(what)?;
        tx.commit().await.with_context(what)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn create_challenge(
        &self,
        hash: &str,
        user: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO mfa_challenges (hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user)
            .bind(micros(expires_at))
            .execute(&self.db.pool)
            .await
            .with_context(|| format!("storing an MFA challenge for {user}"))?;
        Ok(())
    }

    async fn challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT user_id FROM mfa_challenges \
             WHERE hash = $1 AND expires_at > $2 AND used_at IS NULL",
        )
        .bind(hash)
        .bind(micros(now))
        .fetch_optional(&self.db.pool)
        .await
        .context("reading an MFA challenge")?;
        row.map(|r| Ok(column(&r, "user_id")?)).transpose()
    }

    async fn consume_challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let used = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $1 \
             WHERE hash = $2 AND expires_at > $3 AND used_at IS NULL",
        )
        .bind(micros(now))
        .bind(hash)
        .bind(micros(now))
        .execute(&self.db.pool)
        .await
        .context("using an MFA challenge")?;
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&self.db.pool)
            .await
            .context("pruning expired MFA challenges")?;
        Ok(used.rows_affected() == 1)
    }
}
