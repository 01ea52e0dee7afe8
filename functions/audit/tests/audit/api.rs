//! The audit service through a real server, with the real identity, auth and authz: Record
//! by a service with its token, Query and VerifyChain by a holder of audit.logs.read, every
//! one else refused.

use platform_teststack::TestStack;
use serde_json::json;

const AUDIT: &str = "/platform.audit.v1.AuditService";

#[tokio::test]
async fn a_service_records_a_reader_queries_and_verifies_and_everyone_else_is_refused() {
    let stack = TestStack::start().await;
    let (service_token, _) = stack
        .auth_app
        .service
        .sign_service("identity")
        .expect("a service token");
    let service = format!("Bearer {service_token}");
    let record = json!({"record": {
        "actorId": "01a20000-0000-7000-8000-000000000001",
        "action": "identity.test_recorded",
        "resource": "identity/users/01a20000-0000-7000-8000-000000000001",
        "outcome": "OUTCOME_SUCCESS",
        "clientIp": "203.0.113.50",
        "requestId": "req-1",
        "metadata": {"signup": "open"}
    }});
    let (status, body) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Record"),
            Some(&service),
            record.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let stored = &body["record"];
    assert_eq!(stored["sequence"], "1", "{body}");
    assert_eq!(stored["hash"].as_str().map(str::len), Some(64));
    assert!(
        stored["occurredAt"].is_string(),
        "the service sets the time: {body}"
    );

    let user = stack.user("ann@example.com").await;
    let admin = stack.admin("root@example.com").await;
    // Record: services only.
    let (status, _) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Record"),
            Some(&user.bearer()),
            record.clone(),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Record"),
            None,
            record.clone(),
        )
        .await;
    assert_eq!(status, 401);
    // A bad record is refused naming the field.
    let (status, body) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Record"),
            Some(&service),
            json!({"record": {"action": "Not An Action"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("action")),
        "{body}"
    );

    // Query and VerifyChain: audit.logs.read (the admin holds every permission).
    let query = json!({"actionPrefix": "identity.test", "order": "ORDER_OLDEST_FIRST", "includeTotal": true});
    let (status, _) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Query"),
            Some(&user.bearer()),
            query.clone(),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/Query"),
            Some(&admin.bearer()),
            query,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], "1", "{body}");
    assert_eq!(body["records"][0]["clientIp"], "203.0.113.50");
    assert_eq!(body["records"][0]["metadata"]["signup"], "open");
    let (status, body) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/VerifyChain"),
            Some(&admin.bearer()),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    let (status, _) = stack
        .call(
            stack.audit,
            &format!("{AUDIT}/VerifyChain"),
            Some(&service),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "a service records, it does not read");
}
