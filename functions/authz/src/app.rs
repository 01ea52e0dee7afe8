//! Wiring: the one `build` that the standalone binary, the Lambda binary and the tests use.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform_database::Database;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::OwnConfig as _;
use platform_kernel::rpc::{self, ServiceRpc};

use crate::config::{AuthzConfig, Config};
use crate::domain::Catalogue;
use crate::service::{AuthzService, Ports};
use crate::store::{MIGRATIONS, RedisGrants, SqlAuthzStore};

pub const SERVICE_NAME: &str = "platform.authz.v1.AuthzService";

/// The built service: its router and the core behind it.
pub struct App {
    pub router: Router,
    pub service: Arc<AuthzService>,
    pub database: Database,
    /// Following authz's events on the bus, where Kafka is configured (abort it to leave).
    pub follower: Option<tokio::task::JoinHandle<()>>,
}

/// The permissions every module declares: the core's (built in) and `features'`.
pub fn catalogue(features: &[platform_modules::Manifest]) -> Catalogue {
    Catalogue::new(
        platform_clients::permissions::catalogue()
            .map(|p| (p.name, p.description))
            .chain(features.iter().flat_map(|m| {
                m.permissions
                    .iter()
                    .map(|p| (p.name.as_str(), p.description.as_str()))
            })),
    )
}

/// Opens the database (running migrations), composes the router, and starts the sync that
/// keeps the cache in step with the other instances.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let base = &config.base;
    // Feature modules' permissions join the catalogue (`PLATFORM_MODULES`).
    let features = platform_modules::load_features(
        &base.modules.0,
        platform_clients::method::manifests::MANIFESTS,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let database = Database::open(
        &base.database,
        &base.data_dir,
        AuthzConfig::SERVICE,
        &MIGRATIONS,
    )
    .await
    .context("authz database")?;
    let (clients, verifier) = platform_clients::credentials::for_service(
        base,
        AuthzConfig::SERVICE,
        config.own.clients.clone(),
    )?;
    // The outbox goes to Kafka, or (the embedded default) straight to the audit service.
    let relay = platform_events::relay::start(&database, &base.kafka, clients.audit())?;
    let service = Arc::new(
        AuthzService::new(
            Ports {
                store: Arc::new(SqlAuthzStore::new(database.clone()).waking(relay.clone())),
                clock: Arc::new(SystemClock),
                shared: match &base.redis.url {
                    Some(url) => Some(Arc::new(RedisGrants::connect(
                        secrecy::ExposeSecret::expose_secret(url),
                        &base.redis.key_prefix,
                        config.own.settings().cache_ttl,
                    )?)
                        as Arc<dyn crate::ports::SharedGrants>),
                    None => None,
                },
            },
            catalogue(&features),
            config.own.settings(),
        )
        .await
        .context("reading the authz revision")?,
    );
    // Where Kafka is configured, authz's own events on the bus wake every instance's sync
    // at once (a change made elsewhere applies in milliseconds); the interval stays as the
    // backstop, and is all there is on the embedded default.
    let wake = Arc::new(tokio::sync::Notify::new());
    let follower = match &base.kafka.brokers {
        Some(brokers) => Some(platform_follow::spawn_follower(
            brokers,
            &base.kafka.settings,
            "authz-cache",
            &["platform.authz.events"],
            &CHANGE_EVENTS,
            wake.clone(),
        )?),
        None => None,
    };
    spawn_sync(&service, wake);
    let (connect, grpc) = crate::api::rpc(service.clone());
    let router = rpc::router(
        ServiceRpc {
            name: &[SERVICE_NAME],
            connect,
            grpc,
            extra: Router::new(),
            verifier: Arc::new(verifier),
        },
        Arc::new(database.clone()),
        &base.server,
    );
    Ok(App {
        router,
        service,
        database,
        follower,
    })
}

/// The events of authz's that follow a change to someone's grants.
pub const CHANGE_EVENTS: [&str; 5] = [
    "role.created",
    "role.updated",
    "role.deleted",
    "role.assigned",
    "role.revoked",
];

/// Reads the change log every sync interval, and whenever `wake` is notified, for the life
/// of the service.
fn spawn_sync(service: &Arc<AuthzService>, wake: Arc<tokio::sync::Notify>) {
    let weak = Arc::downgrade(service);
    let every = service.settings().sync_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = wake.notified() => {}
            }
            let Some(service) = weak.upgrade() else {
                return;
            };
            if let Err(e) = service.sync().await {
                tracing::warn!(error = %format!("{e:#}"), "reading the authz change log failed");
            }
        }
    });
}
