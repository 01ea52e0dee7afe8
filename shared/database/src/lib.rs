#![doc = include_str!("../README.md")]

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection as _, Row as _};

use platform_kernel::config::DatabaseConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct Database {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// The migrations of one service, one set per backend.
pub struct Migrations {
    pub postgres: &'static Migrator,
    pub sqlite: &'static Migrator,
}

impl Database {
    /// Connects (creating the schema or file), then runs the service's migrations.
    pub async fn open(
        config: &DatabaseConfig,
        data_dir: &Path,
        schema: &'static str,
        migrations: &Migrations,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let url = match &config.url {
            Some(url) => url.expose_secret().to_owned(),
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating data dir {}", data_dir.display()))?;
                let file = data_dir.join(format!("{schema}.db"));
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("database.url (DATABASE_URL) must start with postgres:// or sqlite:");
        };
        if backend == Backend::Postgres {
            let mut conn = sqlx::AnyConnection::connect(&url)
                .await
                .context("connecting to PostgreSQL (DATABASE_URL)")?;
            // A schema made beforehand (infra/postgres/init.sql: owned by the service's own
            // role, which may not create schemas) is used as it is.
            let exists = sqlx::query("SELECT 1 AS one FROM pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await
                .with_context(|| format!("looking for schema {schema}"))?
                .is_some();
            if !exists {
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("creating schema {schema}"))?;
            }
            conn.close().await.ok();
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Postgres => config.max_connections,
                // One writer at a time anyway; a few readers in WAL mode.
                Backend::Sqlite => config.max_connections.clamp(1, 4),
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    let setup: &[&str] = match backend {
                        Backend::Postgres => &[],
                        Backend::Sqlite => &[
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA busy_timeout = 5000",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA synchronous = NORMAL",
                        ],
                    };
                    if backend == Backend::Postgres {
                        sqlx::query(&format!("SET search_path TO {schema}"))
                            .execute(&mut *conn)
                            .await?;
                    }
                    for statement in setup {
                        sqlx::query(statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("opening the {schema} database"))?;
        let migrator = match backend {
            Backend::Postgres => migrations.postgres,
            Backend::Sqlite => migrations.sqlite,
        };
        migrator
            .run(&pool)
            .await
            .with_context(|| format!("running {schema} migrations"))?;
        Ok(Self { pool, backend })
    }

    /// Readiness: can we run a query?
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database ping")?;
        Ok(())
    }
}

/// The select-list expression for a BOOLEAN column, as a BIGINT 0/1 under its own name.
pub fn bool_column(name: &str) -> String {
    format!("CAST(CASE WHEN {name} THEN 1 ELSE 0 END AS BIGINT) AS {name}")
}

#[async_trait::async_trait]
impl platform_kernel::health::Readiness for Database {
    async fn check(&self) -> Result<(), String> {
        self.ping()
            .await
            .map_err(|_| "database unreachable".to_owned())
    }
}

/// Reads a column, naming it in the error (a store's errors say what they were reading).
pub fn column<'r, T>(row: &'r AnyRow, name: &str) -> anyhow::Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
        .with_context(|| format!("reading column {name}"))
}

/// Reads a column selected with [`bool_column`].
pub fn get_bool(row: &AnyRow, name: &str) -> anyhow::Result<bool> {
    Ok(column::<i64>(row, name)? != 0)
}

/// Whether an error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
