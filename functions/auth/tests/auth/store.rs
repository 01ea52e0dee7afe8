//! The auth SQL store on SQLite and PostgreSQL: the properties the core relies on.

use std::sync::Arc;

use auth::domain::{Family, KeyEncryptionKey, SigningAlgorithm, SigningKeyRecord};
use auth::ports::{DenyList, KeyStore, LoginAttempts, RefreshUse, SessionStore};
use auth::store::{MIGRATIONS, SqlAuthStore};
use chrono::{DateTime, Duration, Utc};
use platform_database::Database;
use platform_kernel::config::DatabaseConfig;
use platform_testkit::postgres::TestDatabase;
use secrecy::SecretString;

struct Fixture {
    store: SqlAuthStore,
    db: Database,
    pg: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn open(postgres: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = if postgres {
            Some(TestDatabase::create("auth").await.expect("postgres"))
        } else {
            None
        };
        let config = DatabaseConfig {
            url: pg.as_ref().map(|p| SecretString::from(p.url.clone())),
            ..DatabaseConfig::default()
        };
        let db = Database::open(&config, dir.path(), "auth", &MIGRATIONS)
            .await
            .expect("opens");
        Self {
            store: SqlAuthStore::new(db.clone()),
            db,
            pg,
            _dir: dir,
        }
    }

    async fn finish(self) {
        self.db.pool.close().await;
        if let Some(pg) = self.pg {
            pg.drop().await.expect("drop");
        }
    }
}

macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let f = super::Fixture::open(false).await;
                super::$name(&f).await;
                f.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let f = super::Fixture::open(true).await;
                super::$name(&f).await;
                f.finish().await;
            }
        }
    };
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).expect("instant")
}

on_both_backends!(exactly_one_concurrent_use_of_a_refresh_token_is_fresh);
async fn exactly_one_concurrent_use_of_a_refresh_token_is_fresh(f: &Fixture) {
    let family = Family {
        id: "fam".into(),
        user_id: "u".into(),
        created_at: at(0),
        expires_at: at(100),
        revoked_at: None,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
    };
    f.store
        .create_family(&family, "h0", &[])
        .await
        .expect("family and first token");
    assert_eq!(
        f.store
            .rotate_refresh("h0", "h1", at(0))
            .await
            .expect("rotate"),
        RefreshUse::Fresh {
            family_id: "fam".into()
        }
    );
    assert_eq!(
        f.store.family_of("h0").await.expect("of"),
        Some("fam".into())
    );
    let store = Arc::new(f.store.clone());
    let uses: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .rotate_refresh("h1", "h2", at(1))
                    .await
                    .expect("rotate")
            })
        })
        .collect();
    let mut fresh = 0;
    for u in uses {
        match u.await.expect("join") {
            RefreshUse::Fresh { family_id } => {
                assert_eq!(family_id, "fam");
                fresh += 1;
            }
            RefreshUse::Reused { family_id, used_at } => {
                assert_eq!((family_id.as_str(), used_at), ("fam", at(1)))
            }
            RefreshUse::Unknown => panic!("known token"),
        }
    }
    assert_eq!(fresh, 1);
    // The successor was stored with the rotation, once, unused.
    assert!(f.store.refresh_unused("h2").await.expect("successor"));
    assert!(!f.store.refresh_unused("h1").await.expect("used"));
    assert_eq!(
        f.store.family_of("h2").await.expect("of"),
        Some("fam".into())
    );
    assert_eq!(
        f.store
            .rotate_refresh("nope", "x", at(1))
            .await
            .expect("rotate"),
        RefreshUse::Unknown
    );
    assert!(!f.store.refresh_unused("x").await.expect("not stored"));
    f.store.revoke_family("fam", at(2)).await.expect("revoke");
    f.store
        .revoke_family("fam", at(3))
        .await
        .expect("revoke again");
    assert_eq!(
        f.store
            .family("fam")
            .await
            .expect("get")
            .expect("family")
            .revoked_at,
        Some(at(2))
    );
    assert_eq!(
        f.store.family_of("h1").await.expect("of"),
        Some("fam".into())
    );
}

on_both_backends!(failures_count_atomically_and_reset_after_a_quiet_window);
async fn failures_count_atomically_and_reset_after_a_quiet_window(f: &Fixture) {
    let store = Arc::new(f.store.clone());
    let failures: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_failure("account:a", at(0), Duration::minutes(15))
                    .await
                    .expect("count")
            })
        })
        .collect();
    let mut counts = Vec::new();
    for f in failures {
        counts.push(f.await.expect("join"));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
    let after_quiet = f
        .store
        .record_failure("account:a", at(20 * 60), Duration::minutes(15))
        .await
        .expect("count");
    assert_eq!(after_quiet, 1);
    f.store.clear("account:a").await.expect("clear");
    assert_eq!(
        f.store
            .record_failure("account:a", at(0), Duration::minutes(15))
            .await
            .expect("c"),
        1
    );
}

on_both_backends!(a_session_keeps_how_its_user_authenticated);
async fn a_session_keeps_how_its_user_authenticated(f: &Fixture) {
    let family = Family {
        id: "fam-amr".into(),
        user_id: "u".into(),
        created_at: at(0),
        expires_at: at(100),
        revoked_at: None,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
    };
    f.store
        .create_family(&family, "h-amr", &[])
        .await
        .expect("family");
    assert_eq!(f.store.family("fam-amr").await.expect("read"), Some(family));
}

on_both_backends!(second_factors_are_single_use_in_one_write_each);
async fn second_factors_are_single_use_in_one_write_each(f: &Fixture) {
    use auth::ports::MfaStore as _;
    assert!(
        f.store
            .put_pending_totp("u", "sealed-1", at(0))
            .await
            .expect("put")
    );
    assert!(
        f.store
            .put_pending_totp("u", "sealed-2", at(1))
            .await
            .expect("replace")
    );
    let pending = f.store.totp("u").await.expect("read").expect("pending");
    assert_eq!(
        (pending.sealed_secret.as_str(), pending.confirmed),
        ("sealed-2", false)
    );
    assert!(
        !f.store.use_step("u", 5).await.expect("step"),
        "not in force yet"
    );
    let codes = vec!["c1".to_owned(), "c2".to_owned()];
    assert!(
        !f.store
            .confirm_totp("u", "sealed-1", 10, &codes, at(2))
            .await
            .expect("confirm"),
        "not the secret pending"
    );
    assert!(
        f.store
            .confirm_totp("u", "sealed-2", 10, &codes, at(2))
            .await
            .expect("confirm")
    );
    assert!(
        !f.store
            .confirm_totp("u", "sealed-2", 11, &codes, at(2))
            .await
            .expect("once")
    );
    assert!(
        !f.store
            .put_pending_totp("u", "sealed-3", at(3))
            .await
            .expect("put"),
        "in force"
    );
    assert!(
        f.store
            .totp("u")
            .await
            .expect("read")
            .expect("on")
            .confirmed
    );
    // Steps: the confirmation's is used; each later one once, never an earlier one.
    assert!(!f.store.use_step("u", 10).await.expect("step"));
    let store = Arc::new(f.store.clone());
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.use_step("u", 11).await.expect("step") })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.expect("join"));
    }
    assert_eq!(won, 1, "one of concurrent uses of a code wins");
    assert!(!f.store.use_step("u", 9).await.expect("step"));
    // Recovery codes.
    assert_eq!(f.store.unused_recovery_codes("u").await.expect("count"), 2);
    assert!(
        f.store
            .use_recovery_code("u", "c1", at(4))
            .await
            .expect("use")
    );
    assert!(
        !f.store
            .use_recovery_code("u", "c1", at(5))
            .await
            .expect("again")
    );
    assert!(
        !f.store
            .use_recovery_code("someone", "c2", at(5))
            .await
            .expect("theirs")
    );
    assert_eq!(f.store.unused_recovery_codes("u").await.expect("count"), 1);
    // Challenges: unexpired, unused, once.
    f.store
        .create_challenge("ch", "u", at(60))
        .await
        .expect("challenge");
    assert_eq!(
        f.store.challenge("ch", at(59)).await.expect("read"),
        Some("u".into())
    );
    assert_eq!(f.store.challenge("ch", at(60)).await.expect("read"), None);
    assert!(f.store.consume_challenge("ch", at(30)).await.expect("use"));
    assert!(!f.store.consume_challenge("ch", at(31)).await.expect("once"));
    assert_eq!(f.store.challenge("ch", at(31)).await.expect("read"), None);
    f.store
        .create_challenge("late", "u", at(40))
        .await
        .expect("challenge");
    assert!(
        !f.store
            .consume_challenge("late", at(40))
            .await
            .expect("expired")
    );
    // Reset.
    assert!(f.store.delete_mfa("u").await.expect("delete"));
    assert!(!f.store.delete_mfa("u").await.expect("gone"));
    assert_eq!(f.store.totp("u").await.expect("read"), None);
    assert_eq!(f.store.unused_recovery_codes("u").await.expect("count"), 0);
}

on_both_backends!(login_attempts_follow_the_policy);
async fn login_attempts_follow_the_policy(f: &Fixture) {
    crate::attempts::attempts_follow_the_policy(Arc::new(f.store.clone()), at(0)).await;
}

on_both_backends!(denied_tokens_stay_denied_until_they_expire);
async fn denied_tokens_stay_denied_until_they_expire(f: &Fixture) {
    f.store.deny("jti-1", at(60)).await.expect("deny");
    f.store.deny("jti-1", at(60)).await.expect("twice");
    assert!(f.store.is_denied("jti-1", at(59)).await.expect("q"));
    assert!(!f.store.is_denied("jti-1", at(60)).await.expect("q"));
    assert!(!f.store.is_denied("jti-2", at(0)).await.expect("q"));
}

on_both_backends!(keys_round_trip_and_retire);
async fn keys_round_trip_and_retire(f: &Fixture) {
    let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
    // An Ed25519 key, then an RSA one (keys.algorithm switched): both kinds round-trip.
    let first = SigningKeyRecord::generate(&kek, at(0), SigningAlgorithm::EdDSA).expect("key");
    let second = SigningKeyRecord::generate(&kek, at(10), SigningAlgorithm::RS256).expect("key");
    f.store.insert_key(&first).await.expect("insert");
    f.store.insert_key(&second).await.expect("insert");
    f.store
        .retire_keys_except(&second.kid, at(10))
        .await
        .expect("retire");
    let mut keys = f.store.keys().await.expect("keys");
    keys.sort_by_key(|k| k.created_at);
    assert_eq!(
        keys[0],
        SigningKeyRecord {
            retired_at: Some(at(10)),
            ..first
        }
    );
    assert_eq!(keys[1], second);
    assert_eq!(keys[1].algorithm(), SigningAlgorithm::RS256);
    // Loaded together: the RSA key signs, and both verify through the overlap.
    let ring = auth::domain::Keyring::load(&keys, &kek, at(11), chrono::Duration::hours(1))
        .expect("the keyring loads");
    let signer = ring.signer.expect("a signer");
    assert_eq!(
        (signer.kid.as_str(), signer.algorithm),
        (second.kid.as_str(), SigningAlgorithm::RS256)
    );
    let kinds: Vec<&str> = ring.jwks.iter().map(|k| k.alg.as_str()).collect();
    assert_eq!(kinds, ["RS256", "EdDSA"]);
}

on_both_backends!(deny_once_lets_exactly_one_concurrent_caller_through);
async fn deny_once_lets_exactly_one_concurrent_caller_through(f: &Fixture) {
    let store = std::sync::Arc::new(f.store.clone());
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.deny_once("assertion:x", at(60)).await.expect("deny") })
        })
        .collect();
    let mut first = 0;
    for attempt in attempts {
        if attempt.await.expect("task") {
            first += 1;
        }
    }
    assert_eq!(first, 1);
    assert!(f.store.is_denied("assertion:x", at(1)).await.expect("q"));
}
