//! A service's database for one test, on either backend: a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL database (see [`crate::postgres`]), migrated.
//! [`on_both_backends!`](crate::on_both_backends) runs one test body on each.

use platform_database::{Database, Migrations};
use platform_kernel::config::DatabaseConfig;

use crate::postgres::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestStore {
    pub db: Database,
    pg: Option<TestDatabase>,
    _dir: TempDir,
}

/// A directory removed on drop (without a dependency on `tempfile` here).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestStore {
    pub async fn open(backend: Backend, schema: &'static str, migrations: &Migrations) -> Self {
        let dir = std::env::temp_dir().join(format!("test-{schema}-{}", uuid::Uuid::now_v7()));
        let pg = match backend {
            Backend::Postgres => Some(TestDatabase::create(schema).await.expect("postgres")),
            Backend::Sqlite => None,
        };
        let config = DatabaseConfig {
            url: pg.as_ref().map(|p| p.url.clone().into()),
            ..DatabaseConfig::default()
        };
        let db = Database::open(&config, &dir, schema, migrations)
            .await
            .expect("the test database opens");
        Self {
            db,
            pg,
            _dir: TempDir(dir),
        }
    }

    /// Closes the pool and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.db.pool.close().await;
        if let Some(pg) = self.pg {
            pg.drop().await.expect("drop test database");
        }
    }
}

/// Runs `$body(&Database)` (a function beside the call, as is `$migrations`) once on SQLite and once on PostgreSQL, as tests
/// `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $schema:literal, $migrations:ident, $body:ident) => {
        mod $name {
            use $crate::database::{Backend, TestStore};

            #[tokio::test]
            async fn sqlite() {
                let store = TestStore::open(Backend::Sqlite, $schema, &super::$migrations).await;
                super::$body(&store.db).await;
                store.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let store = TestStore::open(Backend::Postgres, $schema, &super::$migrations).await;
                super::$body(&store.db).await;
                store.finish().await;
            }
        }
    };
}
