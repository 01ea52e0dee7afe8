//! The pages on the core with its test ports (no network): what a GET may and may not do,
//! the cross-site refusal, the errors next to their fields, the security headers.

use axum::body::Body;
use chrono::Duration;
use http::Request;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::service::testing::Harness;

/// (status, headers, page) of one request to the pages.
async fn call(
    h: &Harness,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> (u16, http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request");
    let response = super::routes(h.service.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn post(token: &str) -> String {
    serde_urlencoded::to_string([("token", token)]).expect("form")
}

/// A mailed link opened: (status, headers, page).
async fn open(h: &Harness, path: &str, token: &str) -> (u16, http::HeaderMap, String) {
    call(h, "GET", &format!("{path}?token={token}"), &[], "").await
}

/// The reset form posted: (status, page).
async fn reset(h: &Harness, token: &str, new_password: &str, confirm: &str) -> (u16, String) {
    let form = serde_urlencoded::to_string([
        ("token", token),
        ("new_password", new_password),
        ("confirm", confirm),
    ])
    .expect("form");
    let (status, _, page) = call(h, "POST", "/reset-password", &[], &form).await;
    (status, page)
}

#[tokio::test]
async fn a_get_of_the_link_uses_nothing_and_the_post_verifies_once() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    let token = h.mailer.last_token().expect("token");
    let link = format!("/verify-email?token={token}");
    // A mail scanner, twice.
    for _ in 0..2 {
        let (status, headers, page) = call(&h, "GET", &link, &[], "").await;
        assert_eq!(status, 200);
        platform_testkit::mail::assert_page_headers(&headers, "confirm page");
        assert!(page.contains("Confirm my email"), "{page}");
        assert!(
            page.contains(&format!("name=\"token\" value=\"{token}\"")),
            "{page}"
        );
    }
    let user = h.store_user("ada@example.com").await;
    assert!(!user.email_verified, "a GET verifies nothing");

    let (status, headers, page) = call(&h, "POST", "/verify-email", &[], &post(&token)).await;
    assert_eq!(status, 200, "{page}");
    platform_testkit::mail::assert_page_headers(&headers, "confirmed page");
    assert!(page.contains("ada@example.com is confirmed"), "{page}");
    assert!(h.store_user("ada@example.com").await.email_verified);

    let (status, headers, page) = call(&h, "POST", "/verify-email", &[], &post(&token)).await;
    assert_eq!(status, 400, "used");
    platform_testkit::mail::assert_page_headers(&headers, "invalid link page");
    assert!(page.contains("This link no longer works"), "{page}");
    assert!(page.contains("action=\"/verify-email/resend\""), "{page}");
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_and_leaves_the_token_usable() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    let token = h.mailer.last_token().expect("token");
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site"), ("origin", "null")],
    ] {
        let (status, response_headers, page) =
            call(&h, "POST", "/verify-email", headers, &post(&token)).await;
        assert_eq!(status, 403, "{headers:?}");
        platform_testkit::mail::assert_page_headers(&response_headers, "refusal");
        assert!(page.contains("sent from another site"), "{page}");
    }
    assert!(!h.store_user("ada@example.com").await.email_verified);
    // This site's own form: a browser says same-origin (and, under no-referrer, Origin null).
    let (status, _, page) = call(
        &h,
        "POST",
        "/verify-email",
        &[("sec-fetch-site", "same-origin"), ("origin", "null")],
        &post(&token),
    )
    .await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn the_public_origin_is_accepted_without_fetch_metadata() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    let token = h.mailer.last_token().expect("token");
    let origin = super::origin_of(h.service.public_url());
    let (status, _, page) = call(
        &h,
        "POST",
        "/verify-email",
        &[("origin", origin.as_str())],
        &post(&token),
    )
    .await;
    assert_eq!(status, 200, "{origin}: {page}");
    for (url, origin) in [
        (
            "HTTPS://App.Example.com:8443/base?x=1",
            "https://app.example.com:8443",
        ),
        ("https://app.example.com:443/", "https://app.example.com"),
        ("http://user:pw@localhost:80", "http://localhost"),
        ("http://localhost:8080", "http://localhost:8080"),
    ] {
        assert_eq!(super::origin_of(url), origin, "{url}");
    }
}

#[tokio::test]
async fn the_reset_form_shows_each_error_next_to_its_field_then_ends_every_session() {
    let h = Harness::new();
    let user = h.user("ada@example.com").await;
    h.request_reset("ada@example.com").await;
    let token = h.mailer.last_token_to("ada@example.com").expect("token");

    let (status, headers, page) = open(&h, "/reset-password", &token).await;
    assert_eq!(status, 200);
    platform_testkit::mail::assert_page_headers(&headers, "reset form");
    assert!(page.contains("<label for=\"new_password\">"), "{page}");
    assert!(page.contains(&super::policy()), "{page}");

    let (status, page) = reset(&h, &token, "a brand new passphrase", "another passphrase").await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"confirm-error\""), "{page}");
    assert!(page.contains("not the same"), "{page}");

    let (status, page) = reset(&h, &token, "short", "short").await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"new_password-error\""), "{page}");
    assert!(page.contains("must be at least 8 characters"), "{page}");
    assert!(h.sessions.ended().is_empty(), "nothing changed yet");

    let (status, page) = reset(
        &h,
        &token,
        "a brand new passphrase",
        "a brand new passphrase",
    )
    .await;
    assert_eq!(status, 200, "the token outlived the refused tries: {page}");
    assert!(page.contains("Every session signed in"), "{page}");
    assert_eq!(h.sessions.ended(), vec![(user.id, None)]);

    let (status, page) = reset(&h, &token, "a third passphrase", "a third passphrase").await;
    assert_eq!(status, 400, "used");
    assert!(
        page.contains("action=\"/reset-password/request\""),
        "{page}"
    );
}

#[tokio::test]
async fn an_expired_link_shows_the_page_that_asks_for_a_new_one() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    h.request_reset("ada@example.com").await;
    let token = h.mailer.last_token_to("ada@example.com").expect("token");
    h.clock.advance(Duration::minutes(61));
    let (status, page) = reset(
        &h,
        &token,
        "a brand new passphrase",
        "a brand new passphrase",
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("This link no longer works"), "{page}");
}

#[tokio::test]
async fn asking_for_a_new_link_answers_alike_for_any_address() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    for (path, what) in [
        ("/verify-email/resend", "new confirmation link"),
        ("/reset-password/request", "Reset your password"),
    ] {
        let (status, headers, page) = call(&h, "GET", path, &[], "").await;
        assert_eq!(status, 200);
        platform_testkit::mail::assert_page_headers(&headers, path);
        assert!(page.contains(what), "{page}");
        let mut answers = Vec::new();
        for email in ["ada@example.com", "nobody@example.com"] {
            let form = serde_urlencoded::to_string([("email", email)]).expect("form");
            let (status, _, page) = call(&h, "POST", path, &[], &form).await;
            answers.push((status, page.replace(email, "<address>")));
        }
        assert_eq!(answers[0], answers[1], "{path}");
        assert_eq!(answers[0].0, 200);
        let (status, _, page) = call(&h, "POST", path, &[], "email=nope").await;
        assert_eq!(status, 400);
        assert!(page.contains("id=\"email-error\""), "{page}");
    }
}

#[tokio::test]
async fn assets_unknown_tokens_and_markup_in_tokens_are_answered_safely() {
    let h = Harness::new();
    for path in ["/identity/pages.css", "/identity/pages.js"] {
        let (status, headers, body) = call(&h, "GET", path, &[], "").await;
        assert_eq!(status, 200, "{path}");
        platform_testkit::mail::assert_page_headers(&headers, path);
        assert!(!body.is_empty());
    }
    let (status, _, page) = call(&h, "GET", "/verify-email", &[], "").await;
    assert_eq!(status, 400, "no token");
    assert!(page.contains("This link no longer works"), "{page}");
    // A token with markup, shown again in the form after a mismatch: escaped.
    let (_, page) = reset(
        &h,
        "\"><script>alert(1)</script>",
        "one passphrase",
        "another one",
    )
    .await;
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("&quot;&gt;&lt;script&gt;"), "{page}");
    let (status, _, page) = call(&h, "POST", "/verify-email", &[], &post("unknown")).await;
    assert_eq!(status, 400);
    assert!(page.contains("This link no longer works"), "{page}");
}

#[tokio::test]
async fn a_reset_whose_sessions_could_not_be_ended_says_so_without_internals() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    h.request_reset("ada@example.com").await;
    let token = h.mailer.last_token_to("ada@example.com").expect("token");
    h.sessions.set_down(true);
    let (status, page) = reset(
        &h,
        &token,
        "a brand new passphrase",
        "a brand new passphrase",
    )
    .await;
    assert_eq!(status, 200, "the password is set: {page}");
    assert!(
        page.contains("could not sign out your other devices"),
        "{page}"
    );
    assert!(!page.contains("10.0.0.7"), "no internal detail: {page}");
}

#[tokio::test]
async fn a_used_or_expired_link_says_so_when_opened_and_a_look_uses_nothing() {
    let h = Harness::new();
    h.user("ada@example.com").await;
    let verify = h.mailer.last_token().expect("token");
    h.request_reset("ada@example.com").await;
    let reset_token = h.mailer.last_token_to("ada@example.com").expect("token");
    let (status, _, _) = open(&h, "/reset-password", &reset_token).await;
    assert_eq!(status, 200, "live");
    h.clock.advance(Duration::minutes(61));
    let (status, _, page) = open(&h, "/reset-password", &reset_token).await;
    assert_eq!(status, 400, "expired: {page}");
    assert!(
        page.contains("action=\"/reset-password/request\""),
        "{page}"
    );

    // Looked at, still unused: it verifies; then the page says it no longer works.
    h.service
        .verify_email(&verify)
        .await
        .expect("the look used nothing");
    let (status, _, page) =
        call(&h, "GET", &format!("/verify-email?token={verify}"), &[], "").await;
    assert_eq!(status, 400, "used: {page}");
    assert!(page.contains("This link no longer works"), "{page}");
    assert!(!page.contains("Confirm my email"), "{page}");
}
