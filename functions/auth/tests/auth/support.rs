use auth::AuthConfig;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use identity::IdentityConfig;
use platform_testkit::server::{Later, Served, service_config};
use serde_json::{Value, json};
use std::net::SocketAddr;

pub const PASSWORD: &str = "correct horse battery";

/// Identity and auth, each on its own port, auth calling identity through its client.
pub struct Stack {
    pub auth: SocketAddr,
    pub identity: SocketAddr,
    pub auth_router: axum::Router,
    pub auth_app: auth::App,
    pub dir: tempfile::TempDir,
    _servers: Vec<Served>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut auth::Config)) -> Self {
        platform_kernel::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("tempdir");
        // Auth listens first: identity checks auth's service token against auth's keys.
        let auth_router = Later::default();
        let auth_server = Served::start(auth_router.clone()).await;
        let auth = auth_server.addr;
        let mut identity_config = service_config::<IdentityConfig>(dir.path());
        identity_config
            .base
            .discovery
            .static_instances
            .insert("auth".into(), vec![format!("http://{auth}")]);
        let identity_app = identity::build(&identity_config).await.expect("identity");
        let identity_server = Served::start(identity_app.router).await;
        let identity = identity_server.addr;
        let mut config = service_config::<AuthConfig>(dir.path());
        config
            .base
            .discovery
            .static_instances
            .insert("identity".into(), vec![format!("http://{identity}")]);
        tweak(&mut config);
        let auth_app = auth::build(&config).await.expect("auth");
        auth_router.set(auth_app.router.clone());
        Self {
            auth,
            identity,
            auth_router: auth_app.router.clone(),
            auth_app,
            dir,
            _servers: vec![identity_server, auth_server],
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn post(
        &self,
        addr: SocketAddr,
        path: &str,
        body: Value,
    ) -> (u16, http::HeaderMap, Value) {
        self.post_with(addr, path, &[], body).await
    }

    /// [`Self::post`] with extra headers.
    pub async fn post_with(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (u16, http::HeaderMap, Value) {
        let mut request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.http.request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A GET: its status, headers, and body as JSON (or as a string when it is not JSON).
    pub async fn get(&self, addr: SocketAddr, path: &str) -> (u16, http::HeaderMap, Value) {
        let request = http::Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = self.http.request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    }

    pub async fn auth(&self, method: &str, body: Value) -> (u16, Value) {
        let (status, _, value) = self
            .post(
                self.auth,
                &format!("/platform.auth.v1.AuthService/{method}"),
                body,
            )
            .await;
        (status, value)
    }

    pub async fn identity(&self, method: &str, body: Value) -> (u16, Value) {
        let (status, _, value) = self
            .post(
                self.identity,
                &format!("/platform.identity.v1.IdentityService/{method}"),
                body,
            )
            .await;
        (status, value)
    }

    pub async fn sign_up(&self, email: &str) -> Value {
        let (status, body) = self
            .identity("CreateUser", json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(status, 200, "{body}");
        body["user"].clone()
    }

    pub async fn login(&self, email: &str) -> Value {
        let (status, body) = self
            .auth("Login", json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}
