//! Who may call the RPCs the authorization work added (ChangePassword, CheckPermissions,
//! ListRoleHolders, RevokeSessions, IssueServiceToken), the second factor's (EnrollTotp,
//! ConfirmTotp, ResetMfa, VerifyMfa), the audit log's (Record, Query, VerifyChain) and the
//! mail pages' (ResendVerification, public: it answers anyone alike and is limited):
//! everyone else is refused, at the
//! gateway and at the service's own port, with no credential and with a forged identity
//! header; and a signed-in user without the right gets permission_denied at the port.

use serde_json::{Value, json};

use crate::support::Stack;

/// (service, method, a request body) for each added RPC a user may reach.
fn added(victim: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "identity",
            "/platform.identity.v1.IdentityService/ChangePassword",
            json!({"currentPassword": "x", "newPassword": "an entirely new one"}),
        ),
        (
            "authz",
            "/platform.authz.v1.AuthzService/CheckPermissions",
            json!({"userId": victim, "items": [{"permission": "identity.users.read"}]}),
        ),
        (
            "authz",
            "/platform.authz.v1.AuthzService/ListRoleHolders",
            json!({"role": "admin"}),
        ),
        (
            "auth",
            "/platform.auth.v1.AuthService/RevokeSessions",
            json!({"userId": victim}),
        ),
        // The second factor (#22): a signed-in user's own, or auth.mfa.reset.
        (
            "auth",
            "/platform.auth.v1.AuthService/EnrollTotp",
            json!({}),
        ),
        (
            "auth",
            "/platform.auth.v1.AuthService/ConfirmTotp",
            json!({"code": "123456"}),
        ),
        (
            "auth",
            "/platform.auth.v1.AuthService/ResetMfa",
            json!({"userId": victim, "code": "123456"}),
        ),
        // The audit log (#23): audit.logs.read.
        (
            "audit",
            "/platform.audit.v1.AuditService/Query",
            json!({"actorId": victim}),
        ),
        (
            "audit",
            "/platform.audit.v1.AuditService/VerifyChain",
            json!({}),
        ),
    ]
}

#[tokio::test]
async fn without_a_credential_or_with_a_forged_header_the_added_rpcs_refuse() {
    let stack = Stack::start(|_| {}).await;
    let victim = stack.services.user("victim@example.com").await;
    let services = &stack.services;
    for (service, path, body) in added(&victim.id) {
        let port = match service {
            "identity" => services.identity,
            "auth" => services.auth,
            "audit" => services.audit,
            _ => services.authz,
        };
        // At the gateway: no token, and a forged identity header instead of one.
        for headers in [
            vec![("content-type", "application/json")],
            vec![
                ("content-type", "application/json"),
                ("x-user-id", victim.id.as_str()),
            ],
        ] {
            let (status, _, _) = stack.call("POST", path, &headers, body.to_string()).await;
            assert_eq!(status, 401, "{path} at the gateway with {headers:?}");
        }
        // At the service's port: the same.
        let (status, answer) = services.call(port, path, None, body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("unauthenticated")),
            "{path} at its port: {answer}"
        );
        let (status, _) = services
            .call_with(
                port,
                path,
                &[("x-user-id", victim.id.as_str())],
                body.clone(),
            )
            .await;
        assert_eq!(status, 401, "{path} at its port with a forged x-user-id");
        let forged = format!("Bearer forged.{}.token", victim.id);
        let (status, _) = services.call(port, path, Some(&forged), body.clone()).await;
        assert_eq!(status, 401, "{path} at its port with a forged token");
    }
    // IssueServiceToken is internal: not at the gateway, and at auth's port only for a
    // valid assertion of a registered service.
    // VerifyMfa is public: the login's challenge is the credential. An unknown one is
    // refused, whatever identity header comes with it.
    let verify = "/platform.auth.v1.AuthService/VerifyMfa";
    let body = json!({"mfaChallenge": "not-a-challenge", "code": "123456"});
    for headers in [
        vec![("content-type", "application/json")],
        vec![
            ("content-type", "application/json"),
            ("x-user-id", victim.id.as_str()),
        ],
    ] {
        let (status, _, _) = stack.call("POST", verify, &headers, body.to_string()).await;
        assert_eq!(status, 401, "VerifyMfa at the gateway with {headers:?}");
        let (status, answer) = services
            .call_with(services.auth, verify, &headers[1..], body.clone())
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("unauthenticated")),
            "VerifyMfa at its port with {headers:?}: {answer}"
        );
    }
    // Record is for services only: not at the gateway; at audit's port, not without a
    // service's credential.
    let record = "/platform.audit.v1.AuditService/Record";
    let body = json!({"record": {"action": "user.created"}});
    let (status, _, _) = stack
        .call(
            "POST",
            record,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await;
    assert_eq!(status, 404, "never routed by the gateway");
    for headers in [vec![], vec![("x-user-id", victim.id.as_str())]] {
        let (status, _) = services
            .call_with(services.audit, record, &headers, body.clone())
            .await;
        assert_eq!(status, 401, "Record at its port with {headers:?}");
    }
    let issue = "/platform.auth.v1.AuthService/IssueServiceToken";
    let (status, _, _) = stack
        .call("POST", issue, &[("content-type", "application/json")], "{}")
        .await;
    assert_eq!(status, 404, "never routed by the gateway");
    let (status, answer) = services
        .call(
            services.auth,
            issue,
            None,
            json!({"assertion": "not.an.assertion"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthenticated")),
        "{answer}"
    );
}

#[tokio::test]
async fn a_plain_user_is_refused_what_the_added_rpcs_keep_for_others() {
    let stack = Stack::start(|_| {}).await;
    let services = &stack.services;
    let victim = services.user("victim@example.com").await;
    let mallory = services.user("mallory@example.com").await;
    let bearer = mallory.bearer();
    for (port, path, body) in [
        (
            services.authz,
            "/platform.authz.v1.AuthzService/CheckPermissions",
            json!({"userId": victim.id, "items": [{"permission": "identity.users.read"}]}),
        ),
        (
            services.authz,
            "/platform.authz.v1.AuthzService/ListRoleHolders",
            json!({"role": "admin"}),
        ),
        (
            services.auth,
            "/platform.auth.v1.AuthService/RevokeSessions",
            json!({"userId": victim.id}),
        ),
        // Someone else's password cannot be changed: ChangePassword is about the caller,
        // who must know their own.
        (
            services.identity,
            "/platform.identity.v1.IdentityService/ChangePassword",
            json!({"currentPassword": "victim's, guessed", "newPassword": "an entirely new one"}),
        ),
        // Someone else's second factor: auth.mfa.reset only.
        (
            services.auth,
            "/platform.auth.v1.AuthService/ResetMfa",
            json!({"userId": victim.id}),
        ),
        (
            services.audit,
            "/platform.audit.v1.AuditService/Query",
            json!({"actorId": victim.id}),
        ),
        (
            services.audit,
            "/platform.audit.v1.AuditService/VerifyChain",
            json!({}),
        ),
    ] {
        let (status, answer) = services.call(port, path, Some(&bearer), body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("permission_denied")),
            "{path}: {answer}"
        );
    }
    // What they may: their own checks and sessions.
    let (status, answer) = services
        .call(
            services.authz,
            "/platform.authz.v1.AuthzService/CheckPermissions",
            Some(&bearer),
            json!({"userId": mallory.id, "items": [{"permission": "identity.users.read"}]}),
        )
        .await;
    assert_eq!(
        (status, answer["allowed"].clone()),
        (200, json!([false])),
        "{answer}"
    );
    let (status, _) = services
        .call(
            services.auth,
            "/platform.auth.v1.AuthService/RevokeSessions",
            Some(&bearer),
            json!({"userId": mallory.id}),
        )
        .await;
    assert_eq!(status, 200);
}

/// ResendVerification (#27) is public, like RequestPasswordReset: the mailed link is the
/// proof, so there is no caller to refuse. What holds instead, at the gateway and at
/// identity's port, with no credential and with a forged identity header: the answer is the
/// same for an unverified user, a verified one and an unknown address (nothing to learn), a
/// forged `x-user-id` or bearer changes nothing, a malformed address is `invalid_argument`,
/// and past its burst the gateway refuses it (429).
#[tokio::test]
async fn resend_verification_answers_anyone_alike_and_is_limited() {
    let stack = Stack::start(|_| {}).await;
    let services = &stack.services;
    let victim = services.user("victim@example.com").await;
    let admin = services.admin("root@example.com").await;
    let path = "/platform.identity.v1.IdentityService/ResendVerification";
    let forged_bearer = format!("Bearer forged.{}.token", victim.id);
    let mut answers = Vec::new();
    for email in [
        "victim@example.com",
        "root@example.com",
        "nobody@example.com",
    ] {
        let body = json!({"email": email});
        for headers in [
            vec![("content-type", "application/json")],
            vec![
                ("content-type", "application/json"),
                ("x-user-id", admin.id.as_str()),
            ],
        ] {
            let (status, _, answer) = stack.call("POST", path, &headers, body.to_string()).await;
            answers.push((status, String::from_utf8_lossy(&answer).into_owned()));
            let (status, answer) = services
                .call_with(services.identity, path, &headers[1..], body.clone())
                .await;
            answers.push((status, answer.to_string()));
        }
        let (status, answer) = services
            .call(services.identity, path, Some(&forged_bearer), body.clone())
            .await;
        answers.push((status, answer.to_string()));
    }
    assert!(
        answers.iter().all(|a| a == &(200, "{}".to_owned())),
        "the same answer for every address and caller: {answers:?}"
    );
    let (status, answer) = services
        .call(services.identity, path, None, json!({"email": "nope"}))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_argument")),
        "{answer}"
    );
    // The gateway's route limit (1/s, burst 10 per address): six calls above, then 429.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (status, _, _) = stack
            .call(
                "POST",
                path,
                &[("content-type", "application/json")],
                json!({"email": "victim@example.com"}).to_string(),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
