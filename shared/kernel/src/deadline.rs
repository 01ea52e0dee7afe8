//! Deadlines that travel with a request. The server side reads the caller's budget from
//! `connect-timeout-ms` (Connect) or `grpc-timeout` (gRPC, gRPC-Web) and runs the handler
//! inside [`scope`]; service clients read [`current`] and send what is left downstream, so a
//! chain of calls never outlives its first caller's patience.

use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `fut` with `deadline` (the earlier of it and any enclosing deadline).
pub async fn scope<F: Future>(deadline: Instant, fut: F) -> F::Output {
    let deadline = current().map_or(deadline, |outer| outer.min(deadline));
    DEADLINE.scope(deadline, fut).await
}

/// The deadline of the request being served, if the caller set one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Parses `grpc-timeout`: 1 to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a `grpc-timeout` value (milliseconds, rounded down, at least 1).
pub fn grpc_timeout_value(remaining: Duration) -> String {
    format!("{}m", remaining.as_millis().clamp(1, 99_999_999))
}

/// The caller's budget from the request headers.
pub fn from_headers(headers: &http::HeaderMap) -> Option<Duration> {
    from_values(
        headers.get(crate::headers::CONNECT_TIMEOUT_MS),
        headers.get(crate::headers::GRPC_TIMEOUT),
    )
}

/// The caller's budget from its `connect-timeout-ms` and `grpc-timeout` values (the first
/// that parses counts, Connect's before gRPC's).
pub fn from_values(
    connect_timeout_ms: Option<&http::HeaderValue>,
    grpc_timeout: Option<&http::HeaderValue>,
) -> Option<Duration> {
    if let Some(ms) = connect_timeout_ms
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    grpc_timeout
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// Middleware: runs the rest of the request inside the caller's deadline.
pub async fn propagate(req: Request, next: Next) -> Response {
    match from_headers(req.headers()) {
        Some(budget) => scope(Instant::now() + budget, next.run(req)).await,
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_per_the_spec() {
        assert_eq!(parse_grpc_timeout("200m"), Some(Duration::from_millis(200)));
        assert_eq!(parse_grpc_timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("123456789S"), None, "at most 8 digits");
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(grpc_timeout_value(Duration::from_micros(10)), "1m");
    }

    #[tokio::test]
    async fn a_handler_sees_the_callers_budget() {
        use tower::ServiceExt as _;
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::post(|| async {
                    let left = current().map(|d| d.saturating_duration_since(Instant::now()));
                    format!("{}", left.map_or(0, |d| d.as_millis()))
                }),
            )
            .layer(axum::middleware::from_fn(propagate));
        for (header, value) in [("connect-timeout-ms", "300"), ("grpc-timeout", "300m")] {
            let response = app
                .clone()
                .oneshot(
                    http::Request::post("/")
                        .header(header, value)
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("infallible");
            let body = axum::body::to_bytes(response.into_body(), 64)
                .await
                .expect("body");
            let left: u128 = std::str::from_utf8(&body)
                .expect("utf8")
                .parse()
                .expect("number");
            assert!((250..=300).contains(&left), "{header}: {left} ms left");
        }
    }

    #[tokio::test]
    async fn an_inner_scope_never_extends_the_outer_deadline() {
        let outer = Instant::now() + Duration::from_millis(100);
        let inner = scope(outer, async {
            scope(Instant::now() + Duration::from_secs(10), async {
                current()
            })
            .await
        })
        .await;
        assert_eq!(inner, Some(outer));
        assert_eq!(current(), None);
    }
}
