//! One set of queries for both backends (sqlx `Any`). Placeholders are `$n`, which both
//! PostgreSQL and SQLite accept; each is used once, in order.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use std::sync::LazyLock;

use platform_database::{Database, bool_column, column, get_bool, is_unique_violation};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::domain::{DisplayName, Email, PageRequest, TokenKind, User, UserId};
use crate::error::{IdentityError, Result};
use platform_events::relay::Wake;

use crate::ports::{Event, StoredToken, UserStore};

const COLUMNS: &str = "id, email, display_name, password_hash, email_verified, disabled, \
     password_changed_at, created_at, updated_at, deleted_at, version";

/// The select list: like `COLUMNS`, with the flags through `bool_column`.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    COLUMNS
        .split(", ")
        .map(|c| match c {
            "email_verified" | "disabled" => bool_column(c),
            c => c.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
});

#[derive(Clone)]
pub struct SqlUserStore {
    db: Database,
    /// Woken after a commit that wrote events.
    relay: Wake,
}

impl SqlUserStore {
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

    /// Commits `tx` after writing `events` to the outbox in it, and wakes the relay.
    async fn commit_with(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Any>,
        events: &[Event],
        what: &str,
    ) -> Result<()> {
        Ok(platform_events::outbox::commit(tx, events, &self.relay, what).await?)
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| IdentityError::Internal(anyhow::anyhow!("stored instant {us} out of range")))
}

fn user_from(row: &AnyRow) -> Result<User> {
    let id: String = column(row, "id")?;
    let user = || -> Result<User> {
        let deleted_at: Option<i64> = column(row, "deleted_at")?;
        Ok(User {
            id: UserId(Uuid::parse_str(&id).context("the id is not a UUID")?),
            email: Email::from_trusted(column(row, "email")?),
            display_name: DisplayName::from_trusted(column(row, "display_name")?),
            password_hash: column(row, "password_hash")?,
            email_verified: get_bool(row, "email_verified")?,
            disabled: get_bool(row, "disabled")?,
            password_changed_at: instant(column(row, "password_changed_at")?)?,
            created_at: instant(column(row, "created_at")?)?,
            updated_at: instant(column(row, "updated_at")?)?,
            deleted_at: deleted_at.map(instant).transpose()?,
            version: column(row, "version")?,
        })
    };
    user().map_err(|e| match e {
        IdentityError::Internal(e) => {
            IdentityError::Internal(e.context(format!("stored user {id}")))
        }
        e => e,
    })
}

/// A unique-email violation is the caller's conflict; anything else is the store's failure
/// while doing `what`.
fn email_conflict(what: String) -> impl FnOnce(sqlx::Error) -> IdentityError {
    move |err| {
        if is_unique_violation(&err) {
            IdentityError::EmailTaken
        } else {
            IdentityError::Internal(anyhow::Error::new(err).context(what))
        }
    }
}

#[async_trait::async_trait]
impl UserStore for SqlUserStore {
    async fn insert(&self, user: &User, events: &[Event]) -> Result<()> {
        let what = format!("inserting user {}", user.id);
        let mut tx = self.db.pool.begin().await.with_context(|| what.clone())?;
        sqlx::query(&format!(
            "INSERT INTO users ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(user.id.to_string())
        .bind(user.email.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(micros(user.password_changed_at))
        .bind(micros(user.created_at))
        .bind(micros(user.updated_at))
        .bind(user.deleted_at.map(micros))
        .bind(user.version)
        .execute(&mut *tx)
        .await
        .map_err(email_conflict(what.clone()))?;
        self.commit_with(tx, events, &what).await
    }

    async fn find(&self, id: UserId) -> Result<Option<User>> {
        sqlx::query(&format!(
            "SELECT {} FROM users WHERE id = $1 AND deleted_at IS NULL",
            *SELECT
        ))
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await
        .with_context(|| format!("finding user {id}"))?
        .as_ref()
        .map(user_from)
        .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>> {
        sqlx::query(&format!(
            "SELECT {} FROM users WHERE email = $1 AND deleted_at IS NULL",
            *SELECT
        ))
        .bind(email.as_str())
        .fetch_optional(&self.db.pool)
        .await
        .context("finding a user by email")?
        .as_ref()
        .map(user_from)
        .transpose()
    }

    async fn update(&self, user: &User, events: &[Event]) -> Result<bool> {
        let what = format!("updating user {} to version {}", user.id, user.version);
        let mut tx = self.db.pool.begin().await.with_context(|| what.clone())?;
        let result = sqlx::query(
            "UPDATE users SET email = $1, display_name = $2, password_hash = $3, \
             email_verified = $4, disabled = $5, password_changed_at = $6, updated_at = $7, \
             deleted_at = $8, version = $9 \
             WHERE id = $10 AND version = $11 AND deleted_at IS NULL",
        )
        .bind(user.email.as_str())
        .bind(user.display_name.as_str())
        .bind(&user.password_hash)
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(micros(user.password_changed_at))
        .bind(micros(user.updated_at))
        .bind(user.deleted_at.map(micros))
        .bind(user.version)
        .bind(user.id.to_string())
        .bind(user.version - 1)
        .execute(&mut *tx)
        .await
        .map_err(email_conflict(what.clone()))?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        self.commit_with(tx, events, &what).await?;
        Ok(true)
    }

    async fn record(&self, events: &[Event]) -> Result<()> {
        let tx = self.db.pool.begin().await.context("recording events")?;
        self.commit_with(tx, events, "recording events").await
    }

    async fn list(&self, page: &PageRequest, email_prefix: Option<&str>) -> Result<Vec<User>> {
        // Empty strings stand for "no bound": every id sorts after '' and every email starts
        // with ''. UUID strings of one version sort like the UUIDs themselves.
        let after = page.after.map(|a| a.to_string()).unwrap_or_default();
        let prefix = email_prefix.unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT {} FROM users \
             WHERE deleted_at IS NULL AND id > $1 AND substr(email, 1, length($2)) = $3 \
             ORDER BY id LIMIT $4",
            *SELECT
        ))
        .bind(&after)
        .bind(prefix)
        .bind(prefix)
        .bind(i64::from(page.size) + 1)
        .fetch_all(&self.db.pool)
        .await
        .with_context(|| format!("listing users after {after:?}"))?;
        rows.iter().map(user_from).collect()
    }

    async fn insert_token(&self, token: &StoredToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (hash, user_id, kind, created_at, expires_at, email) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.hash)
        .bind(token.user_id.to_string())
        .bind(token.kind.as_str())
        .bind(micros(token.created_at))
        .bind(micros(token.expires_at))
        .bind(token.email.as_ref().map(Email::as_str))
        .execute(&self.db.pool)
        .await
        .with_context(|| {
            format!(
                "inserting a {} token of user {}",
                token.kind.as_str(),
                token.user_id
            )
        })?;
        Ok(())
    }

    async fn consume_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, Option<Email>)>> {
        // One conditional UPDATE: of two concurrent consumers, exactly one matches the row.
        let row = sqlx::query(
            "UPDATE tokens SET used_at = $1 \
             WHERE hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $4 \
             RETURNING user_id, email",
        )
        .bind(micros(now))
        .bind(hash)
        .bind(kind.as_str())
        .bind(micros(now))
        .fetch_optional(&self.db.pool)
        .await
        .with_context(|| format!("consuming a {} token", kind.as_str()))?;
        row.map(|r| {
            let id: String = column(&r, "user_id")?;
            let email: Option<String> = column(&r, "email")?;
            Ok((
                UserId(Uuid::parse_str(&id).with_context(|| format!("stored token user {id}"))?),
                email.map(Email::from_trusted),
            ))
        })
        .transpose()
    }

    async fn token_is_live(&self, hash: &str, kind: TokenKind, now: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "SELECT hash FROM tokens \
             WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(hash)
        .bind(kind.as_str())
        .bind(micros(now))
        .fetch_optional(&self.db.pool)
        .await
        .with_context(|| format!("looking up a {} token", kind.as_str()))?;
        Ok(row.is_some())
    }

    async fn last_token_at(&self, user: UserId, kind: TokenKind) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT created_at FROM tokens WHERE user_id = $1 AND kind = $2 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user.to_string())
        .bind(kind.as_str())
        .fetch_optional(&self.db.pool)
        .await
        .with_context(|| format!("reading the newest {} token of user {user}", kind.as_str()))?;
        row.map(|r| instant(column(&r, "created_at")?)).transpose()
    }

    async fn retire_tokens(&self, user: UserId, kind: TokenKind, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE tokens SET used_at = $1 WHERE user_id = $2 AND kind = $3 AND used_at IS NULL",
        )
        .bind(micros(now))
        .bind(user.to_string())
        .bind(kind.as_str())
        .execute(&self.db.pool)
        .await
        .with_context(|| format!("retiring the {} tokens of user {user}", kind.as_str()))?;
        Ok(())
    }
}
