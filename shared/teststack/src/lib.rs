#![doc = include_str!("../README.md")]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform_kernel::caller::Caller;
use platform_testkit::server::{Later, Served, service_config};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

/// The three services' configurations, before they start.
pub struct Configs {
    pub identity: identity::Config,
    pub auth: auth::Config,
    pub authz: authz::Config,
    pub audit: audit::Config,
}

impl Configs {
    /// Every service on the PostgreSQL database at `url` (each in its own schema).
    pub fn postgres(&mut self, url: &str) {
        for database in [
            &mut self.identity.base.database,
            &mut self.auth.base.database,
            &mut self.authz.base.database,
            &mut self.audit.base.database,
        ] {
            database.url = Some(secrecy::SecretString::from(url.to_owned()));
        }
    }
}

impl Configs {
    /// Every service's events through the Kafka brokers at `brokers`.
    pub fn kafka(&mut self, brokers: &str) {
        for kafka in [
            &mut self.identity.base.kafka,
            &mut self.auth.base.kafka,
            &mut self.authz.base.kafka,
            &mut self.audit.base.kafka,
        ] {
            kafka.brokers = Some(brokers.to_owned());
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    /// `Bearer <access token>`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

pub struct TestStack {
    pub identity: SocketAddr,
    pub auth: SocketAddr,
    pub authz: SocketAddr,
    pub audit: SocketAddr,
    pub identity_app: identity::App,
    pub auth_app: auth::App,
    pub authz_app: authz::App,
    pub audit_app: audit::App,
    pub configs: Configs,
    pub dir: tempfile::TempDir,
    pub identity_server: Served,
    pub auth_server: Served,
    pub authz_server: Served,
    pub audit_server: Served,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Configs)) -> Self {
        Self::start_wrapped(tweak, |router| router).await
    }

    /// Serves `wrap(identity's router)`: a test can put a layer of its own in front of it.
    pub async fn start_wrapped(
        tweak: impl FnOnce(&mut Configs),
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Self {
        platform_kernel::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("tempdir");
        // Listening first, routers later: the services need each other's addresses.
        let routers = [
            Later::default(),
            Later::default(),
            Later::default(),
            Later::default(),
        ];
        let identity_server = Served::start(routers[0].clone()).await;
        let auth_server = Served::start(routers[1].clone()).await;
        let authz_server = Served::start(routers[2].clone()).await;
        let audit_server = Served::start(routers[3].clone()).await;
        let [identity, auth, authz, audit] = [
            identity_server.addr,
            auth_server.addr,
            authz_server.addr,
            audit_server.addr,
        ];
        let mut configs = Configs {
            identity: service_config::<identity::IdentityConfig>(dir.path()),
            auth: service_config::<auth::AuthConfig>(dir.path()),
            authz: service_config::<authz::AuthzConfig>(dir.path()),
            audit: service_config::<audit::AuditConfig>(dir.path()),
        };
        for discovery in [
            &mut configs.identity.base.discovery,
            &mut configs.auth.base.discovery,
            &mut configs.authz.base.discovery,
            &mut configs.audit.base.discovery,
        ] {
            for (name, addr) in [
                ("identity", identity),
                ("auth", auth),
                ("authz", authz),
                ("audit", audit),
            ] {
                discovery
                    .static_instances
                    .insert(name.into(), vec![format!("http://{addr}")]);
            }
        }
        tweak(&mut configs);
        let identity_app = identity::build(&configs.identity).await.expect("identity");
        let auth_app = auth::build(&configs.auth).await.expect("auth");
        let authz_app = authz::build(&configs.authz).await.expect("authz");
        let audit_app = audit::build(&configs.audit).await.expect("audit");
        routers[0].set(wrap(identity_app.router.clone()));
        routers[1].set(auth_app.router.clone());
        routers[2].set(authz_app.router.clone());
        routers[3].set(audit_app.router.clone());
        Self {
            identity,
            auth,
            authz,
            audit,
            identity_app,
            auth_app,
            authz_app,
            audit_app,
            configs,
            dir,
            identity_server,
            auth_server,
            authz_server,
            audit_server,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// A Connect JSON call to `addr`, with `authorization` if given: status and body.
    pub async fn call(
        &self,
        addr: SocketAddr,
        path: &str,
        authorization: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| vec![("authorization", value)])
            .unwrap_or_default();
        self.call_with(addr, path, &headers, body).await
    }

    /// The same with any headers (a forged identity header, say).
    pub async fn call_with(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (u16, Value) {
        let (status, _, value) = self.call_full(addr, path, headers, body).await;
        (status, value)
    }

    /// The same, with the response's headers too.
    pub async fn call_full(
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
        let response_headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, response_headers, value)
    }

    /// `IdentityService/<method>`.
    pub async fn identity_call(
        &self,
        method: &str,
        authorization: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let path = format!("/platform.identity.v1.IdentityService/{method}");
        self.call(self.identity, &path, authorization, body).await
    }

    /// Signs `email` up (with [`PASSWORD`]) and in.
    pub async fn user(&self, email: &str) -> TestUser {
        let (status, body) = self
            .identity_call(
                "CreateUser",
                None,
                json!({"email": email, "password": PASSWORD, "displayName": "T"}),
            )
            .await;
        assert_eq!(status, 200, "sign-up: {body}");
        let id = body["user"]["id"].as_str().expect("id").to_owned();
        self.login(&id, email).await
    }

    /// Signs in an existing user.
    pub async fn login(&self, id: &str, email: &str) -> TestUser {
        let (status, body) = self
            .call(
                self.auth,
                "/platform.auth.v1.AuthService/Login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "login: {body}");
        TestUser {
            id: id.to_owned(),
            email: email.to_owned(),
            access_token: body["accessToken"].as_str().expect("token").to_owned(),
            refresh_token: body["refreshToken"].as_str().expect("token").to_owned(),
        }
    }

    /// Leaves the broker's consumer groups (audit's consumer, authz's follower) while the
    /// broker is still there: a consumer dropped after its broker waits to leave.
    pub async fn leave_bus(&mut self) {
        for task in [
            self.audit_app.consumer.take(),
            self.authz_app.follower.take(),
        ]
        .into_iter()
        .flatten()
        {
            task.abort();
            let _ = task.await;
        }
    }

    /// A signed-in user holding the built-in `admin` role (given by the operator's tool).
    pub async fn admin(&self, email: &str) -> TestUser {
        let user = self.user(email).await;
        self.authz_app
            .service
            .assign_role(&Caller::service("platformctl"), &user.id, "admin", "", None)
            .await
            .expect("admin assigned");
        user
    }
}
