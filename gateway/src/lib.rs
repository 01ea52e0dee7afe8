//! The API gateway. Each concern is a module of its own; `app::build` composes them.

pub mod allocator;
pub mod app;
mod caller_body;
pub mod config;
pub mod cors;
pub mod errors;
mod facts;
mod forwarding;
pub mod jwks;
mod proxy;
pub mod ratelimit;
pub mod routes;
pub mod shared_limit;
mod verified;

pub use app::{Gateway, build};
pub use config::GatewayConfig;
