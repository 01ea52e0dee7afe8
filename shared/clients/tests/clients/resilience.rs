//! Retries, the retry budget, circuit breakers and deadlines, against scripted upstreams that
//! speak just enough gRPC and Connect to answer a call or fail it.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use platform_clients::{ClientsConfig, ErrorCode, Protocol, ServiceClientConfig};
use platform_proto::identity::v1 as pb;

use crate::support::{clients_config, static_factory};

const OK: u8 = 0;
const UNAVAILABLE: u8 = 1;
const SLOW: u8 = 2;

#[derive(Default)]
struct Script {
    mode: AtomicU8,
    hits: AtomicUsize,
    timeout_header: Mutex<Option<String>>,
}

struct Upstream {
    url: String,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start(mode: u8) -> Self {
        let script = Arc::new(Script::default());
        script.mode.store(mode, Ordering::SeqCst);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        // As the platform's servers do: without TCP_NODELAY, a response can wait ~40 ms for
        // a delayed ACK, and such stalls skew the balancer's latency averages at random.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, script, task }
    }

    fn hits(&self) -> usize {
        self.script.hits.load(Ordering::SeqCst)
    }

    fn set(&self, mode: u8) {
        self.script.mode.store(mode, Ordering::SeqCst);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(script): State<Arc<Script>>, req: Request) -> Response {
    script.hits.fetch_add(1, Ordering::SeqCst);
    let grpc = req
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let timeout = req
        .headers()
        .get(if grpc {
            "grpc-timeout"
        } else {
            "connect-timeout-ms"
        })
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *script.timeout_header.lock().expect("lock") = timeout;
    match script.mode.load(Ordering::SeqCst) {
        UNAVAILABLE if grpc => (
            [
                ("content-type", "application/grpc"),
                ("grpc-status", "14"),
                ("grpc-message", "scripted"),
            ],
            "",
        )
            .into_response(),
        UNAVAILABLE => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"code": "unavailable", "message": "scripted"})),
        )
            .into_response(),
        mode => {
            if mode == SLOW {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            if grpc {
                // One empty message (a default response), then grpc-status 0 as a trailer.
                let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])).with_trailers(async {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                    Some(Ok(trailers))
                });
                ([("content-type", "application/grpc")], Body::new(body)).into_response()
            } else {
                axum::Json(serde_json::json!({})).into_response()
            }
        }
    }
}

fn config(protocol: Protocol, tweak: impl FnOnce(&mut ServiceClientConfig)) -> ClientsConfig {
    let mut config = clients_config(protocol);
    tweak(&mut config.defaults);
    config
}

fn get() -> pb::GetUserRequest {
    pb::GetUserRequest { id: "x".into() }
}

fn create() -> pb::CreateUserRequest {
    pb::CreateUserRequest::default()
}

async fn retries_only_when_safe(protocol: Protocol) {
    let failing = Upstream::start(UNAVAILABLE).await;
    let factory = static_factory(
        "identity",
        std::slice::from_ref(&failing.url),
        config(protocol, |_| {}),
    );
    let client = factory.identity();

    let err = client.create_user(create()).await.expect_err("fails");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert_eq!(
        failing.hits(),
        1,
        "a non-idempotent call is not retried after it was sent"
    );

    let err = client.get_user(get()).await.expect_err("fails");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert_eq!(
        failing.hits(),
        1 + 3,
        "an idempotent one is, up to max_attempts (3)"
    );

    // Never sent (nothing listens): safe to retry even a non-idempotent call.
    let dead = format!("http://127.0.0.1:{}", unused_port());
    let factory = static_factory(
        "identity",
        std::slice::from_ref(&dead),
        config(protocol, |_| {}),
    );
    let channel = factory.channel("identity");
    let client = factory.identity();
    let err = client
        .create_user(create())
        .await
        .expect_err("nobody there");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert_eq!(channel.stats().attempts.load(Ordering::SeqCst), 3);

    // A dead instance beside a live one: every call succeeds.
    let live = Upstream::start(OK).await;
    let factory = static_factory(
        "identity",
        &[dead, live.url.clone()],
        config(protocol, |_| {}),
    );
    let client = factory.identity();
    for _ in 0..20 {
        client
            .create_user(create())
            .await
            .expect("retried on the live instance");
    }
    assert_eq!(live.hits(), 20);
}

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

#[tokio::test]
async fn grpc_retries_only_when_safe() {
    retries_only_when_safe(Protocol::Grpc).await;
}

#[tokio::test]
async fn connect_retries_only_when_safe() {
    retries_only_when_safe(Protocol::Connect).await;
}

#[tokio::test]
async fn retries_never_exceed_the_budget() {
    let failing = Upstream::start(UNAVAILABLE).await;
    let factory = static_factory(
        "identity",
        std::slice::from_ref(&failing.url),
        config(Protocol::Grpc, |c| {
            c.retry.max_attempts = 10;
            c.retry.backoff_min_ms = 1;
            c.retry.backoff_max_ms = 2;
            c.retry.budget_percent = 0.1;
            c.retry.budget_min_per_sec = 1;
            c.breaker.consecutive_failures = 10_000;
        }),
    );
    let channel = factory.channel("identity");
    let client = factory.identity();
    let calls = 50;
    for _ in 0..calls {
        assert!(client.get_user(get()).await.is_err());
    }
    let retries = channel.stats().retries.load(Ordering::SeqCst);
    // 10% of 50 calls, plus the reserve of 1/s over the budget's 10 s window.
    assert!(retries <= 5 + 10, "{retries} retries");
    assert!(channel.stats().budget_exhausted.load(Ordering::SeqCst) > 0);
    assert_eq!(failing.hits(), calls + retries as usize);
}

#[tokio::test]
async fn a_failing_instance_trips_its_breaker_and_recovers_after_a_probe() {
    let sick = Upstream::start(UNAVAILABLE).await;
    let well = Upstream::start(OK).await;
    let factory = static_factory(
        "identity",
        &[sick.url.clone(), well.url.clone()],
        config(Protocol::Grpc, |c| {
            c.breaker.consecutive_failures = 3;
            c.breaker.open_ms = 1_500;
            c.retry.backoff_min_ms = 1;
            c.retry.backoff_max_ms = 2;
            c.retry.budget_min_per_sec = 1_000;
        }),
    );
    let client = factory.identity();
    // The balancer picks by load and latency, so how soon the sick instance is tried varies
    // (under a loaded machine it may be passed over for a while): call until it has failed
    // three times, every call answered by the healthy one.
    for _ in 0..300 {
        client
            .get_user(get())
            .await
            .expect("the healthy instance answers");
        if sick.hits() >= 3 {
            break;
        }
    }
    let tripped_at = sick.hits();
    assert!(
        (3..=4).contains(&tripped_at),
        "breaker opened after 3 failures, saw {tripped_at}"
    );
    for _ in 0..30 {
        client.get_user(get()).await.expect("ok");
    }
    assert_eq!(sick.hits(), tripped_at, "no traffic while open");

    sick.set(OK);
    // Wait out the open period (the breaker's own timer), then a half-open probe closes it.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    for _ in 0..400 {
        client.get_user(get()).await.expect("ok");
        if sick.hits() >= tripped_at + 5 {
            break;
        }
    }
    assert!(
        sick.hits() >= tripped_at + 5,
        "recovered instance gets traffic again: {}",
        sick.hits()
    );
}

async fn deadline_travels_upstream(protocol: Protocol) {
    let upstream = Upstream::start(OK).await;
    let factory = static_factory(
        "identity",
        std::slice::from_ref(&upstream.url),
        config(protocol, |_| {}),
    );
    let client = factory.identity();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
    platform_kernel::deadline::scope(deadline, client.get_user(get()))
        .await
        .expect("ok");
    let header = upstream
        .script
        .timeout_header
        .lock()
        .expect("lock")
        .clone()
        .expect("timeout header sent");
    let budget = match protocol {
        Protocol::Grpc => {
            platform_kernel::deadline::parse_grpc_timeout(&header).expect("grpc-timeout")
        }
        Protocol::Connect => Duration::from_millis(header.parse().expect("number")),
    };
    assert!(
        budget <= Duration::from_millis(200) && !budget.is_zero(),
        "{header}"
    );

    // Without a caller deadline the configured timeout applies (5 s by default).
    client.get_user(get()).await.expect("ok");
    let header = upstream
        .script
        .timeout_header
        .lock()
        .expect("lock")
        .clone()
        .expect("sent");
    let budget = match protocol {
        Protocol::Grpc => {
            platform_kernel::deadline::parse_grpc_timeout(&header).expect("grpc-timeout")
        }
        Protocol::Connect => Duration::from_millis(header.parse().expect("number")),
    };
    assert!(
        budget > Duration::from_secs(4) && budget <= Duration::from_secs(5),
        "{header}"
    );

    // A slow upstream: the call ends at the deadline with deadline_exceeded.
    upstream.set(SLOW);
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let err = platform_kernel::deadline::scope(deadline, client.get_user(get()))
        .await
        .expect_err("too slow");
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_remaining_deadline_travels_as_grpc_timeout() {
    deadline_travels_upstream(Protocol::Grpc).await;
}

#[tokio::test]
async fn the_remaining_deadline_travels_as_connect_timeout_ms() {
    deadline_travels_upstream(Protocol::Connect).await;
}
