//! Reading what the file mailer wrote, the way a developer would: open the newest `.eml`
//! for a recipient and take the link out of it.

use std::path::Path;
use std::time::Duration;

/// The messages in `dir` addressed to `to`, oldest first.
pub fn messages_to(dir: &Path, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|m| {
            m.lines()
                .any(|l| l.trim_end().eq_ignore_ascii_case(&format!("To: {to}")))
        })
        .collect()
}

/// Waits (bounded) until `to` has more than `seen` messages and returns the newest.
pub async fn wait_for_message(dir: &Path, to: &str, seen: usize) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut all = messages_to(dir, to);
        if all.len() > seen {
            return all.pop().ok_or_else(|| anyhow::anyhow!("no message"));
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no new mail for {to} in {}", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the `token` query parameter of the first link in `message`.
pub fn link_token(message: &str) -> Option<String> {
    let start = message.find("token=")? + "token=".len();
    Some(
        message[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

/// The first link in `message` to `path` (`/verify-email`, say), whole, as a person would
/// copy it from the mail.
pub fn link(message: &str, path: &str) -> Option<String> {
    message
        .split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(&format!("{path}?")))
        .map(str::to_owned)
}

/// Asserts the security headers every page behind the mails' links carries (`what` names the
/// page in a failure).
pub fn assert_page_headers(headers: &http::HeaderMap, what: &str) {
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(headers["cache-control"], "no-store", "{what}");
}
