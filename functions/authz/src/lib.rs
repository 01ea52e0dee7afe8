#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod ports;
pub mod service;
pub mod store;

pub use app::{App, build};
pub use config::{AuthzConfig, Config};
pub use error::AuthzError;
