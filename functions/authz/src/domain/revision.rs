//! Revisions: every write to the authz store gets the next one, and answers it as an opaque
//! token; a read given a token is answered from state at least that new (SpiceDB's
//! ZedTokens), so "revoke, then check" is never stale for the one who revoked.

use crate::error::AuthzError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub i64);

const PREFIX: &str = "r";

impl Revision {
    pub fn token(self) -> String {
        format!("{PREFIX}{}", self.0)
    }

    /// The empty token asks for nothing in particular.
    pub fn parse_token(field: &'static str, token: &str) -> Result<Option<Self>, AuthzError> {
        if token.is_empty() {
            return Ok(None);
        }
        token
            .strip_prefix(PREFIX)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(|n| Some(Self(n)))
            .ok_or_else(|| AuthzError::invalid(field, "is not a revision this service answered"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(
            Revision::parse_token("f", &Revision(42).token()).expect("ok"),
            Some(Revision(42))
        );
        assert_eq!(Revision::parse_token("f", "").expect("ok"), None);
        for bad in ["42", "r", "r-1", "rx", "r0"] {
            assert!(Revision::parse_token("f", bad).is_err(), "{bad}");
        }
    }
}
