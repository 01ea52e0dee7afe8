//! Wiring: the one `build` that the standalone binary, the Lambda binary and the tests use.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform_database::Database;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::OwnConfig as _;
use platform_kernel::rpc::{self, ServiceRpc};

use crate::config::{CatalogConfig, Config};
use crate::peers::AuthzPermissions;
use crate::service::{CatalogService, Ports};
use crate::store::{MIGRATIONS, SqlItemStore};

pub const SERVICE_NAME: &str = "platform.catalog.v1.CatalogService";

pub struct App {
    pub router: Router,
    pub service: Arc<CatalogService>,
    pub database: Database,
}

/// Opens the database (running migrations) and composes the router.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let base = &config.base;
    let database = Database::open(
        &base.database,
        &base.data_dir,
        CatalogConfig::SERVICE,
        &MIGRATIONS,
    )
    .await
    .context("catalog database")?;
    let (clients, verifier) = platform_clients::credentials::for_service(
        base,
        CatalogConfig::SERVICE,
        platform_clients::ClientsConfig::default(),
    )?;
    let service = Arc::new(CatalogService::new(Ports {
        store: Arc::new(SqlItemStore(database.clone())),
        permissions: Arc::new(AuthzPermissions(clients.authz())),
        clock: Arc::new(SystemClock),
    }));
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
    })
}
