#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod checkpoints;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod error;
pub mod peers;
pub mod ports;
pub mod service;
pub mod store;

pub use app::{App, build};
pub use config::{AuditConfig, Config};
pub use error::AuditError;
