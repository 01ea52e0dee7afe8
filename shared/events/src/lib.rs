//! Domain events and how they leave a service, exactly as its state changes:
//!
//! - [`Event`]: the `platform.events.v1` envelope (unique id, type, subject, source, actor,
//!   request id, client address, time, payload), with the request's context filled in.
//! - [`outbox::write`]: stores events in the service's `outbox` table **inside the
//!   transaction of the state change**, so an event exists exactly when its change does.
//! - [`relay::Relay`]: delivers the outbox in order to a [`relay::Sink`], marking a row sent
//!   only once the sink acknowledged it and retrying with backoff for as long as the sink is
//!   away; at least once, so consumers dedupe by event id (the audit service stores a record
//!   id once). The embedded default's sink is the audit service's Record
//!   ([`relay::AuditSink`]).

pub mod kafka;
pub mod outbox;
pub mod relay;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One domain event (`platform.events.v1`), as stored in the outbox and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUID v7 (orders by time); consumers dedupe by it.
    pub id: String,
    /// Dotted, past tense: `user.created`, `auth.login_failed`, `role.assigned`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The emitting service.
    pub source: String,
    /// What it is about (a user id, a role name); the Kafka key, so per-subject order holds.
    pub subject: String,
    /// The resource as permissions name it: `identity/users/<id>`.
    pub resource: String,
    /// Who caused it: a user id, a service name, or empty for an anonymous caller.
    pub actor: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// A category, never a secret (`wrong_password`, `locked_out`).
    pub reason: String,
    pub request_id: String,
    pub client_ip: String,
    pub user_agent: String,
    /// µs since the Unix epoch.
    pub occurred_at_us: i64,
    /// Type-specific data (never a secret).
    pub payload: serde_json::Value,
}

impl Event {
    /// A successful `kind` on `subject` by the current caller, with the current request's
    /// id, client address and user agent.
    pub fn new(
        source: &str,
        kind: &str,
        subject: &str,
        resource: String,
        at: DateTime<Utc>,
    ) -> Self {
        use platform_kernel::caller::{Caller, current};
        let actor = match current() {
            Caller::User(u) => u.id,
            Caller::Service(s) => s.name,
            Caller::Anonymous | Caller::Rejected(_) => String::new(),
        };
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            subject: subject.to_owned(),
            resource,
            actor,
            outcome: "success".to_owned(),
            reason: String::new(),
            request_id: bounded(platform_kernel::observe::request_id().unwrap_or_default()),
            client_ip: platform_kernel::peer::client_ip()
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            user_agent: bounded(platform_kernel::observe::user_agent().unwrap_or_default()),
            occurred_at_us: at.timestamp_micros(),
            payload: serde_json::json!({}),
        }
    }

    /// Who acted: the caller a service core was handed (rather than the request's).
    pub fn by_caller(self, caller: &platform_kernel::caller::Caller) -> Self {
        use platform_kernel::caller::Caller;
        match caller {
            Caller::User(u) => self.by(&u.id),
            Caller::Service(s) => self.by(&s.name),
            Caller::Anonymous | Caller::Rejected(_) => self.by(""),
        }
    }

    /// Who acted, when it is not the caller (a login's user, once known).
    pub fn by(mut self, actor: &str) -> Self {
        actor.clone_into(&mut self.actor);
        self
    }

    /// A failure, and why (a category).
    pub fn failed(mut self, reason: &str) -> Self {
        "failure".clone_into(&mut self.outcome);
        reason.clone_into(&mut self.reason);
        self
    }

    /// Refused for lack of a right.
    pub fn denied(mut self, reason: &str) -> Self {
        "denied".clone_into(&mut self.outcome);
        reason.clone_into(&mut self.reason);
        self
    }

    pub fn with(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    /// The Kafka topic of its source: `platform.<source>.events`.
    pub fn topic(&self) -> String {
        format!("platform.{}.events", self.source)
    }
}

/// What a caller sends (a User-Agent, a request id) kept to [`MAX_CALLER_TEXT`] bytes: an
/// event is never refused for a field its caller chose.
pub const MAX_CALLER_TEXT: usize = 256;

fn bounded(mut text: String) -> String {
    if text.len() > MAX_CALLER_TEXT {
        let mut end = MAX_CALLER_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.replace('\0', "\u{fffd}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_a_caller_chose_is_bounded_and_never_holds_nul() {
        assert_eq!(super::bounded("curl/8".into()), "curl/8");
        let long = "é".repeat(400);
        let cut = super::bounded(long);
        assert!(cut.len() <= super::MAX_CALLER_TEXT && cut.chars().all(|c| c == 'é'));
        assert_eq!(super::bounded("a\0b".into()), "a\u{fffd}b");
    }
}
