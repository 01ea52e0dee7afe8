//! Every AuthServiceClient method, over gRPC and over Connect JSON, against a real auth
//! service (which itself calls a real identity service through its own client).

use std::sync::Arc;

use auth::AuthConfig;
use platform_clients::{ClientFactory, ErrorCode, Protocol};
use platform_discovery::{DiscoveryConfig, StaticRegistry};
use platform_proto::auth::v1 as pb;
use platform_proto::identity::v1 as identity_pb;
use platform_testkit::server::{Later, Served, service_config};

use crate::support::{IdentityInstance, PASSWORD, clients_config};

async fn every_method(protocol: Protocol) {
    let dir = tempfile::tempdir().expect("tempdir");
    // Auth listens first: identity checks auth's service token against auth's keys.
    let auth_router = Later::default();
    let server = Served::start(auth_router.clone()).await;
    let auth_url = server.url("");
    let identity = IdentityInstance::start_with_auth(dir.path(), Some(auth_url.clone())).await;
    let mut config = service_config::<AuthConfig>(dir.path());
    config
        .base
        .discovery
        .static_instances
        .insert("identity".into(), vec![identity.url()]);
    auth_router.set(auth::build(&config).await.expect("auth").router);

    let mut discovery = DiscoveryConfig::default();
    discovery
        .static_instances
        .insert("identity".into(), vec![identity.url()]);
    discovery
        .static_instances
        .insert("auth".into(), vec![auth_url]);
    let factory = ClientFactory::new(
        Arc::new(StaticRegistry::new(&discovery.static_instances)),
        clients_config(protocol),
    );
    factory
        .identity()
        .create_user(identity_pb::CreateUserRequest {
            email: "ada@example.com".into(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .expect("user");
    let client = factory.auth();

    let pair = client
        .login(pb::LoginRequest {
            email: "ada@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    assert_eq!(pair.token_type, "Bearer");
    let claims = client
        .validate_token(pb::ValidateTokenRequest {
            token: pair.access_token.clone(),
        })
        .await
        .expect("validate_token")
        .claims
        .expect("claims");
    assert!(!claims.subject.is_empty());
    let rotated = client
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: pair.refresh_token.clone(),
        })
        .await
        .expect("refresh_token");
    client
        .logout(pb::LogoutRequest {
            refresh_token: rotated.refresh_token.clone(),
            access_token: rotated.access_token.clone(),
        })
        .await
        .expect("logout");
    let err = client
        .validate_token(pb::ValidateTokenRequest {
            token: rotated.access_token,
        })
        .await
        .expect_err("revoked");
    assert_eq!(err.code, ErrorCode::Unauthenticated, "{err}");
    let err = client
        .login(pb::LoginRequest {
            email: "ada@example.com".into(),
            password: "wrong".into(),
        })
        .await
        .expect_err("wrong password");
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_method_works_over_grpc() {
    every_method(Protocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_method_works_over_connect_json() {
    every_method(Protocol::Connect).await;
}
