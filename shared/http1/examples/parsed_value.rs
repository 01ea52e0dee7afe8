//! What `parsed::parsed_value` (header values httparse checked, not checked again: the
//! crate's one `unsafe`) saves over the checked `HeaderValue::from_maybe_shared`, on the
//! fast path's work for one request head: the gateway benchmark's call (an authenticated
//! GetUserByEmail, as wrk sends it) parsed with the connection's name cache and made into
//! a header map.
//!
//! `cargo run --release -p platform-http1 --example parsed_value -- <unchecked|checked> [n]`
//! prints the time per head; under `valgrind --tool=callgrind` the instruction counts of
//! the two runs compare exactly.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use platform_http1::names::NameCache;
use platform_http1::request_head;

fn main() {
    let mut args = std::env::args().skip(1);
    let checked = match args.next().as_deref() {
        Some("checked") => true,
        Some("unchecked") => false,
        _ => {
            eprintln!("usage: parsed_value <unchecked|checked> [iterations]");
            std::process::exit(2);
        }
    };
    let n: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // An access token of the size the platform issues (EdDSA JWT with its claims).
    let token = format!("eyJ{}.{}", "a".repeat(280), "b".repeat(86));
    let head = Bytes::from(format!(
        "POST /platform.identity.v1.IdentityService/GetUserByEmail HTTP/1.1\r\n\
Host: 127.0.0.1:19180\r\nContent-Length: 29\r\nContent-Type: application/json\r\n\
Authorization: Bearer {token}\r\n\r\n{{\"email\":\"bench@example.com\"}}"
    ));
    let mut names = NameCache::default();
    let mut fields = Vec::new();
    let started = Instant::now();
    for _ in 0..n {
        let parsed = request_head::parse(black_box(&head), 64 * 1024, &mut names, &mut fields)
            .ok()
            .flatten()
            .expect("a head the fast path serves");
        let mut headers = HeaderMap::with_capacity(fields.len() + 8);
        for (name, at, end) in fields.drain(..) {
            let value = head.slice(at..end);
            let value = if checked {
                match HeaderValue::from_maybe_shared(value) {
                    Ok(value) => value,
                    Err(_) => continue,
                }
            } else {
                platform_http1::parsed::parsed_value(value)
            };
            headers.append(name, value);
        }
        black_box((parsed, headers));
    }
    let took = started.elapsed();
    println!(
        "{}: {n} heads, {:.1} ns per head",
        if checked { "checked" } else { "unchecked" },
        took.as_nanos() as f64 / n as f64
    );
}
