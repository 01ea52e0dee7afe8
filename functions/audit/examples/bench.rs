//! The audit log's throughput, on demand (not a test): records ingested per second through
//! the core (validation, batching, hashing, one transaction per batch) next to the batched
//! insert rate of the same database measured in the same run, and VerifyChain records/s.
//!
//! `cargo run --release -p audit --example bench -- [records] [writers] [postgres-url]`
//! (SQLite in a temporary directory unless a PostgreSQL URL is given).

use std::sync::Arc;
use std::time::Instant;

use audit::domain::{Entry, Outcome};
use audit::ports::Permissions;
use audit::service::{AuditService, Ports, Settings};
use audit::store::{MIGRATIONS, SqlAuditStore};
use platform_database::Database;
use platform_kernel::caller::Caller;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::DatabaseConfig;

struct NoOne;

#[async_trait::async_trait]
impl Permissions for NoOne {
    async fn allowed(&self, _: &str, _: &str) -> audit::error::Result<bool> {
        Ok(false)
    }
}

fn entry(n: usize) -> Entry {
    Entry {
        id: String::new(),
        actor: format!("01a20000-0000-7000-8000-{n:012}"),
        action: "user.updated".into(),
        resource: format!("identity/users/{n}"),
        outcome: Outcome::Success,
        reason: String::new(),
        client_ip: "203.0.113.9".into(),
        user_agent: "bench".into(),
        request_id: format!("req-{n}"),
        metadata: serde_json::json!({"field": "display_name"}),
    }
}

/// Rows/s of plain multi-row INSERTs (500 a statement, one transaction each) of rows of the
/// same shape: what the database can take, without the chain.
async fn baseline(db: &Database, rows: usize) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE bench_rows (sequence BIGINT PRIMARY KEY, id TEXT, occurred_at BIGINT, \
         actor TEXT, action TEXT, resource TEXT, outcome TEXT, reason TEXT, client_ip TEXT, \
         user_agent TEXT, request_id TEXT, metadata TEXT, previous_hash TEXT, hash TEXT)",
    )
    .execute(&db.pool)
    .await?;
    // The same indexes as the log's own table: the same work per row for the database.
    for index in [
        "CREATE UNIQUE INDEX bench_rows_id ON bench_rows (id)",
        "CREATE INDEX bench_rows_actor ON bench_rows (actor, sequence)",
        "CREATE INDEX bench_rows_action ON bench_rows (action, sequence)",
        "CREATE INDEX bench_rows_resource ON bench_rows (resource, sequence)",
        "CREATE INDEX bench_rows_time ON bench_rows (occurred_at)",
    ] {
        sqlx::query(index).execute(&db.pool).await?;
    }
    let started = Instant::now();
    let mut next = 0usize;
    while next < rows {
        let batch = (rows - next).min(500);
        let values: Vec<String> = (0..batch)
            .map(|i| {
                let base = i * 14;
                format!(
                    "({})",
                    (1..=14)
                        .map(|c| format!("${}", base + c))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let sql = format!("INSERT INTO bench_rows VALUES {}", values.join(", "));
        let mut query = sqlx::query(&sql);
        for i in 0..batch {
            let n = (next + i) as i64;
            query = query
                .bind(n)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(n)
                .bind(format!("01a20000-0000-7000-8000-{n:012}"))
                .bind("user.updated")
                .bind(format!("identity/users/{n}"))
                .bind("success")
                .bind("")
                .bind("203.0.113.9")
                .bind("bench")
                .bind(format!("req-{n}"))
                .bind(r#"{"field":"display_name"}"#)
                .bind("0".repeat(64))
                .bind("0".repeat(64));
        }
        let mut tx = db.pool.begin().await?;
        query.execute(&mut *tx).await?;
        tx.commit().await?;
        next += batch;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// An empty log (a PostgreSQL schema outlives the run), as a fresh table is.
async fn empty_log(db: &Database) -> anyhow::Result<()> {
    let empty = match db.backend {
        platform_database::Backend::Postgres => "TRUNCATE audit_records",
        platform_database::Backend::Sqlite => "DELETE FROM audit_records",
    };
    for reset in [
        empty,
        "UPDATE audit_head SET sequence = 0, \
         hash = '0000000000000000000000000000000000000000000000000000000000000000' WHERE id = 1",
    ] {
        sqlx::query(reset).execute(&db.pool).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let records: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let writers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir()?;
    let config = DatabaseConfig {
        url: args.get(2).map(|u| u.clone().into()),
        ..DatabaseConfig::default()
    };
    let db = Database::open(&config, dir.path(), "audit_bench", &MIGRATIONS).await?;
    sqlx::query("DROP TABLE IF EXISTS bench_rows")
        .execute(&db.pool)
        .await?;
    empty_log(&db).await?;
    let backend = format!("{:?}", db.backend);

    let insert_rate = baseline(&db, records).await?;

    // The store alone, 500 records a call (what the appender does under full load).
    let store = SqlAuditStore::new(db.clone());
    let started = Instant::now();
    let mut stored = 0usize;
    while stored < records {
        let batch: Vec<audit::domain::ChainRecord> = (0..500.min(records - stored))
            .map(|i| {
                let e = entry(stored + i);
                audit::domain::ChainRecord {
                    sequence: 0,
                    id: uuid::Uuid::now_v7().to_string(),
                    occurred_at_us: 0,
                    actor: e.actor,
                    action: e.action,
                    resource: e.resource,
                    outcome: "success".into(),
                    reason: e.reason,
                    client_ip: e.client_ip,
                    user_agent: e.user_agent,
                    request_id: e.request_id,
                    metadata: e.metadata,
                    previous_hash: String::new(),
                    hash: String::new(),
                }
            })
            .collect();
        stored += batch.len();
        audit::ports::AuditStore::append(&store, batch).await?;
    }
    let store_rate = stored as f64 / started.elapsed().as_secs_f64();

    // Each phase starts from an empty log, as the baseline starts from an empty table.
    empty_log(&db).await?;
    let service = Arc::new(AuditService::new(
        Ports {
            store: Arc::new(SqlAuditStore::new(db.clone())),
            permissions: Arc::new(NoOne),
            clock: Arc::new(SystemClock),
        },
        &Settings::default(),
    ));
    let started = Instant::now();
    let per_writer = records / writers;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let service = service.clone();
            tokio::spawn(async move {
                let caller = Caller::service("identity");
                for i in 0..per_writer {
                    service
                        .record(&caller, entry(w * per_writer + i))
                        .await
                        .expect("recorded");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let ingested = (per_writer * writers) as f64;
    let ingest_rate = ingested / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let check = service
        .verify_chain(&Caller::service("platformctl"), 0, 1_000_000)
        .await?;
    let verify_rate = check.checked as f64 / started.elapsed().as_secs_f64();
    assert!(check.broken.is_none());

    println!("backend {backend}, {records} records, {writers} concurrent writers");
    println!("batched INSERT, same table shape and indexes, no chain: {insert_rate:>10.0} rows/s");
    println!(
        "the store's append, 500 a call (chained):         {store_rate:>10.0} records/s = {:.0}% of it",
        100.0 * store_rate / insert_rate
    );
    println!(
        "Record through the core (batched, chained):        {ingest_rate:>10.0} records/s = {:.0}% of the batched INSERT rate",
        100.0 * ingest_rate / insert_rate
    );
    println!(
        "VerifyChain:                                       {verify_rate:>10.0} records/s ({} checked)",
        check.checked
    );
    db.pool.close().await;
    Ok(())
}
