//! The outbox through a real Kafka-compatible broker (tansu): 1,000 changes with the broker
//! not answering for the middle third and the relay restarted, consumed by a group that
//! commits after handling: every event arrives, the consumer's dedupe by id leaves each once,
//! per-subject order holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platform_database::{Database, Migrations};
use platform_events::Event;
use platform_events::kafka::{Handler, KafkaSink, producer_config, spawn_consumer};
use platform_events::relay::{Relay, Wake};
use platform_testkit::database::{Backend, TestStore};
use platform_testkit::kafka::TestBroker;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");
static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// Dedupes by event id, as every consumer must, and keeps the first arrivals in order.
#[derive(Default)]
struct Deduping {
    seen: Mutex<HashSet<String>>,
    order: Mutex<Vec<Event>>,
    deliveries: Mutex<usize>,
}

#[async_trait::async_trait]
impl Handler for Deduping {
    async fn handle(&self, event: &Event) -> Result<(), String> {
        *self.deliveries.lock().expect("lock") += 1;
        if self.seen.lock().expect("lock").insert(event.id.clone()) {
            self.order.lock().expect("lock").push(event.clone());
        }
        Ok(())
    }
}

async fn write(db: &Database, event: Event) {
    let mut tx = db.pool.begin().await.expect("tx");
    platform_events::outbox::write(&mut tx, &[event])
        .await
        .expect("outbox");
    tx.commit().await.expect("commit");
}

fn relay(db: &Database, broker: &TestBroker, wake: &Wake) -> tokio::task::JoinHandle<()> {
    // A short message timeout, so the paused broker's failures come within the test.
    let settings = BTreeMap::from([("message.timeout.ms".to_owned(), "1500".to_owned())]);
    let sink = KafkaSink::new(producer_config(&broker.brokers(), &settings).expect("config"))
        .expect("producer");
    Relay::new(db.clone(), Arc::new(sink), wake.clone()).spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changes_through_a_broker_paused_for_the_middle_third_and_a_relay_restart() {
    let broker = TestBroker::start();
    broker.create_topic("platform.identity.events", 3);
    let store = TestStore::open(Backend::Sqlite, "events", &MIGRATIONS).await;
    let db = store.db.clone();
    let handler = Arc::new(Deduping::default());
    let consumer = spawn_consumer(
        &broker.brokers(),
        &BTreeMap::new(),
        "test-audit",
        &["platform.identity.events"],
        handler.clone(),
    )
    .expect("consumer");
    let wake = Wake::default();
    let mut running = relay(&db, &broker, &wake);
    for n in 0..1000 {
        if n == 333 {
            broker.pause();
        }
        if n == 666 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            // The relay restarts (a new producer session) and the broker comes back.
            running.abort();
            running = relay(&db, &broker, &wake);
            broker.resume();
        }
        let subject = format!("user-{}", n % 10);
        let event = Event::new(
            "identity",
            "user.updated",
            &subject,
            format!("identity/users/{subject}"),
            chrono::Utc::now(),
        )
        .with(serde_json::json!({ "n": n }));
        write(&db, event).await;
        wake.wake();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while handler.order.lock().expect("lock").len() < 1000 {
        assert!(
            Instant::now() < deadline,
            "only {} of 1000 arrived",
            handler.order.lock().expect("lock").len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order = handler.order.lock().expect("lock").clone();
    assert_eq!(order.len(), 1000, "0 lost, 0 duplicated after dedupe by id");
    let mut last: HashMap<String, i64> = HashMap::new();
    for event in &order {
        let n = event.payload["n"].as_i64().expect("n");
        if let Some(before) = last.insert(event.subject.clone(), n) {
            assert!(before < n, "{}: {before} then {n}", event.subject);
        }
    }
    let deliveries = *handler.deliveries.lock().expect("lock");
    eprintln!("1000 events, {deliveries} deliveries to the consumer (redeliveries deduped)");
    // Stop the consumer and the relay while the broker is there to be left.
    consumer.abort();
    running.abort();
    let _ = consumer.await;
    let _ = running.await;
    store.finish().await;
}

/// An event claiming another service as its source, published on a topic that is not that
/// source's, is not handled: a service's topic carries its own events only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_a_topic_not_its_sources_is_not_handled() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let broker = TestBroker::start();
    broker.create_topic("platform.auth.events", 1);
    let handler = Arc::new(Deduping::default());
    let consumer = spawn_consumer(
        &broker.brokers(),
        &BTreeMap::new(),
        "test-audit",
        &["platform.auth.events"],
        handler.clone(),
    )
    .expect("consumer");
    let producer: FutureProducer = producer_config(&broker.brokers(), &BTreeMap::new())
        .expect("config")
        .create()
        .expect("producer");
    let event = |source: &str, kind: &str| {
        Event::new(
            source,
            kind,
            "someone",
            "identity/users/someone".into(),
            chrono::Utc::now(),
        )
    };
    let forged = event("identity", "user.deleted");
    let genuine = event("auth", "auth.logout");
    for e in [&forged, &genuine] {
        let payload = serde_json::to_vec(e).expect("json");
        producer
            .send(
                FutureRecord::to("platform.auth.events")
                    .key(&e.subject)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("sent");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while handler.order.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "the genuine event never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handled: Vec<String> = handler
        .order
        .lock()
        .expect("lock")
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(
        handled,
        vec![genuine.id.clone()],
        "the forged one was skipped"
    );
    consumer.abort();
    let _ = consumer.await;
}
