//! The SQL adapter of [`crate::ports::ItemStore`], on PostgreSQL (schema `catalog`) or
//! SQLite: one set of portable SQL.

use anyhow::Context as _;
use platform_database::{Database, column};
use sqlx::any::AnyRow;

use crate::domain::Item;
use crate::error::Result;
use crate::ports::ItemStore;

/// The migrations, embedded in the binary and run at start-up.
pub static MIGRATIONS: platform_database::Migrations = platform_database::Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub struct SqlItemStore(pub Database);

fn item_from(row: &AnyRow) -> Result<Item> {
    Ok(Item {
        id: column(row, "id")?,
        name: column(row, "name")?,
        owner_id: column(row, "owner_id")?,
        created_at_us: column(row, "created_at")?,
    })
}

#[async_trait::async_trait]
impl ItemStore for SqlItemStore {
    async fn insert(&self, item: &Item) -> Result<()> {
        sqlx::query("INSERT INTO items (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&item.id)
            .bind(&item.owner_id)
            .bind(&item.name)
            .bind(item.created_at_us)
            .execute(&self.0.pool)
            .await
            .with_context(|| format!("storing item {}", item.id))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Item>> {
        let row = sqlx::query("SELECT id, owner_id, name, created_at FROM items WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await
            .with_context(|| format!("reading item {id}"))?;
        row.as_ref().map(item_from).transpose()
    }

    async fn list(&self, before: Option<&str>, limit: u32) -> Result<Vec<Item>> {
        let rows = sqlx::query(
            "SELECT id, owner_id, name, created_at FROM items \
             WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.0.pool)
        .await
        .context("listing items")?;
        rows.iter().map(item_from).collect()
    }
}
