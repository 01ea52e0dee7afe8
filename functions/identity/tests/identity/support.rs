use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use identity::IdentityConfig;
use platform_testkit::server::{Served, service_config};
use secrecy::SecretString;
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery";

/// A running identity service on 127.0.0.1:<random port>.
pub struct TestApp {
    pub addr: SocketAddr,
    pub config: identity::Config,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
    server: Served,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestApp {
    /// On the embedded default: SQLite and the file mailer in a fresh directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(None).await
    }

    pub async fn spawn_with(database_url: Option<String>) -> Self {
        Self::spawn_wrapped(database_url, |router| router).await
    }

    /// Serves `wrap(router)`: a test can put a layer of its own in front of the service.
    pub async fn spawn_wrapped(
        database_url: Option<String>,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Self {
        platform_kernel::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = service_config::<IdentityConfig>(dir.path());
        config.base.database.url = database_url.map(SecretString::from);
        let app = identity::build(&config).await.expect("app builds");
        let server = Served::start(wrap(app.router.clone())).await;
        Self {
            addr: server.addr,
            config,
            router: app.router,
            _dir: dir,
            server,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn mail_dir(&self) -> PathBuf {
        identity::config::mail_dir(&self.config)
    }

    /// Raw HTTP/1.1 request; returns status, headers and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, Bytes) {
        let mut req = http::Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let res = self.http.request(req).await.expect("response");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body)
    }

    /// A Connect unary call with JSON, as `curl` would make it.
    pub async fn connect_json(&self, method: &str, body: Value) -> (u16, Value) {
        let (status, _, bytes) = self
            .request(
                "POST",
                &format!("/platform.identity.v1.IdentityService/{method}"),
                &[("content-type", "application/json")],
                serde_json::to_vec(&body).expect("json"),
            )
            .await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// Creates a user over Connect JSON; returns its JSON.
    pub async fn create_user(&self, email: &str) -> Value {
        let (status, body) = self
            .connect_json(
                "CreateUser",
                serde_json::json!({"email": email, "password": PASSWORD, "displayName": "T"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["user"].clone()
    }

    /// Tells the server to stop accepting and drain the calls under way.
    pub fn begin_stop(&self) {
        self.server.begin_stop();
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.server.stop().await.expect("served");
    }
}
