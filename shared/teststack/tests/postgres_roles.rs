//! `infra/postgres/init.sql` (what docker-compose's PostgreSQL runs once) against this
//! machine's PostgreSQL: each service connects as its own role and runs its own migrations
//! in its own schema; that role is refused every other service's schema, `public`, and
//! making schemas of its own.

use platform_database::{Database, Migrations};
use platform_kernel::config::DatabaseConfig;
use platform_testkit::postgres::TestDatabase;

/// `url` with its user (and password) replaced by `role:role`.
fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}:{role}@{host}")
}

fn migrations(service: &str) -> &'static Migrations {
    match service {
        "identity" => &identity::store::MIGRATIONS,
        "auth" => &auth::store::MIGRATIONS,
        "authz" => &authz::store::MIGRATIONS,
        _ => &audit::store::MIGRATIONS,
    }
}

#[tokio::test]
async fn each_service_role_keeps_to_its_own_schema() {
    let db = TestDatabase::create("roles").await.expect("postgres");
    let script = std::fs::read_to_string(
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("../../infra/postgres/init.sql"),
    )
    .expect("init.sql");
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect as the owner");
    // Twice: it can be run again.
    for _ in 0..2 {
        sqlx::raw_sql(&script)
            .execute(&mut admin)
            .await
            .expect("init.sql runs");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let services = ["identity", "auth", "authz", "audit"];
    for service in services {
        let url = as_role(&db.url, service);
        // Its own migrations, in its own schema, as its own role.
        let opened = Database::open(
            &DatabaseConfig {
                url: Some(url.clone().into()),
                ..DatabaseConfig::default()
            },
            dir.path(),
            service,
            migrations(service),
        )
        .await
        .unwrap_or_else(|e| panic!("{service} runs its migrations as its role: {e:#}"));
        opened.pool.close().await;
    }
    for service in services {
        let url = as_role(&db.url, service);
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect as the role");
        for other in services.iter().filter(|o| **o != service) {
            for statement in [
                format!("SELECT count(*) FROM {other}._sqlx_migrations"),
                format!("CREATE TABLE {other}.intruder (x int)"),
            ] {
                let refused = sqlx::query(&statement).execute(&mut conn).await;
                let message = format!("{refused:?}");
                assert!(
                    message.contains("permission denied"),
                    "{service}: {statement}: {message}"
                );
            }
        }
        for statement in [
            "CREATE SCHEMA elsewhere".to_owned(),
            "CREATE TABLE public.intruder (x int)".to_owned(),
            "CREATE TEMPORARY TABLE scratch (x int)".to_owned(),
        ] {
            let refused = sqlx::query(&statement).execute(&mut conn).await;
            let message = format!("{refused:?}");
            assert!(
                message.contains("permission denied"),
                "{service}: {statement}: {message}"
            );
        }
        // Its own schema: its tables, and it may make more.
        sqlx::query(&format!("SELECT count(*) FROM {service}._sqlx_migrations"))
            .execute(&mut conn)
            .await
            .expect("its own");
    }
    drop(admin);
    db.drop().await.expect("drop");
}
