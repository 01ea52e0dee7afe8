#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod pages;
pub mod peers;
pub mod ports;
pub mod service;
pub mod store;

pub use app::{App, build};
pub use config::{Config, IdentityConfig};
pub use error::IdentityError;
