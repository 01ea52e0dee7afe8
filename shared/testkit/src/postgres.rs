//! A fresh database per test on the PostgreSQL server named by `TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`, the CI server with trust auth).
//! Databases are named `test_<prefix>_<uuid>` and dropped by [`TestDatabase::drop`];
//! `.ci/run` also removes any left behind by a failed run.

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection};

pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        let admin = admin_url();
        let name = format!("test_{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {admin} (TEST_POSTGRES_URL)"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await.ok();
        let (base, _) = admin
            .rsplit_once('/')
            .context("TEST_POSTGRES_URL has no database path")?;
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database (after the pool using it is closed).
    pub async fn drop(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&admin_url()).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}
