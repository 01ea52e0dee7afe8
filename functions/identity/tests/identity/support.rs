use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use identity::IdentityConfig;
use platform_kernel::config::ServerConfig;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

/// A running identity service on 127.0.0.1:<random port>.
pub struct TestApp {
    pub addr: SocketAddr,
    pub config: IdentityConfig,
    pub router: axum::Router,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestApp {
    /// On the embedded default: SQLite and the file mailer in a fresh directory.
    pub async fn spawn() -> Self {
        Self::spawn_with(None).await
    }

    pub async fn spawn_with(database_url: Option<String>) -> Self {
        platform_kernel::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = IdentityConfig {
            server: ServerConfig {
                http1_fast_path: platform_testkit::http1::fast_paths(),
                ..ServerConfig::with_port(0)
            },
            data_dir: dir.path().to_path_buf(),
            ..IdentityConfig::default()
        };
        config.database.url = database_url.map(SecretString::from);
        let app = identity::build(&config).await.expect("app builds");
        let listener = platform_kernel::server::bind(&config.server)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(platform_kernel::server::serve(
            listener,
            app.router.clone(),
            async {
                let _ = stopped.await;
            },
            platform_kernel::server::Timeouts {
                http1_fast_path: platform_testkit::http1::fast_paths(),
                ..platform_kernel::server::Timeouts::with_grace(Duration::from_secs(5))
            },
        ));
        Self {
            addr,
            config,
            router: app.router,
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.config.mail_dir()
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

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("served");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
