//! Wiring: the one `build` that the standalone binary, the Lambda binary and the tests use.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform_database::Database;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::OwnConfig as _;
use platform_kernel::rpc::{self, ServiceRpc};
use secrecy::ExposeSecret as _;

use crate::config::{Config, IdentityConfig, mail_dir};
use crate::domain::PasswordHasher;
use crate::mail::{FileMailer, SmtpMailer};
use crate::peers::{AuthSessions, AuthzPermissions};
use crate::ports::Mailer;
use crate::service::{IdentityService, Ports};
use crate::store::{MIGRATIONS, SqlUserStore};

pub const SERVICE_NAME: &str = "platform.identity.v1.IdentityService";

/// The built service: its router and the core behind it.
pub struct App {
    pub router: Router,
    pub service: Arc<IdentityService>,
    pub database: Database,
}

/// Opens the database (running migrations), chooses the mailer, and composes the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let (base, own) = (&config.base, &config.own);
    let database = Database::open(
        &base.database,
        &base.data_dir,
        IdentityConfig::SERVICE,
        &MIGRATIONS,
    )
    .await
    .context("identity database")?;
    let from = own
        .mail
        .from
        .parse()
        .context("mail.from is not a mailbox")?;
    let mailer: Arc<dyn Mailer> = match &own.mail.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url.expose_secret(), from)?),
        None => {
            let dir = mail_dir(config);
            tracing::info!(mail_dir = %dir.display(), "mails go to files (no mail.smtp_url)");
            Arc::new(FileMailer::new(dir, from)?)
        }
    };
    let (clients, verifier) = platform_clients::credentials::for_service(
        base,
        IdentityConfig::SERVICE,
        own.clients.clone(),
    )?;
    let hasher = PasswordHasher::new(own.password_hash)?;
    let (jobs, queued) = crate::jobs::JobQueue::new();
    // The outbox goes to Kafka, or (the embedded default) straight to the audit service.
    let relay = platform_events::relay::start(&database, &base.kafka, clients.audit())?;
    let service = Arc::new(IdentityService::new(
        Ports {
            store: Arc::new(SqlUserStore::new(database.clone()).waking(relay.clone())),
            mailer,
            clock: Arc::new(SystemClock),
            permissions: Arc::new(AuthzPermissions(clients.authz())),
            sessions: Arc::new(AuthSessions(clients.auth())),
            jobs: Arc::new(jobs),
        },
        hasher,
        own.settings(),
    ));
    crate::jobs::spawn_worker(&service, queued);
    spawn_bootstrap_admin(&service);
    let (connect, grpc) = crate::api::rpc(service.clone());
    let router = rpc::router(
        ServiceRpc {
            name: &[SERVICE_NAME],
            connect,
            grpc,
            extra: crate::pages::routes(service.clone()),
            verifier: Arc::new(verifier),
        },
        // Ready once its database and the modules its manifest depends on answer.
        platform_loader::readiness(
            database.clone(),
            &platform_loader::core_manifest("identity")?,
            &base.discovery,
        )?,
        &base.server,
    );
    Ok(App {
        router,
        service,
        database,
    })
}

/// Until it succeeds: the bootstrap administrator gets `admin` (if set, and verified).
fn spawn_bootstrap_admin(service: &Arc<IdentityService>) {
    let weak = Arc::downgrade(service);
    tokio::spawn(async move {
        loop {
            let Some(service) = weak.upgrade() else {
                return;
            };
            match service.bootstrap_admin().await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "assigning the bootstrap administrator; retrying");
                }
            }
            drop(service);
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
}
