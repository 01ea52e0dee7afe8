//! The user aggregate.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Email;
use crate::error::IdentityError;

/// A user id: a UUID (v7 for the ones we create). A malformed id is `invalid_argument`; a
/// well-formed unknown one is `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, IdentityError> {
        if raw.trim().is_empty() {
            return Err(IdentityError::invalid(field, "is required"));
        }
        Uuid::parse_str(raw.trim())
            .map(Self)
            .map_err(|_| IdentityError::invalid(field, format!("`{raw}` is not a UUID")))
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A display name: trimmed, at most 200 characters, no control characters. May be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let name = raw.trim();
        if name.chars().count() > Self::MAX_CHARS {
            return Err(IdentityError::invalid(
                "display_name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(IdentityError::invalid(
                "display_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

/// A user as stored. `password_hash` never leaves the service.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub password_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Starts at 1, incremented by every change.
    pub version: i64,
}

/// The changes UpdateUser may make; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub display_name: Option<DisplayName>,
    pub email: Option<Email>,
    pub disabled: Option<bool>,
    pub expected_version: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_distinguish_malformed_from_missing() {
        assert!(
            UserId::parse("id", "")
                .expect_err("empty")
                .to_string()
                .contains("required")
        );
        assert!(
            UserId::parse("id", "42")
                .expect_err("bad")
                .to_string()
                .contains("not a UUID")
        );
        let id = UserId::new();
        assert_eq!(UserId::parse("id", &id.to_string()).expect("ok"), id);
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").expect("ok").as_str(), "Ada");
        assert!(DisplayName::parse(&"x".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
    }
}
