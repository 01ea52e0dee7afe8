//! Permission names (`<service>.<resource>.<action>`) and the patterns roles grant them by:
//! a name, `<service>.<resource>.*`, `<service>.*`, or `*`. Wildcards only ever stand for
//! whole segments at the end, so whether one pattern covers another is decidable exactly
//! (used to stop a manager granting more than they hold).

use std::collections::BTreeMap;
use std::fmt;

use crate::error::AuthzError;

const MAX_SEGMENT: usize = 64;

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A well-formed permission name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PermissionName(String);

impl PermissionName {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, AuthzError> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || !parts.iter().all(|p| segment_ok(p)) {
            return Err(AuthzError::invalid(
                field,
                format!(
                    "`{s}` is not a permission name like `service.resource.action` (lower-case \
                     letters, digits and '_', each part starting with a letter)"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a role grants: one permission or a family of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// `*`: everything.
    All,
    /// `identity.*`.
    Service(String),
    /// `identity.users.*`.
    Resource(String, String),
    /// `identity.users.read`.
    Exact(PermissionName),
}

impl Pattern {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, AuthzError> {
        if s == "*" {
            return Ok(Self::All);
        }
        let bad = || {
            AuthzError::invalid(
                field,
                format!(
                    "`{s}` is neither a permission name (`service.resource.action`) nor a \
                     wildcard (`service.*`, `service.resource.*`, `*`)"
                ),
            )
        };
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            [service, "*"] if segment_ok(service) => Ok(Self::Service((*service).to_owned())),
            [service, resource, "*"] if segment_ok(service) && segment_ok(resource) => Ok(
                Self::Resource((*service).to_owned(), (*resource).to_owned()),
            ),
            [_, _, _] => PermissionName::parse(field, s)
                .map(Self::Exact)
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// Whether this pattern grants `permission`.
    pub fn matches(&self, permission: &str) -> bool {
        match self {
            Self::All => true,
            Self::Service(service) => permission
                .strip_prefix(service.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            Self::Resource(service, resource) => permission
                .strip_prefix(service.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_prefix(resource.as_str()))
                .is_some_and(|rest| rest.starts_with('.')),
            Self::Exact(name) => name.as_str() == permission,
        }
    }

    /// Whether everything `other` grants, this grants too.
    pub fn covers(&self, other: &Self) -> bool {
        match other {
            Self::All => *self == Self::All,
            Self::Service(service) => match self {
                Self::All => true,
                Self::Service(s) => s == service,
                _ => false,
            },
            Self::Resource(service, resource) => match self {
                Self::All => true,
                Self::Service(s) => s == service,
                Self::Resource(s, r) => s == service && r == resource,
                Self::Exact(_) => false,
            },
            Self::Exact(name) => self.matches(name.as_str()),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Service(s) => write!(f, "{s}.*"),
            Self::Resource(s, r) => write!(f, "{s}.{r}.*"),
            Self::Exact(name) => f.write_str(name.as_str()),
        }
    }
}

/// The permissions the services declare, with their descriptions.
#[derive(Debug, Clone, Default)]
pub struct Catalogue(BTreeMap<String, String>);

impl Catalogue {
    pub fn new<'a>(permissions: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            permissions
                .into_iter()
                .map(|(name, description)| (name.to_owned(), description.to_owned()))
                .collect(),
        )
    }

    /// Every permission, by name.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, d)| (n.as_str(), d.as_str()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A name that some service declares (a check of anything else is a caller's mistake).
    pub fn known(&self, field: &'static str, name: &str) -> Result<PermissionName, AuthzError> {
        let parsed = PermissionName::parse(field, name)?;
        if !self.contains(name) {
            return Err(AuthzError::invalid(
                field,
                format!("no service declares the permission `{name}` (see ListPermissions)"),
            ));
        }
        Ok(parsed)
    }

    /// A pattern that grants at least one declared permission: a role naming a permission
    /// nobody declares is a typo, and would silently grant nothing.
    pub fn validate(&self, field: &'static str, pattern: &Pattern) -> Result<(), AuthzError> {
        if self.0.keys().any(|name| pattern.matches(name)) {
            Ok(())
        } else {
            Err(AuthzError::invalid(
                field,
                format!(
                    "`{pattern}` matches no permission any service declares (see ListPermissions)"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse("permission", s).expect(s)
    }

    #[test]
    fn names_and_wildcards_parse_and_print_back() {
        for s in [
            "*",
            "identity.*",
            "identity.users.*",
            "identity.users.read",
            "a1.b_2.c3",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        for bad in [
            "",
            ".",
            "identity",
            "identity.users",
            "identity.*.read",
            "*.users.read",
            "Identity.users.read",
            "identity.users.read.extra",
            "identity..read",
            "1d.users.read",
            "identity.users.re ad",
            "identity.users.**",
            "identity.users.*x",
        ] {
            let err = Pattern::parse("permission", bad)
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("permission:"), "{err}");
        }
    }

    #[test]
    fn wildcards_match_whole_segments_only() {
        assert!(p("*").matches("identity.users.read"));
        assert!(p("identity.*").matches("identity.users.read"));
        assert!(!p("identity.*").matches("identityx.users.read"));
        assert!(!p("identity.*").matches("auth.sessions.revoke"));
        assert!(p("identity.users.*").matches("identity.users.read"));
        assert!(!p("identity.users.*").matches("identity.usersx.read"));
        assert!(!p("identity.users.*").matches("identity.groups.read"));
        assert!(p("identity.users.read").matches("identity.users.read"));
        assert!(!p("identity.users.read").matches("identity.users.readx"));
    }

    #[test]
    fn covering_agrees_with_matching() {
        let patterns = [
            "*", "a.*", "b.*", "a.x.*", "a.y.*", "a.x.r", "a.x.s", "b.x.r",
        ];
        let names = ["a.x.r", "a.x.s", "a.y.r", "b.x.r", "c.z.q"];
        for outer in patterns {
            for inner in patterns {
                let by_names = names
                    .iter()
                    .filter(|n| p(inner).matches(n))
                    .all(|n| p(outer).matches(n));
                if p(outer).covers(&p(inner)) {
                    assert!(by_names, "{outer} covers {inner}");
                }
            }
        }
        assert!(p("*").covers(&p("*")));
        assert!(!p("a.*").covers(&p("*")));
        assert!(p("a.*").covers(&p("a.x.*")));
        assert!(!p("a.x.*").covers(&p("a.*")));
        assert!(!p("a.x.r").covers(&p("a.x.*")));
    }

    #[test]
    fn the_catalogue_refuses_what_nobody_declares() {
        let catalogue = Catalogue::new([("identity.users.read", "Read")]);
        assert!(catalogue.known("permission", "identity.users.read").is_ok());
        assert!(
            catalogue
                .known("permission", "identity.users.write")
                .is_err()
        );
        assert!(
            catalogue
                .validate("role.permissions", &p("identity.*"))
                .is_ok()
        );
        assert!(
            catalogue
                .validate("role.permissions", &p("auth.*"))
                .is_err()
        );
        assert!(catalogue.validate("role.permissions", &p("*")).is_ok());
    }
}
