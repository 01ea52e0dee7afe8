//! The SQL adapter of [`crate::ports::AuditStore`], on PostgreSQL or SQLite.

mod sql;

pub use sql::SqlAuditStore;

/// The audit service's migrations, embedded in the binary and run at start-up.
pub static MIGRATIONS: platform_database::Migrations = platform_database::Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// The SQL is portable (see `platform_database`), so both backends share one set of
/// migrations; the two slots let them diverge if a migration ever has to.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
