//! Through a real broker into the audit log: 1,000 state changes' events, the broker not
//! answering for the middle third and the relay restarted: 0 audit records lost, 0
//! duplicated, each subject's in order, and the chain intact.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::consumer::{RecordEvents, TOPICS};
use audit::domain::{Filter, Order};
use audit::ports::Permissions;
use audit::service::{AuditService, Ports, Settings};
use audit::store::{MIGRATIONS, SqlAuditStore};
use platform_database::{Database, Migrations};
use platform_events::Event;
use platform_events::kafka::{KafkaSink, producer_config, spawn_consumer};
use platform_events::relay::{Relay, Wake};
use platform_kernel::caller::Caller;
use platform_kernel::clock::SystemClock;
use platform_testkit::database::{Backend, TestStore};
use platform_testkit::kafka::TestBroker;

/// The outbox table as the events crate tests it (every emitting service has the same).
static OUTBOX_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../shared/events/tests/migrations");
static OUTBOX: Migrations = Migrations {
    postgres: &OUTBOX_MIGRATOR,
    sqlite: &OUTBOX_MIGRATOR,
};

struct NoOne;

#[async_trait::async_trait]
impl Permissions for NoOne {
    async fn allowed(&self, _: &str, _: &str) -> audit::error::Result<bool> {
        Ok(false)
    }
}

fn relay(db: &Database, broker: &TestBroker, wake: &Wake) -> tokio::task::JoinHandle<()> {
    let settings = BTreeMap::from([("message.timeout.ms".to_owned(), "1500".to_owned())]);
    let sink = KafkaSink::new(producer_config(&broker.brokers(), &settings).expect("config"))
        .expect("producer");
    Relay::new(db.clone(), Arc::new(sink), wake.clone()).spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_changes_through_a_paused_broker_and_a_relay_restart_are_audited_once_each() {
    let broker = TestBroker::start();
    for topic in TOPICS {
        broker.create_topic(topic, 3);
    }
    let outbox = TestStore::open(Backend::Sqlite, "identity", &OUTBOX).await;
    let log = TestStore::open(Backend::Postgres, "audit", &MIGRATIONS).await;
    let service = Arc::new(AuditService::new(
        Ports {
            store: Arc::new(SqlAuditStore::new(log.db.clone())),
            permissions: Arc::new(NoOne),
            clock: Arc::new(SystemClock),
        },
        &Settings::default(),
    ));
    let consumer = spawn_consumer(
        &broker.brokers(),
        &BTreeMap::new(),
        "audit",
        &TOPICS,
        Arc::new(RecordEvents(service.clone())),
    )
    .expect("consumer");
    let wake = Wake::default();
    let mut running = relay(&outbox.db, &broker, &wake);
    for n in 0..1000 {
        if n == 333 {
            broker.pause();
        }
        if n == 666 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            running.abort();
            running = relay(&outbox.db, &broker, &wake);
            broker.resume();
        }
        let subject = format!("01a20000-0000-7000-8000-{:012}", n % 10);
        let event = Event::new(
            "identity",
            "user.updated",
            &subject,
            format!("identity/users/{subject}"),
            chrono::Utc::now(),
        )
        .with(serde_json::json!({ "n": n }));
        let mut tx = outbox.db.pool.begin().await.expect("tx");
        platform_events::outbox::write(&mut tx, &[event])
            .await
            .expect("outbox");
        tx.commit().await.expect("commit");
        wake.wake();
    }
    let reader = Caller::service("platformctl");
    let everything = Filter {
        action: Some("user.updated".into()),
        ..Filter::default()
    };
    // Generous: the consumer group's first join on tansu alone has taken ~25 s, and longer
    // under the full suite's load (a run once saw nothing within 60 s).
    let deadline = Instant::now() + Duration::from_secs(180);
    let total = loop {
        let page = service
            .query(&reader, &everything, Order::OldestFirst, "", 1, true)
            .await
            .expect("query");
        let total = page.total.expect("total");
        if total >= 1000 || Instant::now() > deadline {
            break total;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A moment for any late redelivery to show up as a duplicate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let page = service
        .query(&reader, &everything, Order::OldestFirst, "", 1000, true)
        .await
        .expect("query");
    assert_eq!(
        (total, page.total),
        (1000, Some(1000)),
        "0 lost, 0 duplicated"
    );
    let mut last: HashMap<String, i64> = HashMap::new();
    for record in &page.records {
        let n = record.metadata["n"].as_i64().expect("n");
        if let Some(before) = last.insert(record.resource.clone(), n) {
            assert!(before < n, "{}: {before} then {n}", record.resource);
        }
    }
    let check = service.verify_chain(&reader, 0, 0).await.expect("verify");
    assert_eq!((check.checked, check.broken), (1000, None));
    consumer.abort();
    running.abort();
    let _ = consumer.await;
    let _ = running.await;
    outbox.finish().await;
    log.finish().await;
}
