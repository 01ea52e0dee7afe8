//! One set of queries for both backends (sqlx `Any`). Placeholders are `$n`, each used once,
//! in order. Every write runs in a transaction that first takes the next revision from the
//! one-row counter (its row lock orders concurrent writers, so revisions commit in order),
//! then records what it changed in the change log the other instances' caches read.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use platform_database::{Database, bool_column, column, get_bool, is_unique_violation};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::domain::{Assignment, PageRequest, Pattern, Resource, Revision, Role, RoleName, UserId};
use crate::error::{AuthzError, Result};
use platform_events::relay::Wake;

use crate::ports::{AuthzStore, Change, Event, Held};

/// Change-log rows kept: an instance that falls further behind than this drops its whole
/// cache instead.
const CHANGES_KEPT: i64 = 10_000;

#[derive(Clone)]
pub struct SqlAuthzStore {
    db: Database,
    /// Woken after a commit that wrote events.
    relay: Wake,
}

impl SqlAuthzStore {
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

    /// Stores `events` in `tx`, commits, and wakes the relay.
    async fn commit(
        &self,
        tx: Transaction<'static, Any>,
        revision: Revision,
        events: &[Event],
    ) -> Result<Revision> {
        platform_events::outbox::commit(tx, events, &self.relay, "an authz change").await?;
        Ok(revision)
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(self
            .db
            .pool
            .begin()
            .await
            .context("starting a transaction")?)
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| AuthzError::Internal(anyhow::anyhow!("stored instant {us} out of range")))
}

fn role_columns() -> String {
    format!(
        "name, description, permissions, {}",
        bool_column("built_in")
    )
}

fn role_from(row: &AnyRow, prefix: &str) -> Result<Role> {
    let name: String = column(row, &format!("{prefix}name"))?;
    let permissions: String = column(row, "permissions")?;
    let names: Vec<String> = serde_json::from_str(&permissions)
        .with_context(|| format!("stored permissions of role {name}"))?;
    let permissions = names
        .iter()
        .map(|p| Pattern::parse("permissions", p))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| AuthzError::Internal(anyhow::anyhow!("stored role {name}: {e}")))?;
    Ok(Role {
        name: RoleName::from_trusted(name),
        description: column(row, "description")?,
        permissions,
        built_in: get_bool(row, "built_in")?,
    })
}

fn permissions_json(role: &Role) -> String {
    let names: Vec<String> = role.permissions.iter().map(ToString::to_string).collect();
    serde_json::Value::from(names).to_string()
}

fn assignment_from(row: &AnyRow) -> Result<Assignment> {
    let resource: String = column(row, "resource")?;
    let expires_at: Option<i64> = column(row, "expires_at")?;
    Ok(Assignment {
        user: UserId::from_trusted(column(row, "user_id")?),
        role: RoleName::from_trusted(column(row, "role")?),
        resource: (!resource.is_empty()).then(|| Resource::from_trusted(resource)),
        expires_at: expires_at.map(instant).transpose()?,
    })
}

fn resource_key(resource: Option<&Resource>) -> &str {
    resource.map(Resource::as_str).unwrap_or("")
}

/// Takes the next revision, logs the change and prunes the log, inside `tx`.
async fn next_revision(
    tx: &mut Transaction<'static, Any>,
    user: Option<&UserId>,
    now: DateTime<Utc>,
) -> Result<Revision> {
    let revision: i64 =
        sqlx::query_scalar("UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value")
            .fetch_one(&mut **tx)
            .await
            .context("taking the next revision")?;
    sqlx::query("INSERT INTO changes (revision, user_id, changed_at) VALUES ($1, $2, $3)")
        .bind(revision)
        .bind(user.map(UserId::as_str))
        .bind(micros(now))
        .execute(&mut **tx)
        .await
        .context("logging the change")?;
    sqlx::query("DELETE FROM changes WHERE revision <= $1")
        .bind(revision - CHANGES_KEPT)
        .execute(&mut **tx)
        .await
        .context("pruning the change log")?;
    Ok(Revision(revision))
}

#[async_trait::async_trait]
impl AuthzStore for SqlAuthzStore {
    async fn revision(&self) -> Result<Revision> {
        let value: i64 = sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.db.pool)
            .await
            .context("reading the revision")?;
        Ok(Revision(value))
    }

    async fn create_role(
        &self,
        role: &Role,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Revision> {
        let mut tx = self.begin().await?;
        let revision = next_revision(&mut tx, None, now).await?;
        sqlx::query(
            "INSERT INTO roles (name, description, permissions, built_in, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(role.name.as_str())
        .bind(&role.description)
        .bind(permissions_json(role))
        .bind(false)
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AuthzError::RoleExists(role.name.as_str().to_owned())
            } else {
                AuthzError::Internal(anyhow::Error::new(e).context("inserting a role"))
            }
        })?;
        self.commit(tx, revision, events).await
    }

    async fn update_role(
        &self,
        role: &Role,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>> {
        let mut tx = self.begin().await?;
        let revision = next_revision(&mut tx, None, now).await?;
        let updated = sqlx::query(
            "UPDATE roles SET description = $1, permissions = $2, updated_at = $3 \
             WHERE name = $4 AND built_in = $5",
        )
        .bind(&role.description)
        .bind(permissions_json(role))
        .bind(micros(now))
        .bind(role.name.as_str())
        .bind(false)
        .execute(&mut *tx)
        .await
        .context("updating a role")?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        self.commit(tx, revision, events).await.map(Some)
    }

    async fn delete_role(
        &self,
        name: &RoleName,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>> {
        let mut tx = self.begin().await?;
        let revision = next_revision(&mut tx, None, now).await?;
        sqlx::query("DELETE FROM assignments WHERE role = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .context("deleting a role's assignments")?;
        let deleted = sqlx::query("DELETE FROM roles WHERE name = $1 AND built_in = $2")
            .bind(name.as_str())
            .bind(false)
            .execute(&mut *tx)
            .await
            .context("deleting a role")?
            .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
        self.commit(tx, revision, events).await.map(Some)
    }

    async fn role(&self, name: &RoleName) -> Result<Option<Role>> {
        sqlx::query(&format!(
            "SELECT {} FROM roles WHERE name = $1",
            role_columns()
        ))
        .bind(name.as_str())
        .fetch_optional(&self.db.pool)
        .await
        .context("reading a role")?
        .map(|row| role_from(&row, ""))
        .transpose()
    }

    async fn roles(&self, page: &PageRequest) -> Result<Vec<Role>> {
        let after = page.after.as_ref().and_then(|a| a.first().cloned());
        let rows = sqlx::query(&format!(
            "SELECT {} FROM roles WHERE name > $1 ORDER BY name LIMIT $2",
            role_columns()
        ))
        .bind(after.unwrap_or_default())
        .bind(i64::from(page.size) + 1)
        .fetch_all(&self.db.pool)
        .await
        .context("listing roles")?;
        rows.iter().map(|row| role_from(row, "")).collect()
    }

    async fn assign(
        &self,
        a: &Assignment,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>> {
        let mut tx = self.begin().await?;
        // The revision first, in every write: the first statement takes the write lock
        // (SQLite refuses to upgrade a read transaction whose snapshot went stale).
        let revision = next_revision(&mut tx, Some(&a.user), now).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM roles WHERE name = $1")
            .bind(a.role.as_str())
            .fetch_optional(&mut *tx)
            .await
            .context("looking up the role")?;
        if exists.is_none() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO assignments (user_id, role, resource, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, role, resource) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(a.user.as_str())
        .bind(a.role.as_str())
        .bind(resource_key(a.resource.as_ref()))
        .bind(a.expires_at.map(micros))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .context("assigning a role")?;
        self.commit(tx, revision, events).await.map(Some)
    }

    async fn revoke(
        &self,
        user: &UserId,
        role: &RoleName,
        resource: Option<&Resource>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Revision> {
        let mut tx = self.begin().await?;
        let revision = next_revision(&mut tx, Some(user), now).await?;
        sqlx::query("DELETE FROM assignments WHERE user_id = $1 AND role = $2 AND resource = $3")
            .bind(user.as_str())
            .bind(role.as_str())
            .bind(resource_key(resource))
            .execute(&mut *tx)
            .await
            .context("revoking a role")?;
        self.commit(tx, revision, events).await
    }

    async fn held(&self, user: &UserId) -> Result<Vec<Held>> {
        let rows = sqlx::query(
            "SELECT a.user_id, a.role, a.resource, a.expires_at, r.name AS role_name, \
             r.description, r.permissions, \
             CAST(CASE WHEN r.built_in THEN 1 ELSE 0 END AS BIGINT) AS built_in \
             FROM assignments a JOIN roles r ON r.name = a.role WHERE a.user_id = $1",
        )
        .bind(user.as_str())
        .fetch_all(&self.db.pool)
        .await
        .with_context(|| format!("reading the assignments of {}", user.as_str()))?;
        rows.iter()
            .map(|row| {
                Ok(Held {
                    assignment: assignment_from(row)?,
                    role: role_from(row, "role_")?,
                })
            })
            .collect()
    }

    async fn holders(&self, role: &RoleName, page: &PageRequest) -> Result<Vec<Assignment>> {
        let (user, resource) = match page.after.as_deref() {
            Some([user, resource]) => (Some(user.clone()), resource.clone()),
            _ => (None, String::new()),
        };
        let rows = match user {
            None => sqlx::query(
                "SELECT user_id, role, resource, expires_at FROM assignments WHERE role = $1 \
                 ORDER BY user_id, resource LIMIT $2",
            )
            .bind(role.as_str())
            .bind(i64::from(page.size) + 1),
            Some(user) => sqlx::query(
                "SELECT user_id, role, resource, expires_at FROM assignments WHERE role = $1 \
                 AND (user_id > $2 OR (user_id = $3 AND resource > $4)) \
                 ORDER BY user_id, resource LIMIT $5",
            )
            .bind(role.as_str())
            .bind(user.clone())
            .bind(user)
            .bind(resource)
            .bind(i64::from(page.size) + 1),
        }
        .fetch_all(&self.db.pool)
        .await
        .context("listing a role's holders")?;
        rows.iter().map(assignment_from).collect()
    }

    async fn changes_since(&self, after: Revision) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT revision, user_id FROM changes WHERE revision > $1 ORDER BY revision",
        )
        .bind(after.0)
        .fetch_all(&self.db.pool)
        .await
        .context("reading the change log")?;
        rows.iter()
            .map(|row| {
                let user: Option<String> = column(row, "user_id")?;
                Ok(Change {
                    revision: Revision(column(row, "revision")?),
                    user: user.map(UserId::from_trusted),
                })
            })
            .collect()
    }
}
