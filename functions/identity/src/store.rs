//! The SQL adapter of [`crate::ports::UserStore`], on PostgreSQL or SQLite.

mod sql;

pub use sql::SqlUserStore;

/// The identity service's migrations, embedded in the binary and run at start-up.
pub static MIGRATIONS: platform_kernel::database::Migrations =
    platform_kernel::database::Migrations {
        postgres: &POSTGRES,
        sqlite: &SQLITE,
    };

static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
