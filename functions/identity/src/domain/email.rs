//! Email addresses: trimmed, lower-cased, and checked for a plausible shape. Whether the
//! mailbox exists is what verification is for.

use crate::error::IdentityError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let bad = |reason: &str| IdentityError::invalid("email", reason);
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(bad("is required"));
        }
        if email.len() > 254 {
            return Err(bad("is longer than 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(bad("must contain '@'"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before '@' must be 1 to 64 characters"));
        }
        if local.contains('@') {
            return Err(bad("must contain exactly one '@'"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        {
            return Err(bad("contains a character not allowed in an address"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("the part before '@' has a misplaced '.'"));
        }
        if !domain.contains('.') {
            return Err(bad("the domain must contain a '.'"));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !domain.split('.').all(label_ok) {
            return Err(bad("the domain is not a valid host name"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the store, which only ever holds parsed emails.
    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_surrounding_space() {
        let e = Email::parse("  Ada.Lovelace@Example.ORG ").expect("valid");
        assert_eq!(e.as_str(), "ada.lovelace@example.org");
    }

    #[test]
    fn rejects_malformed_addresses_naming_the_field() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@example..com",
        ] {
            let err = Email::parse(bad).expect_err(bad).to_string();
            assert!(err.starts_with("email:"), "{bad:?} -> {err}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "x_y-z@a-b.io"] {
            Email::parse(ok).expect(ok);
        }
    }
}
