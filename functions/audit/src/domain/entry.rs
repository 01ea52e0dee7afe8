//! What a service records, checked before it is stored.

use crate::error::{AuditError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Unspecified,
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Unspecified,
            Self::Success,
            Self::Failure,
            Self::Denied,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// A record as given to Record; the service adds the time, sequence and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Empty: the service assigns a UUID v7.
    pub id: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: Outcome,
    pub reason: String,
    pub client_ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// A JSON object.
    pub metadata: serde_json::Value,
}

/// The longest text field, in bytes.
pub const MAX_FIELD: usize = 1024;
/// The largest metadata, as compact JSON.
pub const MAX_METADATA: usize = 16 * 1024;

impl Entry {
    /// NUL replaced (PostgreSQL text cannot hold it; a record must not be refused for it, nor
    /// stop the records behind it).
    pub fn without_nul(mut self) -> Self {
        for text in [
            &mut self.actor,
            &mut self.action,
            &mut self.resource,
            &mut self.reason,
            &mut self.client_ip,
            &mut self.user_agent,
            &mut self.request_id,
        ] {
            if text.contains('\0') {
                *text = text.replace('\0', "\u{fffd}");
            }
        }
        self
    }

    /// Bounded sizes, an action in `[a-z0-9._-]`, an id that is a UUID when given, and
    /// metadata that is an object.
    pub fn validate(&self) -> Result<()> {
        if self.action.is_empty() {
            return Err(AuditError::invalid("action", "is required"));
        }
        if !self
            .action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            return Err(AuditError::invalid(
                "action",
                "may hold only a-z, 0-9, '.', '_' and '-' (e.g. user.created)",
            ));
        }
        if !self.id.is_empty() && uuid::Uuid::parse_str(&self.id).is_err() {
            return Err(AuditError::invalid("id", "must be a UUID (or empty)"));
        }
        for (field, value) in [
            ("actor_id", &self.actor),
            ("action", &self.action),
            ("resource", &self.resource),
            ("reason", &self.reason),
            ("client_ip", &self.client_ip),
            ("user_agent", &self.user_agent),
            ("request_id", &self.request_id),
        ] {
            if value.len() > MAX_FIELD {
                return Err(AuditError::invalid(
                    field,
                    format!("is longer than {MAX_FIELD} bytes"),
                ));
            }
        }
        if !self.metadata.is_object() {
            return Err(AuditError::invalid("metadata", "must be an object"));
        }
        if self.metadata.to_string().len() > MAX_METADATA {
            return Err(AuditError::invalid(
                "metadata",
                format!("is larger than {MAX_METADATA} bytes"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            id: String::new(),
            actor: "u1".into(),
            action: "user.created".into(),
            resource: "identity/users/u1".into(),
            outcome: Outcome::Success,
            reason: String::new(),
            client_ip: String::new(),
            user_agent: String::new(),
            request_id: String::new(),
            metadata: serde_json::json!({}),
        }
    }

    #[test]
    fn bad_entries_are_refused_naming_the_field() {
        assert!(entry().validate().is_ok());
        type Change = fn(&mut Entry);
        let cases: [(&str, Change); 6] = [
            ("action", |e| e.action.clear()),
            ("action", |e| e.action = "User Created".into()),
            ("id", |e| e.id = "not-a-uuid".into()),
            ("reason", |e| e.reason = "x".repeat(MAX_FIELD + 1)),
            ("metadata", |e| e.metadata = serde_json::json!([1])),
            ("metadata", |e| {
                e.metadata = serde_json::json!({"x": "y".repeat(MAX_METADATA)})
            }),
        ];
        for (field, change) in cases {
            let mut bad = entry();
            change(&mut bad);
            match bad.validate() {
                Err(AuditError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [
            Outcome::Unspecified,
            Outcome::Success,
            Outcome::Failure,
            Outcome::Denied,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("maybe"), None);
    }
}
