//! The store adapters of the auth ports: SQL (PostgreSQL or SQLite) for everything, and
//! Redis in front of it for the deny list and login counters when configured
//! ([`SharedState`]).

mod redis;
mod shared;
mod sql;
mod sql_attempts;
mod sql_mfa;

pub use redis::RedisState;
pub use shared::SharedState;
pub use sql::SqlAuthStore;

pub static MIGRATIONS: platform_database::Migrations = platform_database::Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// The SQL is portable (see `platform_database`), so both backends share one set
/// of migrations; the two slots let them diverge if a migration ever has to.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
