//! The account takeover that any signed-in user could once do, tried through the gateway:
//! list every email, point the victim's account at our mailbox, reset its password, sign in
//! as the victim. It fails at its first steps; the authz management methods refuse a plain
//! user too; and an administrator can do what the plain user could not.

use serde_json::json;

use crate::support::Stack;

const IDENTITY: &str = "/platform.identity.v1.IdentityService";

#[tokio::test]
async fn the_takeover_chain_fails_at_its_first_step_through_the_gateway() {
    let stack = Stack::start(|_| {}).await;
    let victim = stack.services.user("victim@example.com").await;
    let mallory = stack.services.user("mallory@example.com").await;
    let token = Some(mallory.access_token.as_str());
    let call = |method: &'static str, body: serde_json::Value| {
        let stack = &stack;
        async move {
            stack
                .connect(&format!("{IDENTITY}/{method}"), token, body)
                .await
        }
    };
    // Themself: yes.
    let (status, _) = call("GetUser", json!({"id": mallory.id})).await;
    assert_eq!(status, 200);
    // Every step of the chain, and its relatives: no.
    for (method, body) in [
        ("ListUsers", json!({})),
        ("GetUser", json!({"id": victim.id})),
        (
            "UpdateUser",
            json!({"id": victim.id, "email": "mallory+victim@example.com"}),
        ),
        ("UpdateUser", json!({"id": victim.id, "disabled": true})),
        ("DeleteUser", json!({"id": victim.id})),
    ] {
        let (status, answer) = call(method, body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("permission_denied")),
            "{method}: {answer}"
        );
    }
    // The victim still signs in with their own password.
    stack.services.login(&victim.id, &victim.email).await;
    // An administrator may.
    let admin = stack.services.admin("root@example.com").await;
    let (status, answer) = stack
        .connect(
            &format!("{IDENTITY}/ListUsers"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["users"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_plain_user_cannot_manage_roles_at_authz() {
    // The services' own authz here, at its port (the gateway's authz upstream in this stack
    // is an echo server).
    let stack = Stack::start(|_| {}).await;
    let mallory = stack.services.user("mallory@example.com").await;
    let authz = stack.services.authz;
    let bearer = mallory.bearer();
    for (method, body) in [
        ("AssignRole", json!({"userId": mallory.id, "role": "admin"})),
        (
            "CreateRole",
            json!({"role": {"name": "mine", "permissions": ["*"]}}),
        ),
        ("ListRoles", json!({})),
        ("GetUserRoles", json!({"userId": "someone-else"})),
    ] {
        let (status, answer) = stack
            .services
            .call(
                authz,
                &format!("/platform.authz.v1.AuthzService/{method}"),
                Some(&bearer),
                body,
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("permission_denied")),
            "{method}: {answer}"
        );
    }
    let (status, answer) = stack
        .services
        .call(
            authz,
            "/platform.authz.v1.AuthzService/GetUserRoles",
            Some(&bearer),
            json!({"userId": mallory.id}),
        )
        .await;
    assert_eq!(status, 200, "their own roles: {answer}");
}
