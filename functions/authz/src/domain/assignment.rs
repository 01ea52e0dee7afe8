//! Assignments (a user holds a role, everywhere or on one resource, maybe until a time) and
//! the grants a check is decided on. An expired assignment stops counting at its expiry:
//! every check compares with the clock, so no job has to remove it first.

use chrono::{DateTime, Utc};

use crate::domain::{Pattern, RoleName};
use crate::error::AuthzError;

const MAX_USER_ID: usize = 128;
const MAX_RESOURCE: usize = 256;

fn printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Whom an assignment is for: identity's user ids, or any principal id a module uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, AuthzError> {
        if s.is_empty() {
            return Err(AuthzError::invalid(field, "is required"));
        }
        if s.len() > MAX_USER_ID || !printable(s) {
            return Err(AuthzError::invalid(
                field,
                format!("must be 1 to {MAX_USER_ID} printable ASCII characters without spaces"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A resource an assignment can be limited to, e.g. `identity/users/<id>` or `org:42`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource(String);

impl Resource {
    /// `None` for the empty string (everywhere).
    pub fn parse(field: &'static str, s: &str) -> Result<Option<Self>, AuthzError> {
        if s.is_empty() {
            return Ok(None);
        }
        if s.len() > MAX_RESOURCE || !printable(s) {
            return Err(AuthzError::invalid(
                field,
                format!("must be at most {MAX_RESOURCE} printable ASCII characters without spaces"),
            ));
        }
        Ok(Some(Self(s.to_owned())))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user: UserId,
    pub role: RoleName,
    /// `None`: everywhere.
    pub resource: Option<Resource>,
    /// `None`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Assignment {
    pub fn current(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// One pattern a user holds through one assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub pattern: Pattern,
    pub resource: Option<Resource>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether this grant answers yes to `permission` on `resource` (`None`: a global check,
    /// which only global grants satisfy) at `now`.
    pub fn allows(&self, permission: &str, resource: Option<&str>, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
            && match &self.resource {
                None => true,
                Some(scope) => Some(scope.as_str()) == resource,
            }
            && self.pattern.matches(permission)
    }
}

/// Whether any unexpired grant, global or on whatever resource, gives `permission`.
pub fn held_anywhere(grants: &[Grant], permission: &str, now: DateTime<Utc>) -> bool {
    grants
        .iter()
        .any(|g| g.expires_at.is_none_or(|t| t > now) && g.pattern.matches(permission))
}

/// The answer for `permission` on `resource` from a user's grants. Default deny.
pub fn allowed(
    grants: &[Grant],
    permission: &str,
    resource: Option<&str>,
    now: DateTime<Utc>,
) -> bool {
    grants.iter().any(|g| g.allows(permission, resource, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(pattern: &str, resource: Option<&str>, expires: Option<i64>) -> Grant {
        Grant {
            pattern: Pattern::parse("p", pattern).expect("pattern"),
            resource: resource.map(|r| Resource::from_trusted(r.to_owned())),
            expires_at: expires.map(|s| DateTime::from_timestamp(s, 0).expect("time")),
        }
    }

    #[test]
    fn scoped_grants_count_only_on_their_resource_and_expired_ones_never() {
        let at = |s| DateTime::from_timestamp(s, 0).expect("time");
        let grants = [
            grant("identity.users.read", Some("org:42"), None),
            grant("identity.users.update", None, Some(100)),
        ];
        assert!(allowed(
            &grants,
            "identity.users.read",
            Some("org:42"),
            at(0)
        ));
        assert!(!allowed(
            &grants,
            "identity.users.read",
            Some("org:43"),
            at(0)
        ));
        assert!(!allowed(&grants, "identity.users.read", None, at(0)));
        assert!(allowed(&grants, "identity.users.update", None, at(99)));
        assert!(allowed(
            &grants,
            "identity.users.update",
            Some("org:1"),
            at(99)
        ));
        assert!(!allowed(&grants, "identity.users.update", None, at(100)));
        assert!(!allowed(&[], "identity.users.read", None, at(0)));
    }

    #[test]
    fn ids_and_resources_are_checked() {
        assert!(UserId::parse("user_id", "").is_err());
        assert!(UserId::parse("user_id", "a b").is_err());
        assert!(UserId::parse("user_id", "0190a3b8-7c1e-7000-8000-000000000000").is_ok());
        assert_eq!(Resource::parse("resource", "").expect("empty"), None);
        assert!(Resource::parse("resource", "org:42").expect("ok").is_some());
        assert!(Resource::parse("resource", "org 42").is_err());
        assert!(Resource::parse("resource", &"x".repeat(257)).is_err());
    }
}
