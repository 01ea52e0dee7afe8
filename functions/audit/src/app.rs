//! Wiring: the one `build` that the standalone binary, the Lambda binary and the tests use,
//! and the commands of `audit-service` that need only the database and the checkpoints.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform_audit_chain::{ChainRecord, verify_against_checkpoints};
use platform_database::Database;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::OwnConfig as _;
use platform_kernel::rpc::{self, ServiceRpc};

use crate::checkpoints::{self, CheckpointWriter};
use crate::config::{AuditConfig, Config};
use crate::peers::AuthzPermissions;
use crate::ports::AuditStore as _;
use crate::service::{AuditService, Ports};
use crate::store::{MIGRATIONS, SqlAuditStore};

pub const SERVICE_NAME: &str = "platform.audit.v1.AuditService";

pub struct App {
    pub router: Router,
    pub service: Arc<AuditService>,
    pub database: Database,
    /// The bus consumer, with Kafka configured (abort it to leave the group).
    pub consumer: Option<tokio::task::JoinHandle<()>>,
}

async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let base = &config.base;
    Database::open(
        &base.database,
        &base.data_dir,
        AuditConfig::SERVICE,
        &MIGRATIONS,
    )
    .await
    .context("audit database")
}

/// Opens the database (running migrations), starts the appender and the checkpoint
/// writer, and composes the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let base = &config.base;
    let database = open_database(config).await?;
    let (clients, verifier) = platform_clients::credentials::for_service(
        base,
        AuditConfig::SERVICE,
        config.own.clients.clone(),
    )?;
    let service = Arc::new(AuditService::new(
        Ports {
            store: Arc::new(SqlAuditStore::new(database.clone())),
            permissions: Arc::new(AuthzPermissions(clients.authz())),
            clock: Arc::new(SystemClock),
        },
        &config.own.settings(),
    ));
    let consumer = match &base.kafka.brokers {
        Some(brokers) => Some(platform_events::kafka::spawn_consumer(
            brokers,
            &base.kafka.settings,
            AuditConfig::SERVICE,
            &crate::consumer::TOPICS,
            Arc::new(crate::consumer::RecordEvents(service.clone())),
        )?),
        None => None,
    };
    if config.own.checkpoints.enabled {
        let writer =
            CheckpointWriter::new(checkpoints::dir(config), checkpoints::signing_key(config)?)?;
        checkpoints::spawn(
            service.clone(),
            writer,
            config.own.checkpoints.every_records,
            config.own.checkpoints.every(),
        );
    }
    let (connect, grpc) = crate::api::rpc(service.clone());
    let router = rpc::router(
        ServiceRpc {
            name: &[SERVICE_NAME],
            connect,
            grpc,
            extra: Router::new(),
            verifier: Arc::new(verifier),
        },
        // Ready once its database and the modules its manifest depends on answer.
        platform_loader::readiness(
            database.clone(),
            &platform_loader::core_manifest("audit")?,
            &base.discovery,
        )?,
        &base.server,
    );
    Ok(App {
        router,
        service,
        database,
        consumer,
    })
}

/// Every record, oldest first, from the database alone.
async fn all_records(config: &Config) -> anyhow::Result<Vec<ChainRecord>> {
    let store = SqlAuditStore::new(open_database(config).await?);
    let mut all = Vec::new();
    loop {
        let next = all.len() as i64 + 1;
        let page = store.range(next, 10_000).await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// `audit-service export`: the log as JSON lines (what `platformctl audit verify` checks).
pub async fn export(config: &Config, out: &mut dyn std::io::Write) -> anyhow::Result<u64> {
    let records = all_records(config).await?;
    for record in &records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(records.len() as u64)
}

/// `audit-service verify`: the database against the checkpoints and the keys published
/// beside them.
pub async fn verify(config: &Config) -> anyhow::Result<platform_audit_chain::Report> {
    let records = all_records(config).await?;
    let dir = checkpoints::dir(config);
    let marks = platform_audit_chain::read_checkpoints(&dir)?;
    let keys = platform_audit_chain::read_published_keys(&dir)?;
    Ok(verify_against_checkpoints(&records, &marks, &|id| {
        keys.iter().find(|k| k.key_id() == id).cloned()
    }))
}

/// Prints a report the way both commands do; whether it was clean.
pub fn print_report(report: &platform_audit_chain::Report) -> bool {
    let mut out = std::io::stdout();
    let _ = match &report.problem {
        None => writeln!(
            out,
            "audit log intact: {} records, {} checkpoints verified",
            report.records, report.checkpoints
        ),
        Some(problem) => writeln!(out, "audit log NOT intact: {problem}"),
    };
    report.ok()
}
