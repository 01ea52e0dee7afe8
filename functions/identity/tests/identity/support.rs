use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform_teststack::{TestStack, TestUser};
use serde_json::Value;

pub const PASSWORD: &str = platform_teststack::PASSWORD;

/// The identity service on 127.0.0.1:<random port>, with the auth and authz services it
/// calls (and that verify its callers' tokens) beside it.
/// Calls go out as an administrator unless a test says otherwise (`connect_json_as`, or an
/// `authorization` header of its own): most tests here are about the protocols, and the
/// rules of who may call what have tests of their own (`access.rs`, the core's
/// `security_tests.rs`). VerifyPassword goes out as the auth service, the only caller it
/// answers.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `Bearer <an administrator's access token>`.
    pub admin: String,
    /// `Bearer <the auth service's service token>`.
    pub auth_service: String,
    pub config: identity::Config,
    pub router: axum::Router,
    pub stack: TestStack,
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
        let stack = TestStack::start_wrapped(
            |c| {
                if let Some(url) = &database_url {
                    c.postgres(url);
                }
            },
            wrap,
        )
        .await;
        let admin = stack.admin("admin@example.com").await.bearer();
        let (token, _) = stack
            .auth_app
            .service
            .sign_service("auth")
            .expect("auth's service token");
        Self {
            admin,
            auth_service: format!("Bearer {token}"),
            addr: stack.identity,
            config: stack.configs.identity.clone(),
            router: stack.identity_app.router.clone(),
            stack,
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
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            req = req.header("authorization", &self.admin);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let res = self.http.request(req).await.expect("response");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body)
    }

    /// A Connect unary call with JSON, as `curl` would make it (as the administrator; as the
    /// auth service for VerifyPassword).
    pub async fn connect_json(&self, method: &str, body: Value) -> (u16, Value) {
        let who = if method == "VerifyPassword" {
            &self.auth_service
        } else {
            &self.admin
        };
        self.stack.identity_call(method, Some(who), body).await
    }

    /// The same without any credential.
    pub async fn connect_json_anonymous(&self, method: &str, body: Value) -> (u16, Value) {
        self.stack.identity_call(method, None, body).await
    }

    /// The same, as the caller `authorization` names (`Bearer …`).
    pub async fn connect_json_as(
        &self,
        authorization: &str,
        method: &str,
        body: Value,
    ) -> (u16, Value) {
        self.stack
            .identity_call(method, Some(authorization), body)
            .await
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

    /// Signs `email` up and in.
    pub async fn user(&self, email: &str) -> TestUser {
        self.stack.user(email).await
    }

    /// Tells the server to stop accepting and drain the calls under way.
    pub fn begin_stop(&self) {
        self.stack.identity_server.begin_stop();
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.stack.identity_server.stop().await.expect("served");
    }
}
