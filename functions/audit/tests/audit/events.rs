//! State changes reach the audit log through the outbox and its relay (the embedded default:
//! no broker), exactly once each, with who did it, from where, in which request.

use std::time::{Duration, Instant};

use platform_teststack::TestStack;
use serde_json::{Value, json};

const QUERY: &str = "/platform.audit.v1.AuditService/Query";

/// The audit records of `action` on `resource`, once at least `want` are there (or 10 s;
/// `want` 0: as they are now).
async fn records(
    stack: &TestStack,
    reader: &str,
    action: &str,
    resource: &str,
    want: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = stack
            .call(
                stack.audit,
                QUERY,
                Some(reader),
                json!({"action": action, "resource": resource, "order": "ORDER_OLDEST_FIRST"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = body["records"].as_array().cloned().unwrap_or_default();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn signing_up_gives_exactly_one_audit_record_with_actor_request_and_address() {
    let stack = TestStack::start().await;
    let admin = stack.admin("root@example.com").await;
    let (status, body) = stack
        .call_with(
            stack.identity,
            "/platform.identity.v1.IdentityService/CreateUser",
            &[("x-request-id", "req-signup-1"), ("user-agent", "curl/8.5")],
            json!({"email": "ada@example.com", "password": platform_teststack::PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["user"]["id"].as_str().expect("id").to_owned();
    let resource = format!("identity/users/{id}");
    let found = records(&stack, &admin.bearer(), "user.created", &resource, 1).await;
    assert_eq!(found.len(), 1, "{found:?}");
    // And no second one arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found = records(&stack, &admin.bearer(), "user.created", &resource, 0).await;
    assert_eq!(found.len(), 1, "exactly once: {found:?}");
    let record = &found[0];
    assert_eq!(
        record["actorId"],
        id.as_str(),
        "self-service: the new user acted"
    );
    assert_eq!(record["requestId"], "req-signup-1");
    assert_eq!(record["clientIp"], "127.0.0.1");
    assert_eq!(record["userAgent"], "curl/8.5");
    assert_eq!(record["outcome"], "OUTCOME_SUCCESS");

    // An administrator's change names the administrator.
    let (status, body) = stack
        .identity_call(
            "UpdateUser",
            Some(&admin.bearer()),
            json!({"id": id, "disabled": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let disabled = records(&stack, &admin.bearer(), "user.disabled", &resource, 1).await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["actorId"], admin.id.as_str());
}
