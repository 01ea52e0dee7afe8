//! The bus: the outbox relayed to Kafka with an idempotent producer (`enable.idempotence`,
//! `acks=all`: a broker keeps each message once and in order per partition within a producer
//! session), one topic per source service, keyed by subject (per-subject order); and the
//! consumer side, which commits an offset only after the message was handled.
//!
//! A producer session ends with a relay restart, and the relay sends again what was not
//! marked sent: consumers dedupe by event id (audit stores an id once).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use crate::Event;
use crate::relay::Sink;

/// Settings the idempotent producer relies on; `settings` may not undo them.
const REQUIRED: [(&str, &str); 4] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("max.in.flight.requests.per.connection", "5"),
    // A message that times out fails the producer (rebuilt) rather than let a later one of
    // the same partition overtake it.
    ("enable.gapless.guarantee", "true"),
];

/// The producer's configuration: `brokers`, the required settings, and `settings` on top,
/// unless one contradicts them (refused, naming it: a producer that silently lost its
/// idempotence would duplicate or reorder events).
pub fn producer_config(
    brokers: &str,
    settings: &BTreeMap<String, String>,
) -> anyhow::Result<ClientConfig> {
    for (key, value) in settings {
        let contradicts = match key.as_str() {
            "enable.idempotence" => value != "true",
            "acks" => value != "all" && value != "-1",
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                value.parse::<u32>().map_or(true, |n| n == 0 || n > 5)
            }
            "retries" | "message.send.max.retries" => value == "0",
            "transactional.id" => true,
            _ => false,
        };
        if contradicts {
            anyhow::bail!(
                "kafka.settings.{key}={value} contradicts the idempotent producer the outbox relay needs (enable.idempotence=true, acks=all, max.in.flight.requests.per.connection ≤ 5, retries > 0, no transactions)"
            );
        }
    }
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "5");
    for (key, value) in REQUIRED {
        config.set(key, value);
    }
    for (key, value) in settings {
        config.set(key, value);
    }
    Ok(config)
}

/// The relay's sink with Kafka configured.
pub struct KafkaSink {
    config: ClientConfig,
    producer: Mutex<FutureProducer>,
}

impl KafkaSink {
    /// Makes the producer and, in the background when a runtime is there, connects it (so the
    /// first events do not wait for the connection and the topic's metadata).
    pub fn new(config: ClientConfig) -> anyhow::Result<Self> {
        let producer: FutureProducer = config.create()?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let warm = producer.clone();
            drop(runtime.spawn_blocking(move || {
                if let Err(e) = warm.client().fetch_metadata(None, Duration::from_secs(5)) {
                    tracing::warn!(error = %e, "the Kafka brokers did not answer yet; the relay will retry");
                }
            }));
        }
        Ok(Self {
            config,
            producer: Mutex::new(producer),
        })
    }

    fn producer(&self) -> FutureProducer {
        self.producer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After a fatal error (the idempotent producer's sequence is broken: it cannot go on),
    /// a new producer (a new session).
    fn rebuild(&self, why: &str) {
        tracing::error!(%why, "the Kafka producer hit a fatal error; making a new one");
        metrics::counter!("events_producer_rebuilds_total").increment(1);
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                *self
                    .producer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
            }
            Err(e) => tracing::error!(error = %e, "making a new Kafka producer failed"),
        }
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn deliver(&self, event: &Event) -> Result<(), String> {
        match self.deliver_all(std::slice::from_ref(event)).await {
            (1, _) => Ok(()),
            (_, why) => Err(why.unwrap_or_else(|| "not delivered".into())),
        }
    }

    /// Sends the batch at once (the producer pipelines it, in order per partition) and waits
    /// for the acknowledgements in order: the delivered prefix, and why it stopped.
    async fn deliver_all(&self, events: &[Event]) -> (usize, Option<String>) {
        let producer = self.producer();
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let payload = match serde_json::to_vec(event) {
                Ok(payload) => payload,
                Err(e) => return (0, Some(e.to_string())),
            };
            let topic = event.topic();
            let record = FutureRecord::to(&topic)
                .key(&event.subject)
                .payload(&payload);
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => return self.settle(pending, Some(e.to_string())).await,
            }
        }
        self.settle(pending, None).await
    }
}

impl KafkaSink {
    async fn settle(
        &self,
        pending: Vec<rdkafka::producer::DeliveryFuture>,
        mut stopped: Option<String>,
    ) -> (usize, Option<String>) {
        let mut delivered = 0;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) if stopped.is_none() => delivered += 1,
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    stopped.get_or_insert_with(|| e.to_string());
                }
                Err(_) => {
                    stopped.get_or_insert_with(|| "the producer went away".into());
                }
            }
        }
        if let Some(fatal) = self.producer().client().fatal_error() {
            self.rebuild(&fatal.1);
        }
        (delivered, stopped)
    }
}

/// What a consumer does with each event.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// `Err` leaves the offset where it is: the event is handled again (retried here).
    async fn handle(&self, event: &Event) -> Result<(), String>;
}

/// Consumes `topics` as `group` for the life of the process (or until the handle is
/// aborted, while the broker is still there to be left): each event handled (retried with
/// backoff until it is), then its offset committed. Redelivered events are handled again:
/// handlers dedupe by event id.
pub fn spawn_consumer(
    brokers: &str,
    settings: &BTreeMap<String, String>,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn Handler>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (key, value) in settings {
        config.set(key, value);
    }
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(topics)?;
    Ok(tokio::spawn(async move {
        loop {
            let message = match consumer.recv().await {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event bus failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let event: Event = match message.payload().map(serde_json::from_slice).transpose() {
                Ok(Some(event)) => event,
                Ok(None) | Err(_) => {
                    tracing::error!(
                        topic = message.topic(),
                        offset = message.offset(),
                        "a message on the bus is not an event; skipped"
                    );
                    let _ = consumer.commit_message(&message, CommitMode::Async);
                    continue;
                }
            };
            // An event is its source's to publish, on its source's topic only (where broker
            // ACLs let each service write its own topic, a source cannot be claimed).
            if message.topic() != event.topic() {
                tracing::error!(
                    topic = message.topic(),
                    source = %event.source,
                    event = %event.id,
                    "an event claims a source whose topic it did not come on; skipped"
                );
                metrics::counter!("events_refused_total").increment(1);
                let _ = consumer.commit_message(&message, CommitMode::Async);
                continue;
            }
            let mut wait = Duration::from_millis(100);
            while let Err(why) = handler.handle(&event).await {
                tracing::warn!(event = %event.id, %why, "handling an event failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            if let Err(e) = consumer.commit_message(&message, CommitMode::Async) {
                tracing::warn!(error = %e, "committing a consumer offset failed (the event will be handled again)");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_undo_the_idempotent_producer_are_refused_by_name() {
        let ok = BTreeMap::from([("security.protocol".to_owned(), "plaintext".to_owned())]);
        assert!(producer_config("b:9092", &ok).is_ok());
        for (key, value) in [
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("max.in.flight.requests.per.connection", "6"),
            ("retries", "0"),
            ("transactional.id", "x"),
        ] {
            let bad = BTreeMap::from([(key.to_owned(), value.to_owned())]);
            let err = producer_config("b:9092", &bad).expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
