//! The Connect / gRPC / gRPC-Web adapter, the JWKS document and the revocation feed.

mod handlers;
mod jwks;
mod revocations;

pub use handlers::rpc;
pub use jwks::routes as jwks_routes;
pub use revocations::routes as revocation_routes;
