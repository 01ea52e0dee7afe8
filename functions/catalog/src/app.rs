//! Wiring: the catalog as a [`Module`] the loader starts (the standalone binary, the Lambda
//! binary and the tests alike): the loader reads `module.yaml`, runs the migrations, hands
//! over the database and the readiness (held back until authz answers), then serves.

use std::sync::Arc;

use axum::Router;
use platform_database::Database;
use platform_kernel::clock::SystemClock;
use platform_kernel::config::OwnConfig as _;
use platform_kernel::health::Readiness;
use platform_kernel::rpc::{self, ServiceRpc};
use platform_loader::Module;

use crate::config::{CatalogConfig, Config};
use crate::peers::AuthzPermissions;
use crate::service::{CatalogService, Ports};

pub const SERVICE_NAME: &str = "platform.catalog.v1.CatalogService";

pub struct Catalog {
    pub router: Router,
    pub service: Arc<CatalogService>,
    pub database: Database,
}

#[async_trait::async_trait]
impl Module for Catalog {
    type Config = CatalogConfig;
    const MANIFEST: (&'static str, &'static str) = crate::method::MANIFESTS[0];
    const MIGRATIONS: &'static platform_database::Migrations = &crate::store::MIGRATIONS;

    async fn build(
        config: &Config,
        database: Database,
        ready: Arc<dyn Readiness>,
    ) -> anyhow::Result<Self> {
        let (clients, verifier) = platform_clients::credentials::for_service(
            &config.base,
            CatalogConfig::SERVICE,
            config.own.clients.clone(),
        )?;
        let service = Arc::new(CatalogService::new(Ports {
            store: Arc::new(crate::store::SqlItemStore(database.clone())),
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
            ready,
            &config.base.server,
        );
        Ok(Self {
            router,
            service,
            database,
        })
    }

    fn router(&self) -> Router {
        self.router.clone()
    }
}

/// The catalog as the binaries start it.
pub async fn build(config: &Config) -> anyhow::Result<Catalog> {
    Ok(platform_loader::load::<Catalog>(config).await?.module)
}
