//! The catalog binaries' one configuration type, [`Config`]: the base every service has
//! (`CATALOG__…` variables, section `catalog` of the `PLATFORM_CONFIG` file for its own).

use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use serde::Deserialize;

pub type Config = ServiceConfig<CatalogConfig>;

/// The catalog's own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How the catalog calls the others (authz for its checks, auth for its service token).
    pub clients: platform_clients::ClientsConfig,
}

impl OwnConfig for CatalogConfig {
    const SERVICE: &'static str = "catalog";
    const DEFAULT_PORT: u16 = 8090;
}

impl Validate for CatalogConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
