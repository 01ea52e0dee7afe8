#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod checks;
pub mod chunked;
pub mod client;
pub mod codec;
pub mod fields;
pub mod names;
pub mod parsed;
pub mod per_thread;
pub mod request_head;
pub mod response_head;
pub mod server;

/// Header fields parsed in one head (hyper's default is 100); a request with more goes to
/// hyper, which answers 431.
pub const MAX_HEADERS: usize = 100;

/// Bytes that are not the HTTP/1.1 this crate reads, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Invalid {}
