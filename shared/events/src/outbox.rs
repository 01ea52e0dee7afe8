//! The outbox table, in each emitting service's own schema. Its migration (the same in every
//! service; copy it into a new emitter's migrations):
//!
//! ```sql
//! CREATE TABLE outbox (
//!     id         TEXT PRIMARY KEY,   -- the event id (UUID v7: sorts by time)
//!     topic      TEXT NOT NULL,
//!     subject    TEXT NOT NULL,      -- the key: per-subject order
//!     event      TEXT NOT NULL,      -- the envelope, JSON
//!     created_at BIGINT NOT NULL,
//!     sent_at    BIGINT              -- set once the sink acknowledged it
//! );
//! CREATE INDEX outbox_pending ON outbox (sent_at, id);
//! ```

use anyhow::Context as _;
use sqlx::AnyConnection;

use crate::Event;

/// Stores `events` on `conn`: call it inside the transaction that makes the change they
/// describe, then [`crate::relay::Wake::wake`] the relay after the commit.
pub async fn write(conn: &mut AnyConnection, events: &[Event]) -> anyhow::Result<()> {
    for event in events {
        sqlx::query(
            "INSERT INTO outbox (id, topic, subject, event, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&event.id)
        .bind(event.topic())
        .bind(&event.subject)
        .bind(serde_json::to_string(event).context("encoding an event")?)
        .bind(event.occurred_at_us)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("writing event {} ({}) to the outbox", event.id, event.kind))?;
    }
    Ok(())
}

/// Writes `events` in `tx`, commits it, and wakes the relay (when there were events): the
/// end of every write that changes state.
pub async fn commit(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    events: &[Event],
    relay: &crate::relay::Wake,
    what: &str,
) -> anyhow::Result<()> {
    write(&mut tx, events).await?;
    tx.commit()
        .await
        .with_context(|| format!("committing {what}"))?;
    if !events.is_empty() {
        relay.wake();
    }
    Ok(())
}
