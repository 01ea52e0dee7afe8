//! The audit core against a real store (SQLite in a temporary directory): who may call what,
//! idempotent records, the chain, queries.

use std::sync::{Arc, Mutex};

use platform_kernel::caller::Caller;
use platform_testkit::clock::ManualClock;

use super::{AuditService, Ports, Settings};
use crate::domain::{Entry, Filter, Order, Outcome};
use crate::error::{AuditError, Result};
use crate::ports::Permissions;
use crate::store::{MIGRATIONS, SqlAuditStore};

#[derive(Default)]
pub struct FakePermissions(Mutex<Vec<(String, String)>>);

impl FakePermissions {
    pub fn grant(&self, user: &str, permission: &str) {
        self.0
            .lock()
            .expect("lock")
            .push((user.to_owned(), permission.to_owned()));
    }
}

#[async_trait::async_trait]
impl Permissions for FakePermissions {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool> {
        Ok(self
            .0
            .lock()
            .expect("lock")
            .iter()
            .any(|(u, p)| u == user && p == permission))
    }
}

pub struct Harness {
    pub service: AuditService,
    pub store: SqlAuditStore,
    pub permissions: Arc<FakePermissions>,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = platform_database::Database::open(
            &platform_kernel::config::DatabaseConfig::default(),
            dir.path(),
            "audit",
            &MIGRATIONS,
        )
        .await
        .expect("database");
        let store = SqlAuditStore::new(db);
        let permissions = Arc::new(FakePermissions::default());
        let clock = Arc::new(ManualClock::starting_now());
        let service = AuditService::new(
            Ports {
                store: Arc::new(store.clone()),
                permissions: permissions.clone(),
                clock: clock.clone(),
            },
            &Settings::default(),
        );
        Self {
            service,
            store,
            permissions,
            clock,
            _dir: dir,
        }
    }
}

pub fn entry(action: &str, actor: &str) -> Entry {
    Entry {
        id: String::new(),
        actor: actor.into(),
        action: action.into(),
        resource: format!("identity/users/{actor}"),
        outcome: Outcome::Success,
        reason: String::new(),
        client_ip: "203.0.113.1".into(),
        user_agent: "test".into(),
        request_id: "req".into(),
        metadata: serde_json::json!({"k": "v"}),
    }
}

fn identity() -> Caller {
    Caller::service("identity")
}

#[tokio::test]
async fn only_services_record_and_only_readers_read() {
    let h = Harness::new().await;
    let user = Caller::user("01a20000-0000-7000-8000-000000000001");
    for caller in [user.clone(), Caller::Anonymous] {
        assert!(
            h.service
                .record(&caller, entry("user.created", "a"))
                .await
                .is_err()
        );
    }
    let recorded = h
        .service
        .record(&identity(), entry("user.created", "a"))
        .await
        .expect("a service records");
    assert_eq!(recorded.sequence, 1);
    let read = |caller: Caller| {
        let h = &h;
        async move {
            h.service
                .query(
                    &caller,
                    &Filter::default(),
                    Order::NewestFirst,
                    "",
                    10,
                    false,
                )
                .await
        }
    };
    for caller in [user.clone(), Caller::Anonymous, identity()] {
        let err = read(caller).await.expect_err("refused");
        assert!(
            matches!(
                err,
                AuditError::PermissionDenied(_) | AuditError::Unauthenticated(_)
            ),
            "{err:?}"
        );
    }
    h.permissions
        .grant("01a20000-0000-7000-8000-000000000001", "audit.logs.read");
    assert_eq!(read(user).await.expect("granted").records.len(), 1);
    assert_eq!(
        read(Caller::service("platformctl"))
            .await
            .expect("the operator")
            .records
            .len(),
        1
    );
    assert!(
        h.service.verify_chain(&identity(), 0, 0).await.is_err(),
        "a service records, it does not verify"
    );
}

#[tokio::test]
async fn the_same_id_twice_is_stored_once_and_the_service_sets_the_time() {
    let h = Harness::new().await;
    let mut e = entry("user.updated", "a");
    e.id = uuid::Uuid::now_v7().to_string();
    let first = h
        .service
        .record(&identity(), e.clone())
        .await
        .expect("first");
    h.clock.advance(chrono::Duration::seconds(5));
    let again = h
        .service
        .record(&identity(), e.clone())
        .await
        .expect("again");
    assert_eq!(first, again, "the stored record, unchanged");
    // The id reused for something else is refused, naming the id; nothing is stored.
    e.resource = "identity/users/someone-else".into();
    let reused = h.service.record(&identity(), e).await;
    assert!(
        matches!(&reused, Err(AuditError::InvalidArgument { field, .. }) if *field == "id"),
        "{reused:?}"
    );
    use platform_kernel::clock::Clock as _;
    assert!(first.occurred_at_us <= h.clock.now().timestamp_micros());
    assert_eq!(h.store_head().await, 1);
}

impl Harness {
    async fn store_head(&self) -> i64 {
        use crate::ports::AuditStore as _;
        self.store.head().await.expect("head").0
    }
}

#[tokio::test]
async fn concurrent_records_get_gapless_sequences_and_one_chain() {
    let h = Arc::new(Harness::new().await);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let h = h.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    h.service
                        .record(&identity(), entry("user.updated", &format!("w{w}-{i}")))
                        .await
                        .expect("recorded");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("join");
    }
    assert_eq!(h.store_head().await, 200);
    let check = h
        .service
        .verify_chain(&Caller::service("platformctl"), 0, 0)
        .await
        .expect("verify");
    assert_eq!((check.checked, check.broken), (200, None));
    // Resumable: in two halves.
    let first = h
        .service
        .verify_chain(&Caller::service("platformctl"), 1, 120)
        .await
        .expect("verify");
    assert_eq!((first.checked, first.next_sequence), (120, 121));
    let rest = h
        .service
        .verify_chain(&Caller::service("platformctl"), first.next_sequence, 0)
        .await
        .expect("verify");
    assert_eq!(
        (rest.checked, rest.broken, rest.next_sequence),
        (80, None, 0)
    );
}

#[tokio::test]
async fn bad_queries_are_refused_naming_the_field() {
    let h = Harness::new().await;
    let reader = Caller::service("platformctl");
    let both = Filter {
        action: Some("a".into()),
        action_prefix: Some("a".into()),
        ..Filter::default()
    };
    let cases = [
        (both, 10, "", "action_prefix"),
        (Filter::default(), 1001, "", "page_size"),
        (Filter::default(), 10, "bogus", "page_token"),
        (
            Filter {
                since_us: Some(10),
                until_us: Some(10),
                ..Filter::default()
            },
            10,
            "",
            "until",
        ),
    ];
    for (filter, size, token, field) in cases {
        match h
            .service
            .query(&reader, &filter, Order::NewestFirst, token, size, false)
            .await
        {
            Err(AuditError::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_id_in_another_spelling_is_the_same_record_and_nul_never_blocks_the_log() {
    let h = Harness::new().await;
    let id = uuid::Uuid::now_v7();
    let mut e = entry("user.updated", "");
    e.id = id.to_string();
    e.reason = "bad\0reason".into();
    let first = h
        .service
        .record(&identity(), e.clone())
        .await
        .expect("stored");
    assert_eq!(first.reason, "bad\u{fffd}reason");
    e.id = format!("{{{}}}", id.hyphenated()).to_uppercase();
    let again = h.service.record(&identity(), e).await.expect("same id");
    assert_eq!(again, first, "one record per id, however it is spelled");
    let check = h
        .service
        .verify_chain(&Caller::service("platformctl"), 0, 0)
        .await
        .expect("verify");
    assert_eq!((check.checked, check.broken), (1, None));
}

#[tokio::test]
async fn a_service_records_only_its_own_actions() {
    let h = Harness::new().await;
    for (service, action) in [
        ("identity", "user.created"),
        ("identity", "identity.anything"),
        ("auth", "auth.login_failed"),
        ("authz", "role.assigned"),
        ("billing", "billing.invoice_paid"),
    ] {
        h.service
            .record(&Caller::service(service), entry(action, "a"))
            .await
            .unwrap_or_else(|e| panic!("{service} {action}: {e:?}"));
    }
    for (service, action) in [
        ("identity", "role.assigned"),
        ("auth", "user.deleted"),
        ("authz", "auth.login_succeeded"),
        ("billing", "user.created"),
    ] {
        let err = h
            .service
            .record(&Caller::service(service), entry(action, "a"))
            .await
            .expect_err("not its own");
        assert!(
            matches!(err, AuditError::PermissionDenied(_)),
            "{service} {action}: {err:?}"
        );
    }
}
