//! The authz service for `bench/checks.sh`: a real authz server (the production server and
//! router) over a SQLite database (or `DATABASE_URL`) loaded with 100,000 users, 10,000 roles
//! and 1,000,000 assignments, and a JWKS issuer for the callers' tokens. Prints `ADDR=` and
//! `TOKEN=` (a service token, as a service asking authz would hold), then serves until
//! killed. Run on demand, in release mode.

use std::time::Instant;

use platform_testkit::issuer::TestIssuer;
use platform_testkit::server::{Served, service_config};

const USERS: i64 = 100_000;
const ROLES: i64 = 10_000;
const ASSIGNMENTS: i64 = 1_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = TestIssuer::start().await;
    let dir = tempfile::tempdir()?;
    let mut config = service_config::<authz::AuthzConfig>(dir.path());
    if let Ok(url) = std::env::var("DATABASE_URL") {
        config.base.database.url = Some(url.into());
    }
    config
        .base
        .discovery
        .static_instances
        .insert("auth".into(), vec![issuer.url()]);
    let app = authz::build(&config).await?;
    let started = Instant::now();
    seed(&app.database).await?;
    eprintln!(
        "seeded {USERS} users, {ROLES} roles, {ASSIGNMENTS} assignments in {:?}",
        started.elapsed()
    );
    let server = Served::start(app.router.clone()).await;
    println!("ADDR={}", server.addr);
    println!("TOKEN={}", issuer.service("gateway"));
    println!("READY");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Roles `role-<n>` with three permissions each; user `user-<u>` holds ten of them, two
/// scoped to `org:<u % 100>`. Generated in SQL (a recursive CTE runs on both backends).
async fn seed(db: &platform_database::Database) -> anyhow::Result<()> {
    let permissions = r#"["identity.users.read","auth.*","authz.roles.read"]"#;
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROLES}) \
         INSERT INTO roles (name, description, permissions, built_in, created_at, updated_at) \
         SELECT 'role-' || CAST(i - 1 AS TEXT), '', '{permissions}', FALSE, 0, 0 FROM n"
    ))
    .execute(&db.pool)
    .await?;
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO assignments (user_id, role, resource, expires_at, created_at) \
         SELECT 'user-' || CAST(i % {USERS} AS TEXT), \
                'role-' || CAST((13 * (i % {USERS}) + 37 * (i / {USERS})) % {ROLES} AS TEXT), \
                CASE WHEN i / {USERS} < 8 THEN '' ELSE 'org:' || CAST(i % 100 AS TEXT) END, \
                NULL, 0 FROM n",
        last = ASSIGNMENTS - 1
    ))
    .execute(&db.pool)
    .await?;
    Ok(())
}
