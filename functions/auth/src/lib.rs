//! The auth service: sessions as refresh-token families, EdDSA access tokens, the JWKS.
//!
//! `domain` and `service` are the transport-free core; `store` (sqlx), `users` (the identity
//! client) and `api` are adapters; `app::build` wires them for both binaries and the tests.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod ports;
pub mod service;
pub mod store;
pub mod users;

pub use app::{App, build};
pub use config::{AuthConfig, Config};
pub use error::AuthError;
