#![doc = include_str!("../README.md")]

pub mod buf;
pub mod clock;
pub mod consul;
pub mod database;
pub mod grpc_frames;
pub mod gzip;
pub mod http1;
pub mod interop;
pub mod issuer;
pub mod kafka;
pub mod mail;
pub mod postgres;
pub mod server;
