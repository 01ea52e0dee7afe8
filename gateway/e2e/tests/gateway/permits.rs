//! The gateway enforces each method's declared permission (the manifest's) before the call
//! goes upstream: a user without it is refused at the gateway (the upstream never sees the
//! call); one who holds it, globally or on some resource, goes on; a grant counts within
//! about a second; authz out of reach is `unavailable`, never a pass.

use std::time::{Duration, Instant};

use platform_kernel::caller::Caller;
use serde_json::json;

use crate::support::{Stack, echo};

const LIST_USERS: &str = "/platform.identity.v1.IdentityService/ListUsers";
const DELETE_USER: &str = "/platform.identity.v1.IdentityService/DeleteUser";

#[tokio::test]
async fn a_method_needing_a_permission_is_refused_at_the_gateway_without_it() {
    // Identity is an echo server behind this gateway: whatever passes the gateway is 200,
    // and the echo remembers whether anything reached it.
    let (identity, reached) = echo(Duration::ZERO).await;
    let stack = Stack::start(|c| {
        c.base
            .discovery
            .static_instances
            .insert("identity".into(), vec![format!("http://{identity}")]);
    })
    .await;
    let plain = stack.services.user("plain@example.com").await;
    let (status, body) = stack
        .connect(LIST_USERS, Some(&plain.access_token), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("identity.users.list")),
        "{body}"
    );
    assert_eq!(reached.header("x-user-id"), None, "never went upstream");

    // An administrator (every permission) goes on.
    let admin = stack.services.admin("root@example.com").await;
    let (status, body) = stack
        .connect(LIST_USERS, Some(&admin.access_token), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        reached.header("x-user-id").as_deref(),
        Some(admin.id.as_str())
    );

    // A permission held on one resource passes the coarse check (the service decides which
    // users): DeleteUser for a user who may delete one particular user.
    let authz = &stack.services.authz_app.service;
    let root = Caller::user(&admin.id);
    authz
        .create_role(&root, "deleter", "", &["identity.users.delete".into()])
        .await
        .expect("role");
    let (status, _) = stack
        .connect(
            DELETE_USER,
            Some(&plain.access_token),
            json!({"id": admin.id}),
        )
        .await;
    assert_eq!(status, 403, "not yet");
    authz
        .assign_role(
            &root,
            &plain.id,
            "deleter",
            &format!("identity/users/{}", admin.id),
            None,
        )
        .await
        .expect("assigned on one user");
    // A "not held" answer is kept for a second at most.
    let granted = Instant::now();
    loop {
        let (status, body) = stack
            .connect(
                DELETE_USER,
                Some(&plain.access_token),
                json!({"id": admin.id}),
            )
            .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 403, "{body}");
        assert!(
            granted.elapsed() < Duration::from_secs(3),
            "the grant never counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the grant counted at the gateway after {:?}",
        granted.elapsed()
    );
    // Still nothing that needs identity.users.list.
    let (status, _) = stack
        .connect(LIST_USERS, Some(&plain.access_token), json!({}))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn with_authz_out_of_reach_the_check_fails_closed() {
    let stack = Stack::start(|c| {
        c.base
            .discovery
            .static_instances
            .insert("authz".into(), vec!["http://127.0.0.1:9".into()]);
    })
    .await;
    let user = stack.services.user("ada@example.com").await;
    let (status, body) = stack
        .connect(LIST_USERS, Some(&user.access_token), json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    // A method that needs no permission does not ask authz.
    let (status, body) = stack
        .connect(
            "/platform.identity.v1.IdentityService/GetUser",
            Some(&user.access_token),
            json!({"id": user.id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
