//! The Connect / gRPC / gRPC-Web adapter: proto in, core call with the verified caller, proto
//! out.

mod handlers;

pub use handlers::rpc;
