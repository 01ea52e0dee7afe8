//! What every `LoginAttempts` store must do (the SQL store on both backends and Redis run
//! it): attempts counted atomically before the check, at most the threshold allowed however
//! many run at once, a lock that refuses without counting, given-back attempts.

use std::sync::Arc;
use std::time::Duration;

use auth::domain::LockoutPolicy;
use auth::domain::lockout::Attempt;
use auth::ports::LoginAttempts;
use chrono::{DateTime, Utc};

const POLICY: LockoutPolicy = LockoutPolicy {
    threshold: 5,
    base: Duration::from_secs(30),
    max: Duration::from_secs(900),
    window: Duration::from_secs(900),
};

pub async fn attempts_follow_the_policy(store: Arc<dyn LoginAttempts>, now: DateTime<Utc>) {
    let secs = chrono::Duration::seconds;
    let concurrent: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.begin("pair:a|ip", now, &POLICY).await })
        })
        .collect();
    let mut answers = Vec::new();
    for attempt in concurrent {
        answers.push(attempt.await.expect("join").expect("begin"));
    }
    let allowed: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Attempt::Allowed { locked_until } => Some(*locked_until),
            Attempt::Locked(_) => None,
        })
        .collect();
    assert_eq!(allowed.len(), 5, "{answers:?}");
    assert_eq!(
        allowed.iter().filter(|l| l.is_some()).count(),
        1,
        "the fifth locks: {answers:?}"
    );
    let lock_end = (now + secs(30)).timestamp_micros();
    for refused in answers.iter().filter(|a| matches!(a, Attempt::Locked(_))) {
        assert!(
            matches!(refused, Attempt::Locked(u) if u.timestamp_micros() == lock_end),
            "{refused:?}"
        );
    }
    // After the lock, one more attempt, which locks twice as long at once; given back (it
    // succeeded), its lock is lifted.
    let after = now + secs(30);
    let Attempt::Allowed {
        locked_until: Some(set),
    } = store
        .begin("pair:a|ip", after, &POLICY)
        .await
        .expect("begin")
    else {
        panic!("the lock is over")
    };
    assert_eq!(
        set.timestamp_micros(),
        (after + secs(60)).timestamp_micros()
    );
    store
        .forgive("pair:a|ip", Some(set))
        .await
        .expect("forgive");
    assert!(matches!(
        store
            .begin("pair:a|ip", after, &POLICY)
            .await
            .expect("begin"),
        Attempt::Allowed { .. }
    ));
    store.clear("pair:a|ip").await.expect("clear");
    // Given back, attempts do not add up: a client that succeeds never locks.
    for _ in 0..20 {
        let Attempt::Allowed { locked_until } =
            store.begin("client:ip", now, &POLICY).await.expect("begin")
        else {
            panic!("given-back attempts do not lock")
        };
        store
            .forgive("client:ip", locked_until)
            .await
            .expect("forgive");
    }
    // The account-wide failure count, read without counting.
    let window = secs(900);
    for n in 1..=3 {
        assert_eq!(
            store
                .record_failure("account:a", now, window)
                .await
                .expect("count"),
            n
        );
    }
    assert_eq!(
        store
            .failures("account:a", now + window, window)
            .await
            .expect("read"),
        3
    );
    assert_eq!(
        store
            .failures("account:a", now + window + secs(1), window)
            .await
            .expect("read"),
        0,
        "forgotten after a quiet window"
    );
    store.clear("account:a").await.expect("clear");
    assert_eq!(
        store
            .failures("account:a", now, window)
            .await
            .expect("read"),
        0
    );
}
