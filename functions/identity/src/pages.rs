//! The pages the links in identity's mails open (`/verify-email`, `/reset-password`) and the
//! pages to ask for a new link: a thin client of the same core methods the RPCs call
//! (VerifyEmail, ResetPassword, ResendVerification, RequestPasswordReset), so they change no
//! rule. The gateway routes them as public paths (the manifest's `pages`) under the same rate
//! limits as those RPCs.
//!
//! - A GET never uses a token: mail scanners and link previews follow links. It only looks
//!   the token up, so a used or expired link says so at once; the token goes into the form,
//!   and the page's script takes it out of the address bar.
//! - A POST from another site's page is refused: `Sec-Fetch-Site` must be `same-origin` when
//!   the browser sends it, and `Origin`, when it names one, must be `mail.public_url`'s
//!   (the token in the body is the secret either way).
//! - Every answer carries a strict `Content-Security-Policy` (no inline script, no framing),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` (the token is in the URL) and
//!   `Cache-Control: no-store`.

mod html;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::domain::TokenKind;
use crate::error::IdentityError;
use crate::service::IdentityService;

pub use views::policy;

struct Pages {
    service: Arc<IdentityService>,
    /// `mail.public_url`'s origin (`scheme://host[:port]`): where the forms are served.
    origin: String,
}

/// The pages, for the service's router (`ServiceRpc::extra`).
pub fn routes(service: Arc<IdentityService>) -> Router {
    let origin = origin_of(service.public_url());
    let pages = Arc::new(Pages { service, origin });
    Router::new()
        .route("/verify-email", get(confirm_email).post(verify_email))
        .route(
            "/verify-email/resend",
            get(|| async { html(StatusCode::OK, views::ask_verify_link(None)) }).post(resend),
        )
        .route("/reset-password", get(choose_password).post(reset_password))
        .route(
            "/reset-password/request",
            get(|| async { html(StatusCode::OK, views::ask_reset_link(None)) }).post(request_reset),
        )
        .route(
            "/identity/pages.css",
            get(|| async { asset("text/css", include_str!("pages/pages.css")) }),
        )
        .route(
            "/identity/pages.js",
            get(|| async { asset("text/javascript", include_str!("pages/pages.js")) }),
        )
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::map_response(secure))
        .with_state(pages)
}

/// `scheme://host[:port]` of a URL, as a browser serializes its `Origin` (lower case, no
/// user info, no default port); empty, matching no `Origin`, if it is not a URL.
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Form {
    token: String,
    email: String,
    new_password: String,
    confirm: String,
}

async fn confirm_email(State(p): State<Arc<Pages>>, Query(q): Query<TokenQuery>) -> Response {
    if !p.link_works(&q.token, TokenKind::EmailVerification).await {
        return html(StatusCode::BAD_REQUEST, views::verify_link_invalid());
    }
    html(StatusCode::OK, views::confirm_email(&q.token))
}

async fn verify_email(State(p): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match p.form(&headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match p.service.verify_email(&form.token).await {
        Ok(user) => html(StatusCode::OK, views::email_confirmed(user.email.as_str())),
        Err(IdentityError::InvalidToken | IdentityError::InvalidArgument { .. }) => {
            html(StatusCode::BAD_REQUEST, views::verify_link_invalid())
        }
        Err(e) => failure(&e),
    }
}

async fn choose_password(State(p): State<Arc<Pages>>, Query(q): Query<TokenQuery>) -> Response {
    if !p.link_works(&q.token, TokenKind::PasswordReset).await {
        return html(StatusCode::BAD_REQUEST, views::reset_link_invalid());
    }
    html(
        StatusCode::OK,
        views::choose_password(&q.token, &views::ResetErrors::default()),
    )
}

async fn reset_password(State(p): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match p.form(&headers, &body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    if form.token.is_empty() {
        return html(StatusCode::BAD_REQUEST, views::reset_link_invalid());
    }
    if form.new_password != form.confirm {
        let errors = views::ResetErrors {
            confirm: Some("The two passwords are not the same."),
            ..Default::default()
        };
        return html(
            StatusCode::BAD_REQUEST,
            views::choose_password(&form.token, &errors),
        );
    }
    match p
        .service
        .reset_password(&form.token, &form.new_password)
        .await
    {
        Ok(()) => html(StatusCode::OK, views::password_changed()),
        // The password is set; only ending the other sessions failed (auth did not answer).
        Err(e @ IdentityError::SessionsNotEnded(_)) => {
            tracing::error!(error = %e, "a reset through the page left sessions running");
            html(StatusCode::OK, views::password_changed_sessions_left())
        }
        Err(IdentityError::InvalidArgument {
            field: "new_password",
            reason,
        }) => {
            let reason = format!("This password {reason}.");
            let errors = views::ResetErrors {
                new_password: Some(&reason),
                ..Default::default()
            };
            html(
                StatusCode::BAD_REQUEST,
                views::choose_password(&form.token, &errors),
            )
        }
        Err(IdentityError::InvalidToken | IdentityError::InvalidArgument { .. }) => {
            html(StatusCode::BAD_REQUEST, views::reset_link_invalid())
        }
        Err(e) => failure(&e),
    }
}

async fn resend(State(p): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    ask_for_link(&p, &headers, &body, false).await
}

async fn request_reset(State(p): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    ask_for_link(&p, &headers, &body, true).await
}

/// ResendVerification (or, for `reset`, RequestPasswordReset) for the posted address: the
/// same page whether or not it has an account.
async fn ask_for_link(p: &Pages, headers: &HeaderMap, body: &[u8], reset: bool) -> Response {
    let form = match p.form(headers, body) {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let asked = if reset {
        p.service.request_password_reset(&form.email).await
    } else {
        p.service.resend_verification(&form.email).await
    };
    match asked {
        Ok(()) => html(
            StatusCode::OK,
            views::link_sent(&form.email, p.service.link_minutes(reset)),
        ),
        Err(IdentityError::InvalidArgument { .. }) => {
            let error = Some("Enter an email address, like ada@example.com.");
            let page = if reset {
                views::ask_reset_link(error)
            } else {
                views::ask_verify_link(error)
            };
            html(StatusCode::BAD_REQUEST, page)
        }
        Err(e) => failure(&e),
    }
}

impl Pages {
    /// Whether the link still works (looked up, not used). If the store cannot say, the
    /// page is shown and the POST will tell.
    async fn link_works(&self, token: &str, kind: TokenKind) -> bool {
        self.service
            .link_works(token, kind)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "checking a mailed link failed");
                true
            })
    }

    /// The posted form, once the request is known not to come from another site's page.
    #[allow(clippy::result_large_err)] // the refusal is the page to answer with
    fn form(&self, headers: &HeaderMap, body: &[u8]) -> Result<Form, Response> {
        if !self.same_site(headers) {
            return Err(html(StatusCode::FORBIDDEN, views::cross_site()));
        }
        serde_urlencoded::from_bytes(body).map_err(|_| {
            html(
                StatusCode::BAD_REQUEST,
                views::failed("The form could not be read."),
            )
        })
    }

    /// What the browser says of where the form was: `Sec-Fetch-Site` (every current browser
    /// sends it) must be `same-origin`; without it, an `Origin` must be ours. A page under
    /// `Referrer-Policy: no-referrer` posts `Origin: null`, so `null` alone proves nothing
    /// either way; a client that is no browser sends neither.
    fn same_site(&self, headers: &HeaderMap) -> bool {
        if let Some(site) = headers.get("sec-fetch-site") {
            return site == "same-origin";
        }
        match headers.get(header::ORIGIN) {
            Some(origin) if origin != "null" => origin
                .to_str()
                .is_ok_and(|o| o.eq_ignore_ascii_case(&self.origin)),
            _ => true,
        }
    }
}

/// A page that is not the form's own problem, logged and answered plainly (no internal
/// detail reaches an anonymous visitor).
fn failure(e: &IdentityError) -> Response {
    match e {
        IdentityError::Unavailable(message) => {
            tracing::warn!(%message, "a mail page could not be served");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                views::failed("The service is busy; try again in a moment."),
            )
        }
        other => {
            tracing::error!(error = %other, "a mail page failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                views::failed("The request could not be completed."),
            )
        }
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response()
}

/// The security headers, on every answer of the pages (errors and assets included).
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in platform_kernel::headers::PAGE_SECURITY {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests;
