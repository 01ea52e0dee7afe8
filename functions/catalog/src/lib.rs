#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod peers;
pub mod ports;
pub mod service;
pub mod store;

/// The permissions `module.yaml` declares, as typed constants (generated at build time: one
/// it does not declare does not compile).
pub mod permissions {
    pub use platform_modules::Permission;
    include!(concat!(env!("OUT_DIR"), "/permissions.rs"));
}

/// The methods `module.yaml` lists, and the manifest itself, built in.
pub mod method {
    pub use platform_modules::Method;
    include!(concat!(env!("OUT_DIR"), "/methods.rs"));
    include!(concat!(env!("OUT_DIR"), "/manifests.rs"));
}

/// The contract, generated from `proto/`.
#[allow(clippy::all, clippy::unwrap_used, rust_2018_idioms, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/platform.catalog.v1.rs"));
}

pub use app::{Catalog, build};
pub use config::{CatalogConfig, Config};
pub use error::CatalogError;
