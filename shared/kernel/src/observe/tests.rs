use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use axum::response::IntoResponse as _;
use tower::{Service as _, ServiceExt as _};

use super::*;

/// The request id and the client IP a call saw.
type Call = (Option<HeaderValue>, Option<IpAddr>);

/// What the service saw of each request and its scope.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Call>>>);

/// A service that records what it saw and answers 404 with a body, or, when the path says
/// so, answers 403 having recorded the exact code `failed_precondition` (which the HTTP
/// status alone would count as `permission_denied`).
fn service(
    seen: Seen,
) -> impl tower::Service<
    Request<()>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    tower::service_fn(move |req: Request<()>| {
        let seen = seen.clone();
        async move {
            tracing::info!("handling");
            // The scope is there across an await.
            tokio::task::yield_now().await;
            seen.0.lock().expect("lock").push((
                req.headers().get(&REQUEST_ID).cloned(),
                crate::peer::client_ip(),
            ));
            if req.uri().path().ends_with("/Denied") {
                crate::metrics::record_error_code(ErrorCode::FailedPrecondition);
                return Ok((http::StatusCode::FORBIDDEN, "denied").into_response());
            }
            Ok::<_, std::convert::Infallible>((http::StatusCode::NOT_FOUND, "no").into_response())
        }
    })
}

fn request(path: &str, id: Option<&str>, peer: &str, forwarded: Option<&str>) -> Request<()> {
    let mut req = Request::builder().uri(path);
    if let Some(id) = id {
        req = req.header(REQUEST_ID, id);
    }
    if let Some(forwarded) = forwarded {
        req = req.header("x-forwarded-for", forwarded);
    }
    let mut req = req.body(()).expect("req");
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().expect("addr")));
    req
}

#[tokio::test]
async fn a_given_id_is_kept_and_a_new_one_is_returned_as_sent_upstream() {
    let seen = Seen::default();
    let mut observed = tower::Layer::layer(&ObserveLayer::new(&[]), service(seen.clone()));
    let response = observed
        .ready()
        .await
        .expect("ready")
        .call(request("/a", Some("abc"), "192.0.2.1:1", None))
        .await
        .expect("ok");
    assert_eq!(response.headers()[&REQUEST_ID], "abc");
    let response = observed
        .ready()
        .await
        .expect("ready")
        .call(request("/a", None, "192.0.2.1:1", None))
        .await
        .expect("ok");
    let returned = response.headers()[&REQUEST_ID].clone();
    assert_eq!(returned.len(), 36);
    let seen = seen.0.lock().expect("lock").clone();
    assert_eq!(seen[0].0.as_ref().map(|v| v.as_bytes()), Some(&b"abc"[..]));
    assert_eq!(seen[1].0.as_ref(), Some(&returned));
}

#[tokio::test]
async fn the_service_sees_the_client_ip_and_forwarded_for_only_from_a_trusted_proxy() {
    let seen = Seen::default();
    let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
    let mut observed = tower::Layer::layer(&ObserveLayer::new(&[proxy]), service(seen.clone()));
    for req in [
        request("/a", None, "203.0.113.5:4000", Some("198.51.100.1")),
        request(
            "/a",
            None,
            "10.0.0.1:4000",
            Some("198.51.100.1, 203.0.113.9"),
        ),
    ] {
        observed
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("ok");
    }
    let ips: Vec<_> = seen.0.lock().expect("lock").iter().map(|s| s.1).collect();
    assert_eq!(
        ips,
        ["203.0.113.5".parse().ok(), "203.0.113.9".parse().ok()]
    );
    // Outside a request there is no client.
    assert_eq!(crate::peer::client_ip(), None);
}

#[tokio::test]
async fn metrics_count_the_exact_code_the_service_recorded() {
    let mut observed = tower::Layer::layer(&ObserveLayer::new(&[]), service(Seen::default()));
    let path = "/observe.tests.Svc/Denied";
    let before = count(path, "failed_precondition");
    for _ in 0..3 {
        let response = observed
            .ready()
            .await
            .expect("ready")
            .call(request(path, None, "192.0.2.1:1", None))
            .await
            .expect("ok");
        assert_eq!(response.status(), 403);
    }
    assert_eq!(count(path, "failed_precondition"), before + 3);
    assert_eq!(count(path, "permission_denied"), 0);
}

/// `rpc_requests_total{method, code}` as rendered at `/metrics`.
fn count(method: &str, code: &str) -> u64 {
    let rendered = crate::metrics::handle().render();
    let series = format!("rpc_requests_total{{method=\"{method}\",code=\"{code}\"}} ");
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("count"))
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_gets_a_span_and_one_access_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let mut observed = tower::Layer::layer(&ObserveLayer::new(&[]), service(Seen::default()));
    let mut log = String::new();
    for _ in 0..50 {
        // A test on another thread (with no subscriber) that registers one of these
        // callsites while this subscriber is being set up can leave it cached as never
        // enabled (tracing's interest cache is global); looking again fixes that.
        tracing::callsite::rebuild_interest_cache();
        captured.0.lock().expect("lock").clear();
        let response = observed
            .ready()
            .await
            .expect("ready")
            .call(request("/pkg.Svc/Method", Some("abc"), "192.0.2.1:1", None))
            .await
            .expect("ok");
        assert_eq!(response.status(), 404);
        log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
        if log.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        assert!(
            line.contains(r#"request{method=GET path=/pkg.Svc/Method request_id="abc"}"#),
            "{line}"
        );
    }
    assert!(lines[0].contains("handling"), "{log}");
    assert!(
        lines[1].contains("finished processing request status=404 latency_us="),
        "{log}"
    );
}

#[tokio::test]
async fn the_request_start_is_known_inside_the_request_only() {
    assert!(started().is_none(), "no request outside one");
    let inside = Arc::new(Mutex::new(None));
    let record = inside.clone();
    let svc = tower::service_fn(move |_req: Request<()>| {
        let record = record.clone();
        async move {
            tokio::task::yield_now().await;
            *record.lock().expect("lock") = Some(started());
            Ok::<_, std::convert::Infallible>(http::StatusCode::OK.into_response())
        }
    });
    let before = Instant::now();
    let observed = tower::Layer::layer(&ObserveLayer::new(&[]), svc);
    let req = request("/pkg.Service/Method", None, "10.0.0.1:5000", None);
    observed.oneshot(req).await.expect("response");
    let seen = inside
        .lock()
        .expect("lock")
        .take()
        .flatten()
        .expect("started inside");
    assert!(seen >= before && seen <= Instant::now());
}
