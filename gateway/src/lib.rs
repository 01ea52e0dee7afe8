#![doc = include_str!("../README.md")]
// A step refuses a call with the response the caller gets: it is built once per refused
// request and returned straight up, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub mod allocator;
pub mod app;
mod authentication;
mod body_limit;
pub mod config;
pub mod cors;
mod forwarding;
mod gate;
mod header_scan;
mod page_errors;
mod permits;
pub mod protocol;
pub mod rate_limit;
pub mod routing;
mod upstream;

pub use app::{Gateway, build, build_with_clock};
pub use config::GatewayConfig;
