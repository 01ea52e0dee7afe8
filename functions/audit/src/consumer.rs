//! With Kafka configured, audit reads every service's events from the bus and records each
//! under its event id: a redelivered event is stored once (Record is idempotent by id, in
//! the same transaction as the record itself).

use std::sync::Arc;

use platform_events::Event;
use platform_events::kafka::Handler;
use platform_kernel::caller::Caller;

use crate::domain::{Entry, Outcome};
use crate::error::AuditError;
use crate::service::AuditService;

/// The topics audit follows: every emitting service's.
pub const TOPICS: [&str; 3] = [
    "platform.identity.events",
    "platform.auth.events",
    "platform.authz.events",
];

pub struct RecordEvents(pub Arc<AuditService>);

/// The audit entry of an event.
pub fn entry_of(event: &Event) -> Entry {
    Entry {
        id: event.id.clone(),
        actor: event.actor.clone(),
        action: event.kind.clone(),
        resource: event.resource.clone(),
        outcome: Outcome::parse(&event.outcome).unwrap_or(Outcome::Unspecified),
        reason: event.reason.clone(),
        client_ip: event.client_ip.clone(),
        user_agent: event.user_agent.clone(),
        request_id: event.request_id.clone(),
        metadata: if event.payload.is_object() {
            event.payload.clone()
        } else {
            serde_json::json!({})
        },
    }
}

#[async_trait::async_trait]
impl Handler for RecordEvents {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        // The bus carries what the platform's services wrote (keep it so with broker ACLs).
        let by = Caller::service(&event.source);
        match self.0.record(&by, entry_of(event)).await {
            Ok(_) => Ok(()),
            Err(AuditError::InvalidArgument { field, reason }) => {
                tracing::error!(event = %event.id, %field, %reason, "an event on the bus is not a valid audit record; skipped");
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
