#![doc = include_str!("../README.md")]

pub mod caller;
pub mod clock;
pub mod compression;
pub mod config;
pub mod deadline;
pub mod error;
pub mod grpc_web;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod peer;
pub mod redis;
pub mod request_id;
pub mod rpc;
pub mod runner;
pub mod server;
pub mod telemetry;
pub mod trace;

pub use error::ErrorCode;
