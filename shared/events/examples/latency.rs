//! Commit → broker acknowledgement, on demand (not a test): events committed to an outbox one
//! by one at a steady rate, relayed to a real broker (tansu, `TANSU_BIN` or the tools
//! directory), the time from each commit to its acknowledgement recorded.
//!
//! `cargo run --release -p platform-events --example latency -- [events] [per-second]`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platform_database::{Database, Migrations};
use platform_events::Event;
use platform_events::kafka::{KafkaSink, producer_config};
use platform_events::relay::{Relay, Sink, Wake};
use platform_kernel::config::DatabaseConfig;
use platform_testkit::kafka::TestBroker;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");
static MIGRATIONS: Migrations = Migrations {
    postgres: &MIGRATOR,
    sqlite: &MIGRATOR,
};

/// The Kafka sink, noting when each event was acknowledged.
struct Timed {
    inner: KafkaSink,
    committed: Mutex<HashMap<String, Instant>>,
    took: Mutex<Vec<Duration>>,
}

#[async_trait::async_trait]
impl Sink for Timed {
    async fn deliver(&self, event: &Event) -> Result<(), String> {
        self.inner.deliver(event).await
    }

    async fn deliver_all(&self, events: &[Event]) -> (usize, Option<String>) {
        let (delivered, stopped) = self.inner.deliver_all(events).await;
        let now = Instant::now();
        let committed = self.committed.lock().expect("lock");
        let mut took = self.took.lock().expect("lock");
        for event in &events[..delivered] {
            if let Some(at) = committed.get(&event.id) {
                took.push(now - *at);
            }
        }
        (delivered, stopped)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let broker = TestBroker::start();
    broker.create_topic("platform.identity.events", 3);
    let dir = tempfile::tempdir()?;
    let db = Database::open(
        &DatabaseConfig::default(),
        dir.path(),
        "events",
        &MIGRATIONS,
    )
    .await?;
    let sink = Arc::new(Timed {
        inner: KafkaSink::new(producer_config(&broker.brokers(), &Default::default())?)?,
        committed: Mutex::new(HashMap::new()),
        took: Mutex::new(Vec::new()),
    });
    let wake = Wake::default();
    let relay = Relay::new(db.clone(), sink.clone(), wake.clone()).spawn();
    // The sink connects the producer as it is made; let it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for n in 0..events {
        tick.tick().await;
        let event = Event::new(
            "identity",
            "user.updated",
            &format!("u{}", n % 50),
            String::new(),
            chrono::Utc::now(),
        );
        let mut tx = db.pool.begin().await?;
        platform_events::outbox::write(&mut tx, std::slice::from_ref(&event)).await?;
        tx.commit().await?;
        sink.committed
            .lock()
            .expect("lock")
            .insert(event.id.clone(), Instant::now());
        wake.wake();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.took.lock().expect("lock").len() < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.abort();
    let mut took = sink.took.lock().expect("lock").clone();
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    println!(
        "{} events at {rate}/s, SQLite outbox, tansu broker: commit → ack p50 {:?}, p99 {:?}, max {:?}",
        took.len(),
        at(0.50),
        at(0.99),
        took.last().copied().unwrap_or_default()
    );
    Ok(())
}
