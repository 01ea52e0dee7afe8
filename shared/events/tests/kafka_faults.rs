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

/// Every delivery, not deduped: the producer's own duplicates would show here.
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
    let mut per_subject: HashMap<String, Vec<i64>> = HashMap::new();
    for event in &all {
        per_subject
            .entry(event.subject.clone())
            .or_default()
            .push(event.payload["n"].as_i64().expect("n"));
    }
    for (subject, ns) in &per_subject {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{subject} out of order or repeated: {ns:?}"
        );
    }
    eprintln!("300 events, {} deliveries", all.len());
    consumer.abort();
    relay.abort();
    let _ = consumer.await;
    let _ = relay.await;
    store.finish().await;
}
