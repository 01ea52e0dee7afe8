//! Wiring: the one `build` that the standalone binary, the Lambda binary and the tests use.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use chrono::Duration;
use platform_kernel::database::Database;
use platform_kernel::rpc::{self, ServiceRpc};
use secrecy::ExposeSecret as _;

use crate::config::IdentityConfig;
use crate::domain::PasswordHasher;
use crate::mail::{FileMailer, SmtpMailer};
use crate::ports::{DomainEvent, EventSink, Mailer, SystemClock};
use crate::service::{IdentityService, Ports, Settings};
use crate::store::{MIGRATIONS, SqlUserStore};

pub const SERVICE_NAME: &str = "platform.identity.v1.IdentityService";

/// The built service: its router and the core behind it.
pub struct App {
    pub router: Router,
    pub service: Arc<IdentityService>,
    pub database: Database,
}

/// Opens the database (running migrations), chooses the mailer, and composes the router.
pub async fn build(config: &IdentityConfig) -> anyhow::Result<App> {
    let database = Database::open(&config.database, &config.data_dir, "identity", &MIGRATIONS)
        .await
        .context("identity database")?;
    let from = config
        .mail
        .from
        .parse()
        .context("mail.from is not a mailbox")?;
    let mailer: Arc<dyn Mailer> = match &config.mail.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url.expose_secret(), from)?),
        None => Arc::new(FileMailer::new(config.mail_dir(), from)?),
    };
    let hasher = PasswordHasher::new(config.password_hash)?;
    let service = Arc::new(IdentityService::new(
        Ports {
            store: Arc::new(SqlUserStore::new(database.clone())),
            mailer,
            events: Arc::new(LogEvents),
            clock: Arc::new(SystemClock),
        },
        hasher,
        Settings {
            verification_ttl: seconds(config.tokens.verification_ttl_secs),
            reset_ttl: seconds(config.tokens.reset_ttl_secs),
            public_url: config.mail.public_url.clone(),
        },
    ));
    let (connect, grpc) = crate::api::rpc(service.clone());
    let router = rpc::router(
        ServiceRpc {
            name: &[SERVICE_NAME],
            connect,
            grpc,
            extra: Router::new(),
        },
        Arc::new(database.clone()),
        &config.server,
    );
    Ok(App {
        router,
        service,
        database,
    })
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// Until the event bus arrives, domain events go to the log (target `events`).
struct LogEvents;

#[async_trait::async_trait]
impl EventSink for LogEvents {
    async fn publish(&self, event: DomainEvent) -> anyhow::Result<()> {
        tracing::info!(
            target: "events",
            id = %event.id,
            kind = event.kind,
            subject = %event.subject,
            occurred_at = %event.occurred_at,
            "domain event"
        );
        Ok(())
    }
}
