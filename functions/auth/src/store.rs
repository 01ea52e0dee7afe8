//! The SQL adapter of the auth ports, on PostgreSQL or SQLite.

mod sql;

pub use sql::SqlAuthStore;

pub static MIGRATIONS: platform_kernel::database::Migrations =
    platform_kernel::database::Migrations {
        postgres: &POSTGRES,
        sqlite: &SQLITE,
    };

static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
