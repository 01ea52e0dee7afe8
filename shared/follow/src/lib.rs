//! Following the event bus for a wake-up: a process that keeps a cache of something another
//! service owns (authz's grants, auth's revocations) reads that owner's log on an interval,
//! and, where Kafka is configured, also the moment an event on the owner's topic says the
//! log grew. No database here: the gateway links this and nothing of the services.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Follows `topics` from this moment on, calling `wake` for each event whose type is in
/// `types`. Every partition is assigned directly at its end (no consumer group to join, so
/// the follower reads within a moment of starting; every instance sees every event), and
/// partitions added later are picked up within a minute. Nothing is committed: a follower
/// keeps no place, it only wakes a reader of the authoritative log (authz's change log,
/// auth's revocation feed) sooner than that reader's own interval would. An event published
/// before the follower read its partitions is caught by that reader's next interval.
pub fn spawn_follower(
    brokers: &str,
    settings: &BTreeMap<String, String>,
    name: &str,
    topics: &[&str],
    types: &'static [&'static str],
    wake: Arc<tokio::sync::Notify>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: String,
    }
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // Never joined (partitions are assigned), but librdkafka wants one.
        .set(
            "group.id",
            format!("{name}-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A broker answers a fetch as soon as data arrives; one that waits out the whole
        // fetch wait (tansu does) would delay every wake-up by up to this.
        .set("fetch.wait.max.ms", "50");
    for (key, value) in settings {
        config.set(key, value);
    }
    let consumer: Arc<StreamConsumer> = Arc::new(config.create()?);
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    Ok(tokio::spawn(async move {
        let mut assigned: HashSet<(String, i32)> = HashSet::new();
        let mut look = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= look {
                let missing = assigned.len();
                match assign_new(&consumer, &topics, &mut assigned).await {
                    Ok(()) if assigned.len() > missing => {
                        tracing::debug!(partitions = assigned.len(), "following the event bus");
                    }
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the event bus's partitions failed")
                    }
                }
                // Soon while there is nothing to follow yet, then once a minute.
                let every = if assigned.is_empty() { 1 } else { 60 };
                look = tokio::time::Instant::now() + Duration::from_secs(every);
            }
            if assigned.is_empty() {
                tokio::time::sleep_until(look).await;
                continue;
            }
            tokio::select! {
                received = consumer.recv() => match received {
                    Ok(message) => {
                        let kind = message
                            .payload()
                            .and_then(|p| serde_json::from_slice::<Kind>(p).ok());
                        if kind.is_some_and(|k| types.contains(&k.kind.as_str())) {
                            wake.notify_one();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "following the event bus failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
                () = tokio::time::sleep_until(look) => {}
            }
        }
    }))
}

/// Assigns the partitions of `topics` not yet in `assigned`, each at its end.
async fn assign_new(
    consumer: &Arc<StreamConsumer>,
    topics: &[String],
    assigned: &mut HashSet<(String, i32)>,
) -> anyhow::Result<()> {
    let reader = consumer.clone();
    let wanted = topics.to_vec();
    let found = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, i32)>> {
        let mut found = Vec::new();
        for topic in &wanted {
            let metadata = reader.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            for t in metadata.topics() {
                if t.error().is_none() {
                    found.extend(t.partitions().iter().map(|p| (t.name().to_owned(), p.id())));
                }
            }
        }
        Ok(found)
    })
    .await??;
    let mut fresh = TopicPartitionList::new();
    for (topic, partition) in found {
        if !assigned.contains(&(topic.clone(), partition)) {
            fresh.add_partition_offset(&topic, partition, Offset::End)?;
            assigned.insert((topic, partition));
        }
    }
    if fresh.count() > 0 {
        consumer.incremental_assign(&fresh)?;
    }
    Ok(())
}
