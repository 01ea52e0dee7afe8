//! The auth service's integration tests: its store on SQLite and PostgreSQL, and the service
//! through real servers (with a real identity service behind it), gRPC, and Lambda events.

mod api;
mod attempts;
mod binary;
mod redis;
mod rs256;
mod store;
mod support;
