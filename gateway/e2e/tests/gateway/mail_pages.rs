//! The links in identity's mails, through the gateway at the address the mails name
//! (`mail.public_url`): in a real browser (Debian's chromium driven by playwright-core,
//! `scripts/browser/mail-pages.cjs`), and as a mail scanner and an attacker would call them.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{PASSWORD, Stack};

const IDENTITY: &str = "/platform.identity.v1.IdentityService";

/// identity, auth and authz behind a gateway whose address is the mails' public URL.
async fn stack(tweak: impl FnOnce(&mut gateway::config::Config)) -> (Stack, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the gateway");
    let public = format!("http://{}", listener.local_addr().expect("address"));
    let url = public.clone();
    let stack = Stack::start_on(
        listener,
        move |c| c.identity.own.mail.public_url = url,
        tweak,
    )
    .await;
    (stack, public)
}

/// The newest mail to `email` after `seen` of them, and its link to `path`.
async fn link(stack: &Stack, email: &str, seen: usize, path: &str) -> String {
    let dir = identity::config::mail_dir(&stack.services.configs.identity);
    let mail = platform_testkit::mail::wait_for_message(&dir, email, seen)
        .await
        .expect("a mail");
    platform_testkit::mail::link(&mail, path).unwrap_or_else(|| panic!("no {path} link: {mail}"))
}

async fn login(stack: &Stack, email: &str, password: &str) -> (u16, Value) {
    stack
        .connect(
            "/platform.auth.v1.AuthService/Login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
}

/// Whether the user's address is verified, as the user reads it through the API.
async fn verified(stack: &Stack, id: &str, email: &str, password: &str) -> bool {
    let (status, session) = login(stack, email, password).await;
    assert_eq!(status, 200, "{session}");
    let token = session["accessToken"].as_str().expect("token");
    let (status, body) = stack
        .connect(
            &format!("{IDENTITY}/GetUser"),
            Some(token),
            json!({"id": id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["user"]["emailVerified"] == true
}

async fn sign_up(stack: &Stack, email: &str) -> String {
    let (status, body) = stack
        .connect(
            &format!("{IDENTITY}/CreateUser"),
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["user"]["id"].as_str().expect("id").to_owned()
}

/// Runs the browser script; its JSON lines.
fn browser(args: &[&str]) -> Vec<Value> {
    // Debian's chromium (apt install chromium) driven by playwright-core.
    let pages = platform_testkit::interop::node("scripts/browser/mail-pages.cjs", args);
    // Outside the test harness's capture, so a reviewer finds them in the test output.
    for page in &pages {
        let _ = writeln!(
            std::io::stderr(),
            "mail pages: screenshot of {}: {}",
            page["page"],
            page["screenshot"].as_str().unwrap_or_default()
        );
    }
    pages
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_browser_the_mails_links_verify_the_address_and_reset_the_password() {
    let (stack, public) = stack(|_| {}).await;
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mail-pages");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let dir = screenshots.to_str().expect("utf-8 path").to_owned();
    let email = "browser@example.com";
    let id = sign_up(&stack, email).await;

    let verify = link(&stack, email, 0, "/verify-email").await;
    assert!(
        verify.starts_with(&format!("{public}/verify-email?token=")),
        "{verify}"
    );
    assert!(!verified(&stack, &id, email, PASSWORD).await);
    let pages = tokio::task::block_in_place(|| browser(&["verify", &verify, &dir, email]));
    assert_eq!(
        pages[0]["heading"], "Confirm your email address",
        "{pages:?}"
    );
    assert_eq!(
        pages[0]["url"],
        format!("{public}/verify-email"),
        "the token left the address bar: {pages:?}"
    );
    assert_eq!(
        pages[1]["heading"], "Your email address is confirmed",
        "{pages:?}"
    );
    assert_eq!(
        pages[2]["heading"], "This link no longer works",
        "used: {pages:?}"
    );
    assert_eq!(pages[3]["heading"], "Check your mail", "{pages:?}");
    assert!(verified(&stack, &id, email, PASSWORD).await);

    let (status, body) = stack
        .connect(
            &format!("{IDENTITY}/RequestPasswordReset"),
            None,
            json!({"email": email}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let reset = link(&stack, email, 1, "/reset-password").await;
    let new_password = "a brand new passphrase";
    let pages =
        tokio::task::block_in_place(|| browser(&["reset", &reset, &dir, email, new_password]));
    assert_eq!(pages[0]["heading"], "Choose a new password", "{pages:?}");
    assert_eq!(pages[1]["heading"], "Choose a new password", "{pages:?}");
    assert!(
        pages[1]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("at least 8 characters")),
        "the policy error is shown: {pages:?}"
    );
    assert_eq!(
        pages[2]["heading"], "Your password was changed",
        "{pages:?}"
    );
    assert_eq!(
        pages[3]["heading"], "This link no longer works",
        "used: {pages:?}"
    );
    assert_eq!(pages[4]["heading"], "Check your mail", "{pages:?}");
    assert_eq!(login(&stack, email, new_password).await.0, 200);
    assert_eq!(
        login(&stack, email, PASSWORD).await.0,
        401,
        "the old one fails"
    );
}

#[tokio::test]
async fn a_scanners_get_uses_nothing_and_every_page_is_served_safely_and_limited() {
    let (stack, _) = stack(|_| {}).await;
    let email = "scanned@example.com";
    let id = sign_up(&stack, email).await;
    let verify = link(&stack, email, 0, "/verify-email").await;
    let path = &verify[verify.find("/verify-email").expect("path")..];
    for _ in 0..3 {
        let (status, headers, page) = stack.call("GET", path, &[], "").await;
        assert_eq!(status, 200);
        platform_testkit::mail::assert_page_headers(&headers, "confirm page");
        assert!(String::from_utf8_lossy(&page).contains("Confirm my email"));
    }
    assert!(
        !verified(&stack, &id, email, PASSWORD).await,
        "a GET verified nothing"
    );
    for page in [
        "/verify-email/resend",
        "/reset-password/request",
        "/identity/pages.css",
        "/identity/pages.js",
    ] {
        let (status, headers, _) = stack.call("GET", page, &[], "").await;
        assert_eq!(status, 200, "{page}");
        platform_testkit::mail::assert_page_headers(&headers, page);
    }
    let (status, headers, page) = stack.call("GET", "/reset-password?token=x", &[], "").await;
    assert_eq!(status, 400, "an unknown link says so on opening");
    platform_testkit::mail::assert_page_headers(&headers, "invalid reset link");
    assert!(String::from_utf8_lossy(&page).contains("This link no longer works"));
    let (status, headers, _) = stack.call("DELETE", "/verify-email", &[], "").await;
    assert_eq!(status, 405, "a page answers GET and POST only");
    assert_eq!(headers["allow"], "GET, HEAD, POST");
    let token = platform_testkit::mail::link_token(&verify).expect("token");
    let form = format!("token={token}");
    let post = |origin: &'static str| {
        let form = form.clone();
        let stack = &stack;
        async move {
            stack
                .call(
                    "POST",
                    "/verify-email",
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("origin", origin),
                    ],
                    form,
                )
                .await
        }
    };
    let (status, headers, _) = post("https://evil.example").await;
    assert_eq!(status, 403, "another site's form");
    platform_testkit::mail::assert_page_headers(&headers, "refusal");
    assert!(!verified(&stack, &id, email, PASSWORD).await);
    let (status, _, page) = post("null").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    assert!(verified(&stack, &id, email, PASSWORD).await);
    let (status, headers, page) = post("null").await;
    assert_eq!(status, 400, "used");
    platform_testkit::mail::assert_page_headers(&headers, "invalid link page");
    assert!(String::from_utf8_lossy(&page).contains("This link no longer works"));

    // The page that sends mail is limited like RequestPasswordReset: 10 at once per address.
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(
            stack
                .call(
                    "POST",
                    "/reset-password/request",
                    &[("content-type", "application/x-www-form-urlencoded")],
                    format!("email={email}"),
                )
                .await,
        );
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses[0], 200, "{statuses:?}");
    let (status, headers, page) = answers.last().expect("answers");
    assert_eq!(*status, 429, "{statuses:?}");
    // The gateway's refusal, as a page for the person who sees it.
    platform_testkit::mail::assert_page_headers(headers, "the gateway's 429");
    assert!(String::from_utf8_lossy(page).contains("Too many requests"));
    assert!(headers.contains_key("retry-after"));
}
