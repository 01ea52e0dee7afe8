//! Keyset pagination. User ids are UUID v7, so ordering by id is ordering by creation, and
//! "after this id" is a stable cursor whatever is inserted or deleted meanwhile. The page
//! token is the last id of the previous page, base64url-encoded so clients treat it as opaque.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::IdentityError;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// `size` 0 means the default; sizes above the maximum are reduced to it (AIP-158).
    pub fn parse(size: i32, token: &str) -> Result<Self, IdentityError> {
        let size = match size {
            s if s < 0 => {
                return Err(IdentityError::invalid("page_size", "must not be negative"));
            }
            0 => DEFAULT_PAGE_SIZE,
            s => (s as u32).min(MAX_PAGE_SIZE),
        };
        let after = if token.is_empty() {
            None
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok())
                .ok_or_else(|| IdentityError::invalid("page_token", "is not a valid page token"))?;
            Some(bytes)
        };
        Ok(Self { size, after })
    }

    pub fn token_after(last: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(last.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(
            PageRequest::parse(0, "").expect("ok").size,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            PageRequest::parse(5000, "").expect("ok").size,
            MAX_PAGE_SIZE
        );
        assert!(PageRequest::parse(-1, "").is_err());
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_rejected() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(10, &PageRequest::token_after(id)).expect("ok");
        assert_eq!(page.after, Some(id));
        let err = PageRequest::parse(10, "not-a-token!")
            .expect_err("bad")
            .to_string();
        assert!(err.starts_with("page_token:"), "{err}");
    }
}
