//! The audit store and core on SQLite and PostgreSQL: appends from several replicas form one
//! gapless chain; queries in both orders neither skip nor repeat while writers insert; an
//! altered row, a cut tail and a consistently re-hashed table are each caught.

use std::collections::BTreeSet;
use std::sync::Arc;

use audit::domain::{Entry, Filter, Order, Outcome};
use audit::ports::{AuditStore, Permissions};
use audit::service::{AuditService, Ports, Settings};
use audit::store::{MIGRATIONS, SqlAuditStore};
use platform_audit_chain::{Checkpoint, CheckpointKey, verify_against_checkpoints};
use platform_database::Database;
use platform_kernel::caller::Caller;
use platform_kernel::clock::SystemClock;
use platform_testkit::on_both_backends;

struct NoOne;

#[async_trait::async_trait]
impl Permissions for NoOne {
    async fn allowed(&self, _: &str, _: &str) -> audit::error::Result<bool> {
        Ok(false)
    }
}

fn service(db: &Database) -> AuditService {
    AuditService::new(
        Ports {
            store: Arc::new(SqlAuditStore::new(db.clone())),
            permissions: Arc::new(NoOne),
            clock: Arc::new(SystemClock),
        },
        &Settings::default(),
    )
}

fn entry(action: &str, actor: &str, outcome: Outcome) -> Entry {
    Entry {
        id: String::new(),
        actor: actor.into(),
        action: action.into(),
        resource: format!("identity/users/{actor}"),
        outcome,
        reason: String::new(),
        client_ip: "198.51.100.7".into(),
        user_agent: "test".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
        metadata: serde_json::json!({"actor": actor}),
    }
}

fn writer() -> Caller {
    Caller::service("identity")
}

fn reader() -> Caller {
    Caller::service("platformctl")
}

on_both_backends!(
    two_replicas_appending_at_once_make_one_gapless_chain,
    "audit",
    MIGRATIONS,
    two_replicas
);
async fn two_replicas(db: &Database) {
    let replicas = [Arc::new(service(db)), Arc::new(service(db))];
    let writers: Vec<_> = (0..10)
        .map(|w| {
            let replica = replicas[w % 2].clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    replica
                        .record(
                            &writer(),
                            entry("user.updated", &format!("w{w}-{i}"), Outcome::Success),
                        )
                        .await
                        .expect("recorded");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("join");
    }
    let store = SqlAuditStore::new(db.clone());
    assert_eq!(store.head().await.expect("head").0, 300);
    // One id through one replica, again through it (its head is current), then through the
    // other (whose head may be behind): stored once, the same record each time.
    let mut again = entry("user.updated", "repeated", Outcome::Success);
    again.id = uuid::Uuid::now_v7().to_string();
    let first = replicas[0]
        .record(&writer(), again.clone())
        .await
        .expect("recorded");
    for replica in [&replicas[0], &replicas[1], &replicas[0]] {
        let answer = replica
            .record(&writer(), again.clone())
            .await
            .expect("recorded again");
        assert_eq!(answer, first);
    }
    // And the replicas go on appending after each other.
    for replica in [&replicas[1], &replicas[0], &replicas[1]] {
        replica
            .record(&writer(), entry("user.updated", "after", Outcome::Success))
            .await
            .expect("recorded");
    }
    assert_eq!(store.head().await.expect("head").0, 304);
    let check = replicas[0]
        .verify_chain(&reader(), 0, 0)
        .await
        .expect("verify");
    assert_eq!((check.checked, check.broken), (304, None));
}

on_both_backends!(
    pages_in_both_orders_neither_skip_nor_repeat_while_ten_writers_insert,
    "audit",
    MIGRATIONS,
    pages_while_writing
);
async fn pages_while_writing(db: &Database) {
    let audit = Arc::new(service(db));
    // Before: 60 records, a third of them failures of logins.
    for i in 0..60 {
        let (action, outcome) = if i % 3 == 0 {
            ("identity.signin", Outcome::Failure)
        } else {
            ("user.created", Outcome::Success)
        };
        audit
            .record(&writer(), entry(action, &format!("a{i}"), outcome))
            .await
            .expect("recorded");
    }
    let failures = Filter {
        action_prefix: Some("identity.".into()),
        outcome: Some(Outcome::Failure),
        ..Filter::default()
    };
    let first_newest = audit
        .query(&reader(), &failures, Order::NewestFirst, "", 7, true)
        .await
        .expect("query");
    assert_eq!(first_newest.total, Some(20));
    // Ten writers go on inserting (matching and not) while both orders page through.
    let writers: Vec<_> = (0..10)
        .map(|w| {
            let audit = audit.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let outcome = if i % 2 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    audit
                        .record(
                            &writer(),
                            entry("identity.signin", &format!("w{w}-{i}"), outcome),
                        )
                        .await
                        .expect("recorded");
                }
            })
        })
        .collect();
    let collect = |order: Order, first: Option<audit::service::Page>| {
        let audit = audit.clone();
        let failures = failures.clone();
        async move {
            let mut seen = Vec::new();
            let mut page = match first {
                Some(page) => page,
                None => audit
                    .query(&reader(), &failures, order, "", 7, false)
                    .await
                    .expect("query"),
            };
            loop {
                seen.extend(page.records.iter().map(|r| {
                    assert_eq!(
                        (r.outcome.as_str(), &r.action[..9]),
                        ("failure", "identity.")
                    );
                    r.sequence
                }));
                if page.next_page_token.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
                page = audit
                    .query(&reader(), &failures, order, &page.next_page_token, 7, false)
                    .await
                    .expect("next page");
            }
        }
    };
    let newest = collect(Order::NewestFirst, Some(first_newest)).await;
    let oldest = collect(Order::OldestFirst, None).await;
    for w in writers {
        w.await.expect("join");
    }
    // Newest first from a start: exactly the 20 failures that were there, descending.
    assert_eq!(newest.len(), 20, "{newest:?}");
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "{newest:?}");
    // Oldest first: strictly ascending, and every failure up to the last one seen.
    assert!(oldest.windows(2).all(|w| w[0] < w[1]), "{oldest:?}");
    let all: Vec<i64> = audit
        .query(&reader(), &failures, Order::OldestFirst, "", 1000, true)
        .await
        .expect("all")
        .records
        .iter()
        .map(|r| r.sequence)
        .collect();
    assert_eq!(all.len(), 120, "20 before, 100 during");
    let last = *oldest.last().expect("some");
    let expected: Vec<i64> = all.iter().copied().filter(|s| *s <= last).collect();
    assert_eq!(oldest, expected, "no gap, no repeat");
    let unique: BTreeSet<i64> = newest.iter().copied().collect();
    assert_eq!(unique.len(), newest.len());
    // The other filters, exactly.
    let by_actor = Filter {
        actor: Some("a3".into()),
        ..Filter::default()
    };
    let page = audit
        .query(&reader(), &by_actor, Order::NewestFirst, "", 10, true)
        .await
        .expect("query");
    assert_eq!((page.records.len(), page.total), (1, Some(1)));
    assert_eq!(page.records[0].action, "identity.signin");
    let created = Filter {
        action: Some("user.created".into()),
        resource: Some("identity/users/a1".into()),
        ..Filter::default()
    };
    let page = audit
        .query(&reader(), &created, Order::OldestFirst, "", 10, false)
        .await
        .expect("query");
    assert_eq!(page.records.len(), 1);
    let first_at = page.records[0].occurred_at_us;
    let window = Filter {
        since_us: Some(first_at),
        until_us: Some(first_at + 1),
        ..Filter::default()
    };
    assert!(
        audit
            .query(&reader(), &window, Order::OldestFirst, "", 10, false)
            .await
            .expect("query")
            .records
            .iter()
            .all(|r| r.occurred_at_us == first_at)
    );
}

on_both_backends!(
    an_altered_row_a_cut_tail_and_a_rehashed_table_are_caught,
    "audit",
    MIGRATIONS,
    tampering
);
async fn tampering(db: &Database) {
    let audit = service(db);
    for i in 0..50 {
        audit
            .record(
                &writer(),
                entry("user.created", &format!("u{i}"), Outcome::Success),
            )
            .await
            .expect("recorded");
    }
    let store = SqlAuditStore::new(db.clone());
    let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let trusted = CheckpointKey::of(&key);
    let checkpoint = Checkpoint::sign(&key, 40, &store.range(40, 1).await.expect("r")[0].hash, 1);
    let keys = |id: &str| (id == trusted.key_id()).then(|| trusted.clone());
    let everything = || async { store.range(1, 1000).await.expect("all") };
    assert!(
        verify_against_checkpoints(
            &everything().await,
            std::slice::from_ref(&checkpoint),
            &keys
        )
        .ok()
    );

    // One row altered in place.
    sqlx::query("UPDATE audit_records SET actor = 'mallory' WHERE sequence = 17")
        .execute(&db.pool)
        .await
        .expect("tamper");
    let check = audit.verify_chain(&reader(), 0, 0).await.expect("verify");
    let (sequence, id, reason) = check.broken.expect("caught");
    assert_eq!(sequence, 17, "{reason}");
    assert!(!id.is_empty());

    // Re-hashed from there on, head included: the chain holds, the checkpoint does not.
    let mut records = everything().await;
    rewrite(db, &mut records, 16).await;
    let check = audit.verify_chain(&reader(), 0, 0).await.expect("verify");
    assert_eq!(
        check.broken, None,
        "a consistent rewrite fools the chain alone"
    );
    let report = verify_against_checkpoints(
        &everything().await,
        std::slice::from_ref(&checkpoint),
        &keys,
    );
    assert!(
        report
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("record 40")),
        "{report:?}"
    );

    // The tail cut off.
    sqlx::query("DELETE FROM audit_records WHERE sequence > 45")
        .execute(&db.pool)
        .await
        .expect("truncate");
    let check = audit.verify_chain(&reader(), 0, 0).await.expect("verify");
    let (sequence, _, reason) = check.broken.expect("caught by the head");
    assert_eq!(sequence, 46, "{reason}");
}

on_both_backends!(
    a_checkpoint_is_signed_only_on_a_chain_that_leads_to_it,
    "audit",
    MIGRATIONS,
    checkpoint_refuses_a_broken_chain
);
async fn checkpoint_refuses_a_broken_chain(db: &Database) {
    use audit::checkpoints::CheckpointWriter;
    let audit = service(db);
    let record = |n: usize| {
        let audit = &audit;
        async move {
            for i in 0..n {
                audit
                    .record(
                        &writer(),
                        entry("user.created", &format!("u{i}"), Outcome::Success),
                    )
                    .await
                    .expect("recorded");
            }
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let mut checkpoints = CheckpointWriter::new(dir.path().to_owned(), key.clone()).expect("dir");
    record(10).await;
    let first = checkpoints.checkpoint(&audit, 1).await.expect("signed");
    assert_eq!(first.map(|c| c.sequence), Some(10));
    assert!(
        checkpoints
            .checkpoint(&audit, 2)
            .await
            .expect("nothing new")
            .is_none()
    );
    let signed = || {
        platform_audit_chain::read_checkpoints(dir.path())
            .expect("read")
            .len()
    };

    // A row after the checkpoint altered: named, not signed.
    record(5).await;
    sqlx::query("UPDATE audit_records SET actor = 'mallory' WHERE sequence = 12")
        .execute(&db.pool)
        .await
        .expect("tamper");
    refused_at(&mut checkpoints, &audit, 12).await;
    assert_eq!(signed(), 1);

    // History before the checkpoint rewritten and re-hashed through the head (the chain
    // alone holds): the first record after the checkpoint no longer follows it.
    let store = SqlAuditStore::new(db.clone());
    let mut records = store.range(1, 1000).await.expect("all");
    records[4].actor = "mallory".into();
    rewrite(db, &mut records, 4).await;
    let whole = audit.verify_chain(&reader(), 0, 0).await.expect("verify");
    assert_eq!(whole.broken, None, "the chain alone is fooled");
    refused_at(&mut checkpoints, &audit, 11).await;
    assert_eq!(signed(), 1);
    // A writer started afresh on the same directory picks up from the signed checkpoint.
    let mut again = CheckpointWriter::new(dir.path().to_owned(), key).expect("dir");
    assert_eq!(again.last(), 10);
    assert!(again.checkpoint(&audit, 5).await.is_err());
}

/// The next checkpoint is refused, naming `sequence`.
async fn refused_at(
    checkpoints: &mut audit::checkpoints::CheckpointWriter,
    audit: &AuditService,
    sequence: i64,
) {
    let refused = checkpoints.checkpoint(audit, 9).await.expect_err("refused");
    assert!(
        format!("{refused:#}").contains(&format!("sequence {sequence}")),
        "{refused:#}"
    );
}

/// Rewrites `records[from..]` as they are now (their actors included), re-hashed so the
/// chain holds, and moves the head to the new last hash: what someone with write access to
/// the table can do.
async fn rewrite(db: &Database, records: &mut [audit::domain::ChainRecord], from: usize) {
    let mut previous = records[from - 1].hash.clone();
    for record in &mut records[from..] {
        record.chain_after(&previous);
        previous.clone_from(&record.hash);
        sqlx::query(
            "UPDATE audit_records SET actor = $1, previous_hash = $2, hash = $3 WHERE sequence = $4",
        )
        .bind(&record.actor)
        .bind(&record.previous_hash)
        .bind(&record.hash)
        .bind(record.sequence)
        .execute(&db.pool)
        .await
        .expect("re-hash");
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&previous)
        .execute(&db.pool)
        .await
        .expect("head");
}
