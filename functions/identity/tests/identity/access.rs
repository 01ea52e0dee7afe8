//! Who may call what, straight at the service's port (no gateway in front): the takeover
//! chain fails at its first step, nothing answers without a verified caller, a forged
//! identity header names nobody, and VerifyPassword answers the auth service only.

use serde_json::json;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn a_plain_user_reads_themself_and_no_one_else() {
    let app = TestApp::spawn().await;
    let mallory = app.user("mallory@example.com").await;
    let victim = app.user("victim@example.com").await;
    let me = mallory.bearer();
    let (status, body) = app
        .connect_json_as(&me, "GetUser", json!({"id": mallory.id}))
        .await;
    assert_eq!(
        (status, body["user"]["email"].as_str()),
        (200, Some("mallory@example.com"))
    );
    for (method, body) in [
        ("ListUsers", json!({})),
        ("GetUser", json!({"id": victim.id})),
        ("GetUserByEmail", json!({"email": "victim@example.com"})),
        ("GetUserByEmail", json!({"email": "nobody@example.com"})),
        // The takeover chain's first step: the victim's email pointed at our mailbox.
        (
            "UpdateUser",
            json!({"id": victim.id, "email": "mallory+v@example.com"}),
        ),
        ("UpdateUser", json!({"id": victim.id, "disabled": true})),
        ("DeleteUser", json!({"id": victim.id})),
        ("UpdateUser", json!({"id": mallory.id, "disabled": true})),
        (
            "VerifyPassword",
            json!({"email": "victim@example.com", "password": PASSWORD}),
        ),
    ] {
        let (status, answer) = app.connect_json_as(&me, method, body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("permission_denied")),
            "{method} {body}: {answer}"
        );
    }
    // Their own email: only with their current password.
    let change = json!({"id": mallory.id, "email": "mallory2@example.com"});
    let (status, answer) = app.connect_json_as(&me, "UpdateUser", change).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("current_password"),
        "{answer}"
    );
    let change =
        json!({"id": mallory.id, "email": "mallory2@example.com", "currentPassword": PASSWORD});
    let (status, answer) = app.connect_json_as(&me, "UpdateUser", change).await;
    assert_eq!(status, 200, "{answer}");
    // The victim is untouched.
    let (_, body) = app.connect_json("GetUser", json!({"id": victim.id})).await;
    assert_eq!(body["user"]["email"], "victim@example.com");
    assert_eq!(body["user"]["disabled"].as_bool(), None, "not disabled");
}

#[tokio::test]
async fn without_a_verifiable_credential_only_public_methods_answer() {
    let app = TestApp::spawn().await;
    let victim = app.user("victim@example.com").await;
    for (method, body) in [
        ("ListUsers", json!({})),
        ("GetUser", json!({"id": victim.id})),
        (
            "VerifyPassword",
            json!({"email": "victim@example.com", "password": PASSWORD}),
        ),
        (
            "ChangePassword",
            json!({"currentPassword": PASSWORD, "newPassword": "x"}),
        ),
    ] {
        let (status, answer) = app.connect_json_anonymous(method, body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("unauthenticated")),
            "{method}"
        );
    }
    // A forged identity header is no credential.
    let (status, _, _) = app
        .request(
            "POST",
            "/platform.identity.v1.IdentityService/ListUsers",
            &[
                ("content-type", "application/json"),
                ("x-user-id", &victim.id),
                ("authorization", "Bearer forged.token.here"),
            ],
            "{}",
        )
        .await;
    assert_eq!(status, 401);
    // Public methods still answer anyone.
    let (status, _) = app
        .connect_json_anonymous(
            "RequestPasswordReset",
            json!({"email": "victim@example.com"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let here = app.user("ann@example.com").await;
    let elsewhere = app.stack.login(&here.id, "ann@example.com").await;
    let (status, answer) = app
        .connect_json_as(
            &here.bearer(),
            "ChangePassword",
            json!({"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let refresh = |token: String| {
        let stack = &app.stack;
        async move {
            stack
                .call(
                    stack.auth,
                    "/platform.auth.v1.AuthService/RefreshToken",
                    None,
                    json!({"refreshToken": token}),
                )
                .await
                .0
        }
    };
    assert_eq!(
        refresh(elsewhere.refresh_token).await,
        401,
        "the other session ended"
    );
    assert_eq!(refresh(here.refresh_token).await, 200, "this one goes on");
}

#[tokio::test]
async fn the_bootstrap_address_becomes_admin_once_verified_and_not_before() {
    use platform_kernel::caller::Caller;
    let stack = platform_teststack::TestStack::start_with(|c| {
        c.identity.own.bootstrap.admin_email = Some("boss@example.com".to_owned());
    })
    .await;
    let boss = stack.user("boss@example.com").await;
    let gateway = Caller::service("gateway");
    let is_admin = || {
        stack
            .authz_app
            .service
            .has_permission(&gateway, &boss.id, "authz.roles.manage", "", "")
    };
    assert!(!is_admin().await.expect("check"), "not before verification");
    let mail = stack.dir.path().join("mail");
    let welcome = platform_testkit::mail::wait_for_message(&mail, "boss@example.com", 0)
        .await
        .expect("welcome mail");
    let token = platform_testkit::mail::link_token(&welcome).expect("token");
    let (status, body) = stack
        .identity_call("VerifyEmail", None, json!({"token": token}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(is_admin().await.expect("check"), "admin once verified");
}
