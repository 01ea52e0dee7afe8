//! The audit service's integration tests: its store on SQLite and PostgreSQL (concurrent
//! writers, pagination, tampering), and the service through a real server.

mod api;
mod bus;
mod events;
mod store;
