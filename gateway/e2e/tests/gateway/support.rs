use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::response::IntoResponse;
use bytes::Bytes;
use gateway::config::Config;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform_testkit::server::Served;
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

/// Serves a router or the gateway's service on a free port, for the rest of the test.
pub async fn serve<S: platform_kernel::server::HttpService>(service: S) -> SocketAddr {
    Served::start(service).await.detach()
}

/// The gateway's defaults for a test: the test server settings (a free port, the fast paths
/// as `PLATFORM_TEST_FAST_PATHS` says, for the gateway's own client too).
pub fn gateway_config() -> Config {
    let mut config = Config::default();
    config.base.server = platform_testkit::server::config();
    config.own.upstream.own_http1_client = platform_testkit::http1::fast_paths();
    config
}

/// What the echo upstream saw of the last request.
#[derive(Default, Clone)]
pub struct Seen(pub Arc<Mutex<Option<http::HeaderMap>>>);

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.0
            .lock()
            .expect("lock")
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// An upstream that answers `{}` (Connect) after `delay`, remembering the request headers.
pub async fn echo(delay: Duration) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let record = record.clone();
        async move {
            *record.0.lock().expect("lock") = Some(req.headers().clone());
            tokio::time::sleep(delay).await;
            axum::Json(json!({})).into_response()
        }
    });
    (serve(app).await, seen)
}

pub struct Stack {
    pub gateway: SocketAddr,
    pub config: Config,
    pub identity: SocketAddr,
    pub auth: SocketAddr,
    pub seen: Seen,
    /// The real services behind the gateway (kept running for the stack's life).
    pub services: platform_teststack::TestStack,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// The real identity, auth and authz services, calling each other as in production.
pub async fn services() -> platform_teststack::TestStack {
    platform_teststack::TestStack::start().await
}

/// `TEST_REDIS_URL`, or the CI server.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub async fn start_gateway(config: &Config) -> SocketAddr {
    start_gateway_with_clock(config, Arc::new(platform_kernel::clock::SystemClock)).await
}

/// A gateway reading the time from `clock`.
pub async fn start_gateway_with_clock(
    config: &Config,
    clock: Arc<dyn platform_kernel::clock::Clock>,
) -> SocketAddr {
    start_gateway_on(config, clock, None).await
}

/// A gateway on `listener` (bound beforehand) or on a free port.
pub async fn start_gateway_on(
    config: &Config,
    clock: Arc<dyn platform_kernel::clock::Clock>,
    listener: Option<tokio::net::TcpListener>,
) -> SocketAddr {
    let gw = gateway::build_with_clock(config, clock)
        .await
        .expect("gateway");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !gw.jwks.is_loaded() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway never loaded the JWKS"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match listener {
        Some(listener) => Served::start_on(gw.service, listener, &config.base.server).detach(),
        None => serve(gw.service).await,
    }
}

impl Stack {
    /// identity, auth and authz for real (the gateway asks authz its coarse permission
    /// checks); the gateway's audit upstream is an echo server (`seen`).
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(tweak, Arc::new(platform_kernel::clock::SystemClock)).await
    }

    /// Like [`Stack::start`], the gateway reading the time from `clock`.
    pub async fn start_with_clock(
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn platform_kernel::clock::Clock>,
    ) -> Self {
        Self::start_full(|_| {}, tweak, clock).await
    }

    /// Like [`Stack::start`], the gateway's authz upstream an echo server as well (to see
    /// what a method that needs no permission sends upstream).
    pub async fn start_echoing_authz(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_echoing_authz_with_clock(tweak, Arc::new(platform_kernel::clock::SystemClock))
            .await
    }

    /// Both: an echoing authz upstream and the gateway on `clock`.
    pub async fn start_echoing_authz_with_clock(
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn platform_kernel::clock::Clock>,
    ) -> Self {
        Self::start_inner(|_| {}, tweak, clock, true, None).await
    }

    /// With the services configured by `services_tweak` as well.
    pub async fn start_full(
        services_tweak: impl FnOnce(&mut platform_teststack::Configs),
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn platform_kernel::clock::Clock>,
    ) -> Self {
        Self::start_inner(services_tweak, tweak, clock, false, None).await
    }

    /// With the gateway on `listener`, bound beforehand (the services' configuration can
    /// then name the gateway's address: the links in identity's mails).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        services_tweak: impl FnOnce(&mut platform_teststack::Configs),
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let clock = Arc::new(platform_kernel::clock::SystemClock);
        Self::start_inner(services_tweak, tweak, clock, false, Some(listener)).await
    }

    async fn start_inner(
        services_tweak: impl FnOnce(&mut platform_teststack::Configs),
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn platform_kernel::clock::Clock>,
        authz_echo: bool,
        listener: Option<tokio::net::TcpListener>,
    ) -> Self {
        platform_kernel::telemetry::init_for_tests();
        let services = platform_teststack::TestStack::start_with(services_tweak).await;
        let (identity, auth) = (services.identity, services.auth);
        let (echo, seen) = echo(Duration::from_millis(0)).await;
        let mut config = gateway_config();
        let instances = &mut config.base.discovery.static_instances;
        instances.insert("identity".into(), vec![format!("http://{identity}")]);
        instances.insert("auth".into(), vec![format!("http://{auth}")]);
        let authz = if authz_echo { echo } else { services.authz };
        instances.insert("authz".into(), vec![format!("http://{authz}")]);
        instances.insert("audit".into(), vec![format!("http://{echo}")]);
        tweak(&mut config);
        let gateway = start_gateway_on(&config, clock, listener).await;
        Self {
            gateway,
            config,
            identity,
            auth,
            seen,
            services,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Another gateway replica with the same configuration.
    pub async fn another_gateway(&self) -> SocketAddr {
        start_gateway(&self.config).await
    }

    /// A call to the gateway at `at` (another replica, say); its status.
    pub async fn call_at(
        &self,
        at: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> u16 {
        self.exchange(at, method, path, headers, body).await.0
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, Bytes) {
        self.exchange(self.gateway, method, path, headers, body)
            .await
    }

    async fn exchange(
        &self,
        at: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, Bytes) {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{at}{path}"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self
            .http
            .request(request.body(Full::new(body.into())).expect("request"))
            .await
            .expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, headers, body)
    }

    /// A Connect JSON call through the gateway, with an optional bearer token.
    pub async fn connect(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        let (status, _, bytes) = self.call("POST", path, &headers, body.to_string()).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Signs up and logs in through the gateway; returns the access token.
    pub async fn user_token(&self, email: &str) -> String {
        let (status, body) = self
            .connect(
                "/platform.identity.v1.IdentityService/CreateUser",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .connect(
                "/platform.auth.v1.AuthService/Login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["accessToken"].as_str().expect("token").to_owned()
    }
}

/// A private Redis for this test (it gets stopped), on a free port.
pub struct PrivateRedis {
    child: std::process::Child,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        Self::start_on(port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on its port, empty (nothing was saved).
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.port);
    }

    fn start_on(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (CI installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Connect JSON call to `addr` (`host:port`), with an optional bearer token, on a client of
/// its own: status and JSON answer (null when the body is not JSON).
pub async fn post_json(
    addr: String,
    path: String,
    token: Option<String>,
    body: Value,
) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(
            request
                .body(Full::new(body.to_string().into()))
                .expect("request"),
        )
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// The workspace's binaries: beside this test's own directory (`target/<profile>/deps`).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} missing: run the workspace tests",
        path.display()
    );
    path
}
