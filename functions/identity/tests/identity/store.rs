//! The SQL store's contract, run on SQLite and on PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use identity::domain::{DisplayName, Email, PageRequest, TokenKind, User, UserId};
use identity::error::IdentityError;
use identity::ports::{StoredToken, UserStore};
use identity::store::{MIGRATIONS, SqlUserStore};
use platform_database::Database;
use platform_kernel::config::DatabaseConfig;
use platform_testkit::postgres::TestDatabase;
use secrecy::SecretString;

enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

struct Fixture {
    store: SqlUserStore,
    db: Database,
    backend: Backend,
}

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(
            &DatabaseConfig::default(),
            dir.path(),
            "identity",
            &MIGRATIONS,
        )
        .await
        .expect("sqlite opens");
        Self {
            store: SqlUserStore::new(db.clone()),
            db,
            backend: Backend::Sqlite(dir),
        }
    }

    async fn postgres() -> Self {
        let test_db = TestDatabase::create("identity").await.expect("postgres");
        let config = DatabaseConfig {
            url: Some(SecretString::from(test_db.url.clone())),
            ..DatabaseConfig::default()
        };
        let db = Database::open(
            &config,
            std::path::Path::new("unused"),
            "identity",
            &MIGRATIONS,
        )
        .await
        .expect("postgres opens");
        Self {
            store: SqlUserStore::new(db.clone()),
            db,
            backend: Backend::Postgres(test_db),
        }
    }

    async fn finish(self) {
        self.db.pool.close().await;
        match self.backend {
            Backend::Postgres(db) => db.drop().await.expect("drop test database"),
            Backend::Sqlite(_dir) => {}
        }
    }
}

/// Runs `$body(fixture)` once on each backend.
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let f = super::Fixture::sqlite().await;
                super::$body(&f).await;
                f.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let f = super::Fixture::postgres().await;
                super::$body(&f).await;
                f.finish().await;
            }
        }
    };
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 123_456_000).expect("instant")
}

fn user(email: &str) -> User {
    User {
        id: UserId::new(),
        email: Email::parse(email).expect("email"),
        display_name: DisplayName::parse("Ünïcode Name").expect("name"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        email_verified: false,
        disabled: true,
        password_changed_at: at(0),
        created_at: at(1),
        updated_at: at(2),
        deleted_at: None,
        version: 1,
    }
}

on_both_backends!(
    events_are_stored_with_their_change_and_only_with_it,
    events_are_stored_with_their_change_and_only_with_it_body
);
async fn events_are_stored_with_their_change_and_only_with_it_body(f: &Fixture) {
    let outbox = || async {
        let rows = sqlx::query("SELECT event FROM outbox ORDER BY id")
            .fetch_all(&f.db.pool)
            .await
            .expect("outbox");
        rows.iter()
            .map(|r| {
                let text: String = platform_database::column(r, "event").expect("event");
                serde_json::from_str::<identity::ports::Event>(&text).expect("json")
            })
            .map(|e| e.kind)
            .collect::<Vec<_>>()
    };
    let event = |kind: &str, u: &identity::domain::User| {
        identity::ports::Event::new("identity", kind, &u.id.to_string(), String::new(), at(0))
    };
    let u = user("ada@example.com");
    f.store
        .insert(&u, &[event("user.created", &u)])
        .await
        .expect("insert");
    // A second user with the same email: refused, and its event with it.
    let taken = user("ada@example.com");
    assert!(
        f.store
            .insert(&taken, &[event("user.created", &taken)])
            .await
            .is_err()
    );
    let mut changed = u.clone();
    changed.version = 2;
    assert!(
        f.store
            .update(&changed, &[event("user.updated", &u)])
            .await
            .expect("update")
    );
    // A stale version: not stored, no event.
    assert!(
        !f.store
            .update(&changed, &[event("user.updated", &u)])
            .await
            .expect("stale")
    );
    f.store
        .record(&[event("user.password_reset_requested", &u)])
        .await
        .expect("record");
    assert_eq!(
        outbox().await,
        [
            "user.created",
            "user.updated",
            "user.password_reset_requested"
        ]
    );
}

on_both_backends!(users_round_trip_exactly, users_round_trip_exactly_body);
async fn users_round_trip_exactly_body(f: &Fixture) {
    let u = user("ada@example.com");
    f.store.insert(&u, &[]).await.expect("insert");
    assert_eq!(f.store.find(u.id).await.expect("find"), Some(u.clone()));
    let by_email = f.store.find_by_email(&u.email).await.expect("find");
    assert_eq!(by_email, Some(u.clone()));
    assert_eq!(f.store.find(UserId::new()).await.expect("find"), None);
}

on_both_backends!(
    an_email_belongs_to_one_active_user,
    an_email_belongs_to_one_active_user_body
);
async fn an_email_belongs_to_one_active_user_body(f: &Fixture) {
    let first = user("ada@example.com");
    f.store.insert(&first, &[]).await.expect("insert");
    let err = f
        .store
        .insert(&user("ada@example.com"), &[])
        .await
        .expect_err("dup");
    assert!(matches!(err, IdentityError::EmailTaken), "{err}");

    let mut deleted = first.clone();
    deleted.deleted_at = Some(at(10));
    deleted.version = 2;
    assert!(f.store.update(&deleted, &[]).await.expect("delete"));
    assert_eq!(f.store.find(first.id).await.expect("find"), None);
    f.store
        .insert(&user("ada@example.com"), &[])
        .await
        .expect("email free again");

    let other = user("bob@example.com");
    f.store.insert(&other, &[]).await.expect("insert");
    let mut taking = other.clone();
    taking.email = Email::parse("ada@example.com").expect("email");
    taking.version = 2;
    let err = f.store.update(&taking, &[]).await.expect_err("taken");
    assert!(matches!(err, IdentityError::EmailTaken), "{err}");
}

on_both_backends!(
    updates_apply_only_to_the_expected_version,
    updates_apply_only_to_the_expected_version_body
);
async fn updates_apply_only_to_the_expected_version_body(f: &Fixture) {
    let mut u = user("ada@example.com");
    f.store.insert(&u, &[]).await.expect("insert");
    u.version = 2;
    u.email_verified = true;
    u.disabled = false;
    assert!(f.store.update(&u, &[]).await.expect("v2"));
    // Another writer still holding version 1 loses.
    let mut stale = u.clone();
    stale.display_name = DisplayName::parse("stale").expect("name");
    assert!(!f.store.update(&stale, &[]).await.expect("stale"));
    assert_eq!(f.store.find(u.id).await.expect("find"), Some(u));
}

on_both_backends!(
    listing_is_keyset_paged_and_filtered,
    listing_is_keyset_paged_and_filtered_body
);
async fn listing_is_keyset_paged_and_filtered_body(f: &Fixture) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let u = user(&format!("user{i}@example.com"));
        f.store.insert(&u, &[]).await.expect("insert");
        ids.push(u.id);
    }
    f.store
        .insert(&user("zed@example.com"), &[])
        .await
        .expect("insert");
    let page = PageRequest {
        size: 2,
        after: None,
    };
    let first = f.store.list(&page, Some("user")).await.expect("list");
    assert_eq!(first.iter().map(|u| u.id).collect::<Vec<_>>(), ids[..3]);
    let page = PageRequest {
        size: 2,
        after: Some(ids[1].0),
    };
    let second = f.store.list(&page, Some("user")).await.expect("list");
    assert_eq!(second.iter().map(|u| u.id).collect::<Vec<_>>(), ids[2..5]);
    let all = f
        .store
        .list(
            &PageRequest {
                size: 100,
                after: None,
            },
            None,
        )
        .await
        .expect("list");
    assert_eq!(all.len(), 6);
    // A prefix with LIKE wildcards matches literally.
    assert!(
        f.store
            .list(&page, Some("user%"))
            .await
            .expect("list")
            .is_empty()
    );
}

on_both_backends!(
    tokens_are_single_use_and_expire,
    tokens_are_single_use_and_expire_body
);
async fn tokens_are_single_use_and_expire_body(f: &Fixture) {
    let u = user("ada@example.com");
    f.store.insert(&u, &[]).await.expect("insert");
    let token = |hash: &str, kind| StoredToken {
        hash: hash.to_owned(),
        user_id: u.id,
        kind,
        created_at: at(0),
        expires_at: at(0) + Duration::hours(1),
        email: Some(u.email.clone()),
    };
    f.store
        .insert_token(&token("a", TokenKind::PasswordReset))
        .await
        .expect("a");
    f.store
        .insert_token(&token("b", TokenKind::EmailVerification))
        .await
        .expect("b");
    f.store
        .insert_token(&token("c", TokenKind::PasswordReset))
        .await
        .expect("c");
    let consume = |hash: &'static str, kind, now| f.store.consume_token(hash, kind, now);
    // Looking a token up (the pages' GET) uses nothing.
    let live = |hash: &'static str, kind, now| f.store.token_is_live(hash, kind, now);
    assert!(
        live("a", TokenKind::PasswordReset, at(1))
            .await
            .expect("live")
    );
    assert!(
        live("a", TokenKind::PasswordReset, at(1))
            .await
            .expect("still")
    );
    assert!(
        !live("a", TokenKind::EmailVerification, at(1))
            .await
            .expect("kind")
    );
    assert!(
        !live("a", TokenKind::PasswordReset, at(3600))
            .await
            .expect("expired")
    );
    assert!(
        !live("zz", TokenKind::PasswordReset, at(1))
            .await
            .expect("unknown")
    );

    assert_eq!(
        consume("a", TokenKind::EmailVerification, at(1))
            .await
            .expect("kind"),
        None
    );
    assert_eq!(
        consume("a", TokenKind::PasswordReset, at(3600))
            .await
            .expect("expired"),
        None
    );
    assert_eq!(
        consume("a", TokenKind::PasswordReset, at(1))
            .await
            .expect("ok"),
        Some((u.id, Some(u.email.clone())))
    );
    assert_eq!(
        consume("a", TokenKind::PasswordReset, at(2))
            .await
            .expect("used"),
        None
    );
    assert!(
        !live("a", TokenKind::PasswordReset, at(2))
            .await
            .expect("used")
    );

    f.store
        .retire_tokens(u.id, TokenKind::PasswordReset, at(3))
        .await
        .expect("retire");
    assert_eq!(
        consume("c", TokenKind::PasswordReset, at(4))
            .await
            .expect("retired"),
        None
    );
    assert_eq!(
        consume("b", TokenKind::EmailVerification, at(4))
            .await
            .expect("other kind"),
        Some((u.id, Some(u.email.clone())))
    );

    // The newest issue time of a kind, used or not (ResendVerification waits a minute).
    let later = StoredToken {
        created_at: at(90),
        ..token("d", TokenKind::PasswordReset)
    };
    f.store.insert_token(&later).await.expect("d");
    let last = |kind| f.store.last_token_at(u.id, kind);
    assert_eq!(
        last(TokenKind::PasswordReset).await.expect("last"),
        Some(at(90))
    );
    assert_eq!(
        last(TokenKind::EmailVerification).await.expect("last"),
        Some(at(0))
    );
    let stranger = user("bob@example.com");
    assert_eq!(
        f.store
            .last_token_at(stranger.id, TokenKind::PasswordReset)
            .await
            .expect("none"),
        None
    );
}

on_both_backends!(
    concurrent_consumers_of_one_token_get_it_once,
    concurrent_consumers_body
);
async fn concurrent_consumers_body(f: &Fixture) {
    let u = user("ada@example.com");
    f.store.insert(&u, &[]).await.expect("insert");
    f.store
        .insert_token(&StoredToken {
            hash: "race".to_owned(),
            user_id: u.id,
            kind: TokenKind::PasswordReset,
            created_at: at(0),
            expires_at: at(100),
            email: None,
        })
        .await
        .expect("token");
    let store = Arc::new(f.store.clone());
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .consume_token("race", TokenKind::PasswordReset, at(1))
                .await
                .expect("consume")
        })
    });
    let mut winners = 0;
    for attempt in attempts {
        if attempt.await.expect("join").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn postgres_tables_live_in_the_identity_schema_and_migrations_rerun_cleanly() {
    let f = Fixture::postgres().await;
    let Backend::Postgres(test_db) = &f.backend else {
        unreachable!()
    };
    let config = DatabaseConfig {
        url: Some(SecretString::from(test_db.url.clone())),
        ..DatabaseConfig::default()
    };
    let again = Database::open(
        &config,
        std::path::Path::new("unused"),
        "identity",
        &MIGRATIONS,
    )
    .await
    .expect("second open runs no migration twice");
    again.pool.close().await;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'identity' ORDER BY table_name",
    )
    .fetch_all(&f.db.pool)
    .await
    .expect("tables");
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["_sqlx_migrations", "outbox", "tokens", "users"]);
    f.finish().await;
}
