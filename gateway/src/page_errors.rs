//! A person's browser on a module's page (the links in identity's mails) gets the gateway's
//! own refusals (429, 413, 503…) as a small HTML page carrying the pages' security headers,
//! not as Connect JSON. Only answers in JSON are turned: the module's own pages pass as they
//! are.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// `response` as a page, when it is a JSON error.
pub fn for_page(response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json || response.status().is_success() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (title, text) = match parts.status {
        StatusCode::TOO_MANY_REQUESTS => (
            "Too many requests",
            "Too many requests came from your network. Wait a moment and try again.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("Too large", "The form sent was too large."),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            (
                "Not available just now",
                "This page is not available just now. Try again in a moment.",
            )
        }
        _ => (
            "Something went wrong",
            "The request could not be completed.",
        ),
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n<p>{text}</p>\n\
         </main>\n</body>\n</html>\n"
    );
    let headers = &mut parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The modules' pages' own headers, so one page reads like the next.
    for (name, value) in platform_kernel::headers::PAGE_SECURITY {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse as _;
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn a_json_refusal_becomes_a_page_and_a_page_passes() {
        let mut refusal = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({"code": "resource_exhausted", "message": "slow"})),
        )
            .into_response();
        refusal
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(2));
        let page = for_page(refusal);
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(page.headers()[header::RETRY_AFTER], "2");
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/html"))
        );
        let body = page.into_body().collect().await.expect("body").to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("Too many requests"));

        let own = (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<p>the module's page</p>",
        )
            .into_response();
        let passed = for_page(own);
        let body = passed.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "<p>the module's page</p>");
    }
}
