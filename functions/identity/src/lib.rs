//! The identity service: users, their password hashes, and the single-use tokens for email
//! verification and password reset.
//!
//! `domain` and `service` are the transport-free core (no axum, sqlx, proto or lettre types
//! in their signatures); `store`, `mail` and `api` are the adapters; `app::build` wires them
//! into the one router both binaries and the tests serve.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod mail;
pub mod ports;
pub mod service;
pub mod store;

pub use app::{App, build};
pub use config::{Config, IdentityConfig};
pub use error::IdentityError;
