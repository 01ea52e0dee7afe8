#![doc = include_str!("../README.md")]

pub mod config;
pub mod consul;
mod static_registry;

use std::sync::Arc;

pub use config::{ConsulConfig, DiscoveryConfig};
pub use static_registry::StaticRegistry;
use tokio::sync::watch;

/// One reachable instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    /// Unique across the registry (Consul's service ID).
    pub id: String,
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
}

/// The healthy instances of one service: `None` until the registry has answered once.
pub type InstanceSet = Option<Arc<Vec<Instance>>>;

/// What a service announces about itself.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `identity`, `auth`, … (no suffix).
    pub service: String,
    /// The address other processes reach it at.
    pub address: String,
    pub port: u16,
    /// e.g. `grpc`, `connect`, `grpc-web`, `v0.1.0`.
    pub tags: Vec<String>,
    /// Path of the HTTP health check.
    pub health_path: String,
}

#[async_trait::async_trait]
pub trait ServiceRegistry: Send + Sync + 'static {
    /// Announces this instance until [`Registered::deregister`] is called.
    async fn register(&self, registration: Registration) -> anyhow::Result<Box<dyn Registered>>;
    /// A live view of the healthy instances of `service`.
    fn watch(&self, service: &str) -> watch::Receiver<InstanceSet>;
}

/// A live registration.
#[async_trait::async_trait]
pub trait Registered: Send + Sync {
    /// The instance id given to the registry.
    fn id(&self) -> &str;
    /// Removes the instance from the registry (graceful shutdown).
    async fn deregister(self: Box<Self>) -> anyhow::Result<()>;
}

/// Registers a standalone binary listening on `local`: under `advertise_address` if set,
/// else the listen address (127.0.0.1 when listening on all interfaces). Tags say which
/// protocols it speaks and its version.
pub async fn register_self(
    registry: &dyn ServiceRegistry,
    config: &DiscoveryConfig,
    service: &str,
    local: std::net::SocketAddr,
) -> anyhow::Result<Box<dyn Registered>> {
    let address = match &config.advertise_address {
        Some(a) => a.clone(),
        None if local.ip().is_unspecified() => "127.0.0.1".to_owned(),
        None => local.ip().to_string(),
    };
    registry
        .register(Registration {
            service: service.to_owned(),
            address,
            port: local.port(),
            tags: vec![
                "grpc".to_owned(),
                "connect".to_owned(),
                "grpc-web".to_owned(),
                format!("v{}", env!("CARGO_PKG_VERSION")),
            ],
            health_path: "/healthz".to_owned(),
        })
        .await
}

/// The registry the configuration asks for: Consul when an address is set, static otherwise.
pub fn from_config(config: &DiscoveryConfig) -> anyhow::Result<Arc<dyn ServiceRegistry>> {
    match config.consul.address.as_deref() {
        Some(address) => Ok(Arc::new(consul::ConsulRegistry::new(
            address,
            &config.consul,
        )?)),
        None => Ok(Arc::new(StaticRegistry::new(&config.static_instances))),
    }
}
