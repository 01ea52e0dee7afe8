//! The relay: reads the outbox oldest first, hands each event to a [`Sink`], marks it sent
//! once the sink acknowledged it, and retries with backoff (100 ms doubling to 5 s) for as
//! long as the sink fails. It wakes when this process commits an event ([`Wake`]) and polls
//! every 50 ms for the rows of other replicas, so a row is picked up within 100 ms of its
//! commit. On PostgreSQL the batch is claimed with `FOR UPDATE SKIP LOCKED` and a lock per
//! subject, so replicas never deliver one row at once, nor one subject's rows out of order;
//! on SQLite (one process) it is read without a transaction.
//! Delivery is at least once (a crash between the sink's acknowledgement and the mark sends
//! the row again): consumers dedupe by event id.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform_clients::{AuditServiceClient, ErrorCode};
use platform_database::{Backend, Database, column};
use platform_proto::audit::v1 as pb;
use tokio::sync::Notify;

use crate::Event;

/// Where events go.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Delivers one event; `Err` says why it should be tried again later.
    async fn deliver(&self, event: &Event) -> Result<(), String>;

    /// Delivers `events` in order: how many (a prefix) were delivered, and why it stopped.
    async fn deliver_all(&self, events: &[Event]) -> (usize, Option<String>) {
        for (n, event) in events.iter().enumerate() {
            if let Err(why) = self.deliver(event).await {
                return (n, Some(why));
            }
        }
        (events.len(), None)
    }
}

/// Wakes the relay of this process (after a commit that wrote events).
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

pub struct Relay {
    db: Database,
    sink: Arc<dyn Sink>,
    wake: Wake,
    batch: u32,
}

/// How often the outbox is read without a wake-up (rows committed by other replicas).
pub const POLL: Duration = Duration::from_millis(50);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// Sent rows are kept this long (a trace of what left), then pruned.
const KEEP_SENT_US: i64 = 24 * 3600 * 1_000_000;

impl Relay {
    pub fn new(db: Database, sink: Arc<dyn Sink>, wake: Wake) -> Self {
        Self {
            db,
            sink,
            wake,
            batch: 200,
        }
    }

    /// Relays for the life of the process (or until the handle is aborted).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut retry = FIRST_RETRY;
            loop {
                match self.run_once().await {
                    Ok(Pass { sent, stuck: false }) => {
                        retry = FIRST_RETRY;
                        if sent == 0 {
                            // Nothing pending: sleep until woken, or the poll interval.
                            let _ = tokio::time::timeout(POLL, self.wake.0.notified()).await;
                        }
                    }
                    Ok(Pass { stuck: true, .. }) => {
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(MAX_RETRY);
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "reading the outbox failed");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(MAX_RETRY);
                    }
                }
            }
        })
    }

    /// Delivers one batch, oldest first, stopping at the first event the sink refuses.
    pub async fn run_once(&self) -> anyhow::Result<Pass> {
        let claim = "SELECT id, event FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1";
        let mut pass = Pass::default();
        match self.db.backend {
            Backend::Postgres => {
                let mut tx = self.db.pool.begin().await.context("claiming outbox rows")?;
                // Rows another replica holds are skipped, and so is every row of a subject
                // another replica is sending (a transaction-scoped advisory lock per subject):
                // one subject's events leave in order whatever the number of replicas.
                let rows = sqlx::query(
                    "SELECT id, event FROM outbox WHERE sent_at IS NULL \
                     AND pg_try_advisory_xact_lock(7310, hashtext(subject)) \
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                )
                .bind(i64::from(self.batch))
                .fetch_all(&mut *tx)
                .await
                .context("claiming outbox rows")?;
                let sent = self.deliver(&rows, &mut pass).await?;
                mark_sent(&mut tx, &sent).await?;
                tx.commit().await.context("marking outbox rows sent")?;
            }
            Backend::Sqlite => {
                let rows = sqlx::query(claim)
                    .bind(i64::from(self.batch))
                    .fetch_all(&self.db.pool)
                    .await
                    .context("reading the outbox")?;
                let sent = self.deliver(&rows, &mut pass).await?;
                let mut conn = self
                    .db
                    .pool
                    .acquire()
                    .await
                    .context("marking outbox rows sent")?;
                mark_sent(&mut conn, &sent).await?;
            }
        }
        if pass.sent > 0 {
            metrics::counter!("events_relayed_total").increment(pass.sent as u64);
        }
        Ok(pass)
    }

    async fn deliver(
        &self,
        rows: &[sqlx::any::AnyRow],
        pass: &mut Pass,
    ) -> anyhow::Result<Vec<String>> {
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = column(row, "id")?;
            let text: String = column(row, "event")?;
            events.push(
                serde_json::from_str::<Event>(&text).with_context(|| format!("outbox row {id}"))?,
            );
        }
        let (delivered, stopped) = self.sink.deliver_all(&events).await;
        if let Some(why) = stopped {
            if let Some(event) = events.get(delivered) {
                tracing::warn!(event = %event.id, kind = %event.kind, %why, "event not delivered; retrying");
            }
            metrics::counter!("events_delivery_failures_total").increment(1);
            pass.stuck = true;
        }
        pass.sent = delivered;
        Ok(events.into_iter().take(delivered).map(|e| e.id).collect())
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    /// The sink refused an event: back off before the next pass.
    pub stuck: bool,
}

async fn mark_sent(conn: &mut sqlx::AnyConnection, ids: &[String]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_micros();
    for id in ids {
        sqlx::query("UPDATE outbox SET sent_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("marking event {id} sent"))?;
    }
    sqlx::query("DELETE FROM outbox WHERE sent_at < $1")
        .bind(now - KEEP_SENT_US)
        .execute(&mut *conn)
        .await
        .context("pruning sent events")?;
    Ok(())
}

/// The embedded default's sink: each event becomes an audit record with the event's id, so
/// the audit service stores it once however often it arrives.
pub struct AuditSink(pub Arc<dyn AuditServiceClient>);

#[async_trait::async_trait]
impl Sink for AuditSink {
    async fn deliver(&self, event: &Event) -> Result<(), String> {
        let outcome = match event.outcome.as_str() {
            "success" => pb::Outcome::Success,
            "failure" => pb::Outcome::Failure,
            "denied" => pb::Outcome::Denied,
            _ => pb::Outcome::Unspecified,
        };
        let record = pb::AuditRecord {
            id: event.id.clone(),
            actor_id: event.actor.clone(),
            action: event.kind.clone(),
            resource: event.resource.clone(),
            outcome: outcome.into(),
            metadata: serde_json::from_value(event.payload.clone()).ok(),
            client_ip: event.client_ip.clone(),
            request_id: event.request_id.clone(),
            reason: event.reason.clone(),
            user_agent: event.user_agent.clone(),
            ..Default::default()
        };
        match self
            .0
            .record(pb::RecordRequest {
                record: Some(record),
            })
            .await
        {
            Ok(_) => Ok(()),
            // A record audit refuses as malformed would be refused forever: log it and move
            // on rather than stop every later event behind it.
            Err(e) if e.code == ErrorCode::InvalidArgument => {
                tracing::error!(event = %event.id, kind = %event.kind, error = %e, "the audit service refused an event as malformed; skipped");
                metrics::counter!("events_refused_total").increment(1);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Starts the relay of a service's outbox: to Kafka when `kafka.brokers` is set, otherwise
/// straight to the audit service through `audit` (the embedded default). The returned
/// [`Wake`] goes to the store that writes the outbox.
pub fn start(
    db: &Database,
    kafka: &platform_kernel::config::KafkaConfig,
    audit: Arc<dyn AuditServiceClient>,
) -> anyhow::Result<Wake> {
    let sink: Arc<dyn Sink> = match &kafka.brokers {
        Some(brokers) => Arc::new(crate::kafka::KafkaSink::new(
            crate::kafka::producer_config(brokers, &kafka.settings)?,
        )?),
        None => Arc::new(AuditSink(audit)),
    };
    let wake = Wake::default();
    drop(Relay::new(db.clone(), sink, wake.clone()).spawn());
    Ok(wake)
}
