//! The Connect / gRPC / gRPC-Web adapter: proto in, core call with the verified caller, proto
//! out. Errors are converted once, by `into_connect_error`.

mod convert;
mod handlers;

pub use handlers::rpc;
