//! Every IdentityServiceClient method, over gRPC and over Connect JSON, against a real
//! identity service (with the auth and authz services it works with), called as an
//! administrator, and VerifyPassword as the auth service.

use platform_clients::{ErrorCode, Protocol};
use platform_proto::identity::v1 as pb;
use platform_testkit::mail::{link_token, wait_for_message};

use std::sync::Arc;

use platform_clients::credentials::Bearer;
use platform_teststack::TestStack;

use crate::support::{PASSWORD, clients_config, static_factory};

async fn every_method(protocol: Protocol) {
    let stack = TestStack::start().await;
    let admin = stack.admin("admin@example.com").await;
    let url = format!("http://{}", stack.identity);
    let as_admin = Arc::new(Bearer::new(&admin.bearer()).expect("bearer"));
    let factory = static_factory(
        "identity",
        std::slice::from_ref(&url),
        clients_config(protocol),
    )
    .with_credentials(as_admin);
    let client = factory.identity();
    let (auth_token, _) = stack.auth_app.service.sign_service("auth").expect("token");
    let as_auth = Arc::new(Bearer::new(&format!("Bearer {auth_token}")).expect("bearer"));
    let auth = static_factory("identity", &[url], clients_config(protocol))
        .with_credentials(as_auth)
        .identity();
    let mail = stack.dir.path().join("mail");

    let user = client
        .create_user(pb::CreateUserRequest {
            email: "ada@example.com".into(),
            password: PASSWORD.into(),
            display_name: "Ada".into(),
        })
        .await
        .expect("create_user")
        .user
        .expect("user");
    let got = client
        .get_user(pb::GetUserRequest {
            id: user.id.clone(),
        })
        .await
        .expect("get_user");
    assert_eq!(got.user.as_ref(), Some(&user));
    let by_email = client
        .get_user_by_email(pb::GetUserByEmailRequest {
            email: "ADA@example.com".into(),
        })
        .await
        .expect("get_user_by_email");
    assert_eq!(by_email.user.map(|u| u.id), Some(user.id.clone()));

    let welcome = wait_for_message(&mail, "ada@example.com", 0)
        .await
        .expect("mail");
    let verified = client
        .verify_email(pb::VerifyEmailRequest {
            token: link_token(&welcome).expect("token"),
        })
        .await
        .expect("verify_email");
    assert!(verified.user.expect("user").email_verified);

    let updated = client
        .update_user(pb::UpdateUserRequest {
            id: user.id.clone(),
            display_name: Some("Countess".into()),
            expected_version: Some(2),
            ..Default::default()
        })
        .await
        .expect("update_user")
        .user
        .expect("user");
    assert_eq!(updated.display_name, "Countess");

    let listed = client
        .list_users(pb::ListUsersRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("list_users");
    assert_eq!(listed.users.len(), 2, "the administrator and Ada");

    client
        .request_password_reset(pb::RequestPasswordResetRequest {
            email: "ada@example.com".into(),
        })
        .await
        .expect("request_password_reset");
    let reset = wait_for_message(&mail, "ada@example.com", 1)
        .await
        .expect("mail");
    client
        .reset_password(pb::ResetPasswordRequest {
            token: link_token(&reset).expect("token"),
            new_password: "a new passphrase".into(),
        })
        .await
        .expect("reset_password");
    let checked = auth
        .verify_password(pb::VerifyPasswordRequest {
            email: "ada@example.com".into(),
            password: "a new passphrase".into(),
        })
        .await
        .expect("verify_password");
    assert_eq!(checked.user.map(|u| u.id), Some(user.id.clone()));

    client
        .delete_user(pb::DeleteUserRequest {
            id: user.id.clone(),
        })
        .await
        .expect("delete_user");

    // Errors keep their platform code over either transport.
    let err = client
        .get_user(pb::GetUserRequest {
            id: user.id.clone(),
        })
        .await
        .expect_err("deleted");
    assert_eq!(err.code, ErrorCode::NotFound, "{err}");
    let err = client
        .get_user(pb::GetUserRequest { id: "nope".into() })
        .await
        .expect_err("malformed");
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err}");
    assert!(err.message.contains("id"), "{err}");
    let err = auth
        .verify_password(pb::VerifyPasswordRequest {
            email: "ada@example.com".into(),
            password: "wrong".into(),
        })
        .await
        .expect_err("wrong password");
    assert_eq!(err.code, ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn every_identity_method_works_over_grpc() {
    every_method(Protocol::Grpc).await;
}

#[tokio::test]
async fn every_identity_method_works_over_connect_json() {
    every_method(Protocol::Connect).await;
}
