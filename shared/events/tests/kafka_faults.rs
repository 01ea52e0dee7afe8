//! Faults librdkafka's mock cluster can inject (not a real broker; see `kafka.rs` for one):
//! produce requests failing with retriable errors and every broker down for a while. The
//! idempotent producer retries without duplicating, and the relay waits out the outage:
//! each event is on the topic exactly once, in order per subject.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platform_database::Migrations;
use platform_events::Event;
use platform_events::kafka::{Handler, KafkaSink, producer_config, spawn_consumer};
use platform_events::relay::{Relay, Wake};
use platform_testkit::database::{Backend, TestStore};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");
static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// Every delivery, not deduped.
#[derive(Default)]
struct Counting(Mutex<Vec<Event>>);

#[async_trait::async_trait]
impl Handler for Counting {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        self.0.lock().expect("lock").push(event.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_produce_errors_and_a_cluster_outage_leave_each_event_once_in_order() {
    let cluster = MockCluster::new(3).expect("mock cluster");
    cluster
        .create_topic("platform.identity.events", 3, 3)
        .expect("topic");
    let brokers = cluster.bootstrap_servers();
    let store = TestStore::open(Backend::Sqlite, "events", &MIGRATIONS).await;
    let db = store.db.clone();
    let seen = Arc::new(Counting::default());
    // A short session: a consumer that lost its coordinator in the outage rejoins quickly.
    let quick = BTreeMap::from([
        ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "500".to_owned()),
    ]);
    let consumer = spawn_consumer(
        &brokers,
        &quick,
        "fault-test",
        &["platform.identity.events"],
        seen.clone(),
    )
    .expect("consumer");
    let settings = BTreeMap::from([("message.timeout.ms".to_owned(), "1500".to_owned())]);
    let sink =
        KafkaSink::new(producer_config(&brokers, &settings).expect("config")).expect("producer");
    let wake = Wake::default();
    let relay = Relay::new(db.clone(), Arc::new(sink), wake.clone()).spawn();
    let write = |n: usize| {
        let db = db.clone();
        let wake = wake.clone();
        async move {
            let subject = format!("user-{}", n % 5);
            let event = Event::new(
                "identity",
                "user.updated",
                &subject,
                format!("identity/users/{subject}"),
                chrono::Utc::now(),
            )
            .with(serde_json::json!({ "n": n }));
            let mut tx = db.pool.begin().await.expect("tx");
            platform_events::outbox::write(&mut tx, &[event])
                .await
                .expect("outbox");
            tx.commit().await.expect("commit");
            wake.wake();
        }
    };
    // Retriable produce errors: the producer retries them itself, without duplicates.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 5],
    );
    for n in 0..100 {
        write(n).await;
    }
    // Every broker down: the relay keeps the rows until they are acknowledged.
    for broker in 1..=3 {
        cluster.broker_down(broker).expect("down");
    }
    for n in 100..200 {
        write(n).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for broker in 1..=3 {
        cluster.broker_up(broker).expect("up");
    }
    for n in 200..300 {
        write(n).await;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut ids: Vec<String> = seen
            .0
            .lock()
            .expect("lock")
            .iter()
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 300 arrived",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = seen.0.lock().expect("lock").clone();
    // Offsets are committed after handling, asynchronously: when the cluster comes back the
    // consumer may read again from its last committed offset (at least once, by contract;
    // consumers dedupe by event id). So each subject's deliveries are one or more passes,
    // each in order; deduped by id, every event is there once, in order.
    let mut per_subject: HashMap<String, Vec<i64>> = HashMap::new();
    let mut first: HashMap<String, Vec<i64>> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for event in &all {
        let n = event.payload["n"].as_i64().expect("n");
        per_subject
            .entry(event.subject.clone())
            .or_default()
            .push(n);
        if ids.insert(event.id.clone()) {
            first.entry(event.subject.clone()).or_default().push(n);
        }
    }
    assert_eq!(ids.len(), 300, "every event, once after dedupe");
    for (subject, ns) in &first {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{subject} out of order: {ns:?}"
        );
    }
    // Each pass (a new one starts where the number goes back) is a stretch of that order,
    // with nothing skipped or swapped inside it.
    for (subject, ns) in &per_subject {
        let order = &first[subject];
        let mut passes: Vec<Vec<i64>> = Vec::new();
        for n in ns {
            match passes.last_mut() {
                Some(pass) if pass.last().is_some_and(|last| last < n) => pass.push(*n),
                _ => passes.push(vec![*n]),
            }
        }
        for pass in &passes {
            let start = order.iter().position(|m| *m == pass[0]).expect("known");
            assert_eq!(
                &order[start..start + pass.len()],
                &pass[..],
                "{subject}: a pass skips or swaps: {ns:?}"
            );
        }
    }
    eprintln!("300 events, {} deliveries", all.len());
    consumer.abort();
    relay.abort();
    let _ = consumer.await;
    let _ = relay.await;
    store.finish().await;
}
