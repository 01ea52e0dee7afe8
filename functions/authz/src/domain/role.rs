//! Roles: named sets of permission patterns. `admin` is built in: it grants `*`, and can be
//! neither changed nor deleted, so the platform always has a role that can do everything.

use crate::domain::Pattern;
use crate::error::AuthzError;

pub const ADMIN: &str = "admin";
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 1000;
const MAX_PERMISSIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, AuthzError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(AuthzError::invalid(
                field,
                format!(
                    "`{s}` is not a role name (1 to {MAX_NAME} lower-case letters, digits, '-' \
                     and '_')"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// A name read back from the store.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: RoleName,
    pub description: String,
    /// Sorted, without duplicates.
    pub permissions: Vec<Pattern>,
    pub built_in: bool,
}

impl Role {
    /// A role as a client defines it (never built in).
    pub fn parse(
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<Self, AuthzError> {
        let name = RoleName::parse("role.name", name)?;
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(AuthzError::invalid(
                "role.description",
                format!("is longer than {MAX_DESCRIPTION} characters"),
            ));
        }
        if permissions.len() > MAX_PERMISSIONS {
            return Err(AuthzError::invalid(
                "role.permissions",
                format!("more than {MAX_PERMISSIONS} entries"),
            ));
        }
        let mut patterns = permissions
            .iter()
            .map(|p| Pattern::parse("role.permissions", p))
            .collect::<Result<Vec<_>, _>>()?;
        patterns.sort();
        patterns.dedup();
        Ok(Self {
            name,
            description: description.to_owned(),
            permissions: patterns,
            built_in: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_permissions_normalised() {
        let role = Role::parse(
            "support-2",
            "Helps",
            &[
                "identity.users.read".into(),
                "identity.*".into(),
                "identity.users.read".into(),
            ],
        )
        .expect("valid");
        let names: Vec<String> = role.permissions.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["identity.*", "identity.users.read"]);
        for bad in ["", "Support", "sup port", "a.b", &"x".repeat(65)] {
            let err = Role::parse(bad, "", &[]).expect_err(bad).to_string();
            assert!(err.starts_with("role.name:"), "{err}");
        }
        let err = Role::parse("r", "", &["nope".into()])
            .expect_err("bad")
            .to_string();
        assert!(err.starts_with("role.permissions:"), "{err}");
    }
}
