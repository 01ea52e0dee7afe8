//! Multi-factor authentication end to end, through the gateway: enrol with a token, log in
//! in two steps, a replayed code and a used recovery code refused, wrong codes limited with
//! Retry-After, and the new methods refused to anyone they are not for.

use std::sync::Arc;

use auth::domain::totp;
use platform_kernel::clock::SystemClock;
use serde_json::{Value, json};

use crate::support::Stack;

const AUTH: &str = "/platform.auth.v1.AuthService";
const GET_USER: &str = "/platform.identity.v1.IdentityService/GetUser";

fn unbase32(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0, Vec::new());
    for c in text.bytes() {
        let value = alphabet.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The authenticator app's code for the step `ahead` steps from now (one ahead is still
/// accepted, and later than any code used so far).
fn code(secret: &[u8], ahead: i64) -> String {
    totp::code(
        secret,
        totp::step_at(chrono::Utc::now().timestamp()) + ahead,
    )
}

async fn call(stack: &Stack, method: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    stack
        .connect(&format!("{AUTH}/{method}"), token, body)
        .await
}

#[tokio::test]
async fn totp_through_the_gateway_enrol_log_in_replay_recover_and_be_limited() {
    let stack = Stack::start_full(
        |services| {
            services.auth.base.server.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        },
        |gateway| {
            gateway.own.rate_limit.routes.clear();
            gateway.own.rate_limit.rps = 10_000;
            gateway.own.rate_limit.burst = 10_000;
        },
        Arc::new(SystemClock),
    )
    .await;
    let ada = stack.services.user("ada@example.com").await;
    let other = stack.services.user("mallory@example.com").await;

    // Enrolment needs a signed-in user.
    assert_eq!(call(&stack, "EnrollTotp", None, json!({})).await.0, 401);
    let (status, enrolment) = call(&stack, "EnrollTotp", Some(&ada.access_token), json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let uri = enrolment["otpauthUri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/Platform:ada@example.com?secret="),
        "{uri}"
    );
    let secret = unbase32(enrolment["secret"].as_str().expect("secret"));
    let (status, body) = call(
        &stack,
        "ConfirmTotp",
        Some(&ada.access_token),
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(status, 400, "not the app's code: {body}");
    let (status, confirmed) = call(
        &stack,
        "ConfirmTotp",
        Some(&ada.access_token),
        json!({"code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let recovery: Vec<String> = confirmed["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    // Nobody else turns it off.
    let (status, body) = call(
        &stack,
        "ResetMfa",
        Some(&other.access_token),
        json!({"userId": ada.id}),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let login = || async {
        let (status, body) = call(
            &stack,
            "Login",
            None,
            json!({"email": "ada@example.com", "password": platform_teststack::PASSWORD}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mfaRequired"], true, "{body}");
        assert!(
            body.get("accessToken").is_none(),
            "no tokens before the second factor: {body}"
        );
        body["mfaChallenge"].as_str().expect("challenge").to_owned()
    };
    let stack = &stack;
    let verify = |challenge: String, body: Value| async move {
        let mut body = body;
        body["mfaChallenge"] = Value::String(challenge);
        call(stack, "VerifyMfa", None, body).await
    };

    // The second step with the app's code.
    let next = code(&secret, 1);
    let (status, tokens) = verify(login().await, json!({"code": next})).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["accessToken"].as_str().expect("token");
    let (status, me) = stack
        .connect(GET_USER, Some(access), json!({"id": ada.id}))
        .await;
    assert_eq!(status, 200, "{me}");
    let (status, claims) = stack
        .services
        .call(
            stack.auth,
            &format!("{AUTH}/ValidateToken"),
            None,
            json!({"token": access}),
        )
        .await;
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["claims"]["amr"], json!(["pwd", "otp", "mfa"]));

    // The same code again: refused.
    let (status, body) = verify(login().await, json!({"code": next})).await;
    assert_eq!(status, 401, "a replayed code: {body}");

    // A recovery code, once.
    let (status, body) = verify(login().await, json!({"recoveryCode": recovery[0]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recoveryCodesLeft"], 9);
    let (status, body) = verify(login().await, json!({"recoveryCode": recovery[0]})).await;
    assert_eq!(status, 401, "a used recovery code: {body}");

    // Ten wrong codes: limited, with Retry-After, even for the right code meanwhile.
    let challenge = login().await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let body = json!({"mfaChallenge": challenge, "code": "999999"});
        let (status, headers, _) = stack
            .call(
                "POST",
                &format!("{AUTH}/VerifyMfa"),
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await;
        statuses.push(status);
        if status == 429 {
            retry_after = headers.get("retry-after").cloned();
        }
    }
    // Five failures lock the (account, client) pair: the used recovery code above was the
    // first since the last success.
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429, 429, 429, 429, 429, 429],
        "{statuses:?}"
    );
    assert!(retry_after.is_some(), "every 429 says when to retry");
    let (status, _) = verify(challenge, json!({"recoveryCode": recovery[1]})).await;
    assert_eq!(status, 429, "locked, whatever is presented");
}
