//! The store adapters of the auth ports: SQL (PostgreSQL or SQLite) for everything, and
//! Redis for the deny list and login counters when configured.

mod redis;
mod sql;

pub use redis::RedisState;
pub use sql::SqlAuthStore;

pub static MIGRATIONS: platform_kernel::database::Migrations =
    platform_kernel::database::Migrations {
        postgres: &POSTGRES,
        sqlite: &SQLITE,
    };

static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
