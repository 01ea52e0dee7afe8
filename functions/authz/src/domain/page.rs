//! Keyset pagination for roles (by name) and a role's holders (by user, then resource). The
//! page token is the last key of the previous page, base64url-encoded so clients treat it as
//! opaque; "after this key" is stable whatever is inserted or deleted meanwhile.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AuthzError;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    /// The key parts of the last item of the previous page.
    pub after: Option<Vec<String>>,
}

impl PageRequest {
    /// `size` 0 means the default; sizes above the maximum are reduced to it (AIP-158).
    pub fn parse(size: i32, token: &str, key_parts: usize) -> Result<Self, AuthzError> {
        let size = match size {
            s if s < 0 => return Err(AuthzError::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            s => (s as u32).min(MAX_PAGE_SIZE),
        };
        if token.is_empty() {
            return Ok(Self { size, after: None });
        }
        let after = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
            .filter(|parts| parts.len() == key_parts)
            .ok_or_else(|| AuthzError::invalid("page_token", "is not a valid page token"))?;
        Ok(Self {
            size,
            after: Some(after),
        })
    }

    pub fn token_after(key: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let page =
            PageRequest::parse(0, &PageRequest::token_after(&["u1", "org:1"]), 2).expect("ok");
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.after, Some(vec!["u1".to_owned(), "org:1".to_owned()]));
        assert_eq!(
            PageRequest::parse(5000, "", 1).expect("ok").size,
            MAX_PAGE_SIZE
        );
        assert!(PageRequest::parse(-1, "", 1).is_err());
        assert!(PageRequest::parse(1, "garbage!", 1).is_err());
        assert!(PageRequest::parse(1, &PageRequest::token_after(&["a"]), 2).is_err());
    }
}
