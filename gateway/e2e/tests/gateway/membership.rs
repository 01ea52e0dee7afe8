//! Routing from Consul: an instance killed under load, Consul going away, a new instance.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use platform_discovery::consul::ConsulRegistry;
use platform_discovery::{ConsulConfig, DiscoveryConfig, Registered};
use platform_testkit::consul::ConsulTestServer;
use serde_json::json;

use crate::support::{PASSWORD, gateway_config, services, start_gateway};

/// An upstream on its own runtime, so that killing it closes every socket.
struct Killable {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Killable {
    fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let app = axum::Router::new()
                    .route("/healthz", axum::routing::get(|| async { "ok" }))
                    .fallback(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async { axum::Json(json!({"allowed": true})) }
                    });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let _ = addr_tx.send(listener.local_addr().expect("addr"));
                tokio::select! {
                    _ = axum::serve(listener, app).into_future() => {},
                    _ = killed => {},
                }
            });
            runtime.shutdown_background();
        });
        let addr = addr_rx.recv().expect("started");
        Self {
            addr,
            hits,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn register(
    registry: &ConsulRegistry,
    service: &str,
    addr: SocketAddr,
) -> Box<dyn Registered> {
    platform_discovery::register_self(registry, &DiscoveryConfig::default(), service, addr)
        .await
        .expect("registered")
}

async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_follows_consul_survives_a_killed_instance_and_a_consul_outage() {
    let mut consul = ConsulTestServer::start().await;
    let registry = ConsulRegistry::new(&consul.address(), &ConsulConfig::default())
        .expect("registry")
        .with_intervals(Duration::from_millis(100), Duration::from_secs(2));
    let services = services().await;
    let (identity, auth) = (services.identity, services.auth);
    let mut a = Killable::start();
    let mut b = Killable::start();
    let _ri = register(&registry, "identity", identity).await;
    let _ra = register(&registry, "auth", auth).await;
    let _r1 = register(&registry, "authz", a.addr).await;
    let rb = register(&registry, "authz", b.addr).await;
    eventually(
        Duration::from_secs(10),
        "all four pass their checks",
        || {
            consul.passing("authz").len() == 2
                && consul.passing("auth").len() == 1
                && consul.passing("identity").len() == 1
        },
    )
    .await;

    let mut config = gateway_config();
    config.base.discovery.consul.address = Some(consul.address());
    // This test is about routing: limits high enough never to refuse.
    config.own.rate_limit.rps = 1_000_000;
    config.own.rate_limit.burst = 1_000_000;
    let gateway = start_gateway(&config).await;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let post = move |path: &'static str, token: Option<String>, body: String| {
        let http = http.clone();
        async move {
            let mut request = http::Request::post(format!("http://{gateway}{path}"))
                .header("content-type", "application/json");
            if let Some(t) = token {
                request = request.header("authorization", format!("Bearer {t}"));
            }
            let response = http
                .request(
                    request
                        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                        .expect("request"),
                )
                .await
                .expect("response");
            let status = response.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body")
                .to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            )
        }
    };
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    let (status, _) = post(
        "/platform.identity.v1.IdentityService/CreateUser",
        None,
        credentials.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, pair) = post("/platform.auth.v1.AuthService/Login", None, credentials).await;
    assert_eq!(status, 200);
    let token = pair["accessToken"].as_str().expect("token").to_owned();

    // Load: idempotent calls, continuously, counting anything but 200.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures, calls, token, post) = (
                stop.clone(),
                failures.clone(),
                calls.clone(),
                token.clone(),
                post.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let (status, body) = post(
                        "/platform.authz.v1.AuthzService/HasPermission",
                        Some(token.clone()),
                        "{}".into(),
                    )
                    .await;
                    calls.fetch_add(1, Ordering::SeqCst);
                    if status != 200 && failures.fetch_add(1, Ordering::SeqCst) < 3 {
                        eprintln!("failed call: {status} {body}");
                    }
                }
            })
        })
        .collect();
    eventually(Duration::from_secs(10), "both instances serve", || {
        a.hits() > 20 && b.hits() > 20
    })
    .await;

    b.kill();
    drop(rb);
    let after_kill = calls.load(Ordering::SeqCst);
    eventually(
        Duration::from_secs(10),
        "calls continue after the kill",
        || calls.load(Ordering::SeqCst) > after_kill + 100,
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the dead instance leaves the passing set",
        || consul.passing("authz").len() == 1,
    )
    .await;

    consul.stop().await;
    let during_outage = calls.load(Ordering::SeqCst);
    eventually(
        Duration::from_secs(10),
        "routing continues without Consul",
        || calls.load(Ordering::SeqCst) > during_outage + 100,
    )
    .await;
    consul.resume().await;

    let c = Killable::start();
    let _rc = register(&registry, "authz", c.addr).await;
    let registered = Instant::now();
    eventually(
        Duration::from_secs(5),
        "the new instance passes its check",
        || consul.passing("authz").len() == 2,
    )
    .await;
    let passing = Instant::now();
    eventually(
        Duration::from_secs(1),
        "the new instance gets traffic within 1 s of passing",
        || c.hits() > 0,
    )
    .await;
    let reached = passing.elapsed();

    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.expect("load");
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "of {} calls",
        calls.load(Ordering::SeqCst)
    );
    eprintln!(
        "calls {}, new instance reached {:?} after passing ({:?} after registering)",
        calls.load(Ordering::SeqCst),
        reached,
        registered.elapsed()
    );
    a.kill();
}
