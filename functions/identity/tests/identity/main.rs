//! The identity service's one integration-test binary: the SQL store on SQLite and
//! PostgreSQL, and the service through a real server (Connect JSON and proto, gRPC, gRPC-Web)
//! and through Lambda fixture events.

mod access;
mod binary;
mod compression;
mod connect;
mod flows;
mod grpc;
mod grpc_compression;
mod interop;
mod lambda;
mod store;
mod support;
