//! The Connect / gRPC / gRPC-Web adapter, and the JWKS document.

mod handlers;
mod jwks;

pub use handlers::rpc;
pub use jwks::routes as jwks_routes;
