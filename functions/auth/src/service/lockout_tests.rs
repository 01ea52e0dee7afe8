//! Brute-force protection: per (account, client) pair and per client locks, the account-wide
//! slowdown that never locks the owner out, attempts counted before the password is checked.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Duration;

use super::testing::Harness;
use crate::error::AuthError;

const EMAIL: &str = "ada@example.com";

#[tokio::test]
async fn repeated_failures_lock_the_account_from_that_client_for_a_growing_bounded_time_that_expires()
 {
    let h = Harness::new().await;
    for _ in 0..5 {
        let err = h
            .service
            .login(EMAIL, "wrong password!", None)
            .await
            .expect_err("wrong");
        assert!(matches!(err, AuthError::InvalidCredentials));
    }
    let err = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect_err("locked");
    let AuthError::LockedOut(wait) = err else {
        panic!("{err:?}")
    };
    assert_eq!(wait.as_secs(), 30);
    h.clock.advance(Duration::seconds(31));
    // One more failure after the lock: the next lock is twice as long.
    h.service
        .login(EMAIL, "wrong password!", None)
        .await
        .expect_err("wrong");
    let err = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect_err("locked");
    assert!(
        matches!(err, AuthError::LockedOut(w) if w.as_secs() == 60),
        "{err:?}"
    );
    h.clock.advance(Duration::seconds(61));
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("lock expired");
}

#[tokio::test]
async fn unknown_emails_are_counted_and_locked_exactly_like_real_ones() {
    let h = Harness::new().await;
    let mut answers = Vec::new();
    for email in [EMAIL, "ghost@example.com"] {
        for _ in 0..6 {
            answers.push((
                email,
                h.service
                    .login(email, "wrong password!", None)
                    .await
                    .expect_err("no")
                    .to_string(),
            ));
        }
    }
    let (real, ghost) = answers.split_at(6);
    for ((_, a), (_, b)) in real.iter().zip(ghost) {
        assert_eq!(a, b);
    }
    assert!(real[5].1.contains("too many failed attempts"));
}

#[tokio::test]
async fn twenty_failures_from_one_client_on_random_emails_lock_that_client_and_no_other() {
    let h = Harness::new().await;
    let ip = "203.0.113.7".parse().ok();
    for i in 0..20 {
        let _ = h
            .service
            .login(&format!("user{i}@example.com"), "nope nope", ip)
            .await;
    }
    let err = h
        .service
        .login(EMAIL, Harness::PASSWORD, ip)
        .await
        .expect_err("ip locked");
    assert!(matches!(err, AuthError::LockedOut(_)));
    h.service
        .login(EMAIL, Harness::PASSWORD, "198.51.100.1".parse().ok())
        .await
        .expect("another ip is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_parallel_wrong_logins_against_a_limit_of_five_reach_the_password_check_five_times() {
    let h = Arc::new(Harness::new().await);
    let ip = "203.0.113.9".parse().ok();
    let guesses: Vec<_> = (0..10)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.service.login(EMAIL, &format!("guess {i}!"), ip).await })
        })
        .collect();
    let mut answers = Vec::new();
    for guess in guesses {
        answers.push(guess.await);
    }
    let locked = answers
        .iter()
        .filter(|a| matches!(a, Ok(Err(AuthError::LockedOut(_)))))
        .count();
    let wrong = answers
        .iter()
        .filter(|a| matches!(a, Ok(Err(AuthError::InvalidCredentials))))
        .count();
    assert_eq!((wrong, locked), (5, 5), "{answers:?}");
    assert_eq!(
        h.users.2.load(Ordering::SeqCst),
        5,
        "password verifications"
    );
}

#[tokio::test]
async fn an_attacker_failing_on_an_account_from_many_clients_slows_its_owner_down_but_never_locks_them_out()
 {
    let mut settings = crate::config::AuthConfig::default().settings();
    // The default's numbers (10 failures, 250 ms doubling to 4 s) scaled down in time.
    settings.account_slowdown.base = std::time::Duration::from_millis(10);
    settings.account_slowdown.max = std::time::Duration::from_millis(160);
    let h = Harness::with_settings(settings).await;
    // Three attacking clients, five guesses each, then more that their locks refuse.
    for attacker in 1..=3 {
        let ip = format!("198.51.100.{attacker}").parse().ok();
        for _ in 0..8 {
            let _ = h.service.login(EMAIL, "not the password", ip).await;
        }
    }
    assert_eq!(h.users.2.load(Ordering::SeqCst), 15, "five per client");
    // 15 failures: past the slowdown's 10, every attempt waits 10 ms × 2^5, capped at 160.
    let owner = "192.0.2.50".parse().ok();
    let started = std::time::Instant::now();
    h.service
        .login(EMAIL, Harness::PASSWORD, owner)
        .await
        .expect("the owner gets in");
    assert!(started.elapsed() >= std::time::Duration::from_millis(160));
    // Their success ends the slowdown.
    let started = std::time::Instant::now();
    h.service
        .login(EMAIL, Harness::PASSWORD, owner)
        .await
        .expect("again");
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    // The attackers' clients stay locked on the account.
    let err = h
        .service
        .login(EMAIL, Harness::PASSWORD, "198.51.100.1".parse().ok())
        .await
        .expect_err("their pair is locked");
    assert!(matches!(err, AuthError::LockedOut(_)), "{err:?}");
}

#[tokio::test]
async fn successful_logins_give_the_client_its_attempts_back() {
    let h = Harness::new().await;
    let office = "203.0.113.80".parse().ok();
    for _ in 0..50 {
        h.service
            .login(EMAIL, Harness::PASSWORD, office)
            .await
            .expect("many colleagues behind one address log in all day");
    }
    // A refused pair does not count against its client either.
    for _ in 0..30 {
        let _ = h
            .service
            .login("bob@example.com", "wrong password!", office)
            .await;
    }
    h.service
        .login(EMAIL, Harness::PASSWORD, office)
        .await
        .expect("five failures on bob, the rest refused by bob's lock, are not twenty");
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_slash_64() {
    let h = Harness::new().await;
    for i in 0..20 {
        let ip = format!("2001:db8:7:7::{:x}", i + 1).parse().ok();
        let _ = h
            .service
            .login(&format!("user{i}@example.com"), "nope nope", ip)
            .await;
    }
    let err = h
        .service
        .login(
            EMAIL,
            Harness::PASSWORD,
            "2001:db8:7:7:ffff::1".parse().ok(),
        )
        .await
        .expect_err("the whole /64 is one client");
    assert!(matches!(err, AuthError::LockedOut(_)), "{err:?}");
    h.service
        .login(EMAIL, Harness::PASSWORD, "2001:db8:7:8::1".parse().ok())
        .await
        .expect("the next /64 is another client");
}

#[tokio::test]
async fn identity_down_during_a_login_does_not_count_as_a_failure() {
    let h = Harness::new().await;
    h.users.set_down(true);
    for _ in 0..10 {
        let err = h
            .service
            .login(EMAIL, Harness::PASSWORD, None)
            .await
            .expect_err("identity is down");
        assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    }
    h.users.set_down(false);
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("nothing was counted");
}

#[tokio::test]
async fn logins_leave_an_event_each_naming_why_a_refusal_was_refused() {
    let h = Harness::new().await;
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("in");
    for _ in 0..6 {
        let _ = h.service.login(EMAIL, "wrong password!", None).await;
    }
    let events = h.memory.events();
    let kinds: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|(k, o, r)| (k.as_str(), o.as_str(), r.as_str()))
        .collect();
    assert_eq!(kinds[0], ("auth.login_succeeded", "success", ""));
    assert_eq!(
        kinds[1..],
        [
            ("auth.login_failed", "failure", "invalid_credentials"),
            ("auth.login_failed", "failure", "invalid_credentials"),
            ("auth.login_failed", "failure", "invalid_credentials"),
            ("auth.login_failed", "failure", "invalid_credentials"),
            ("auth.login_failed", "failure", "invalid_credentials"),
            ("auth.login_failed", "failure", "locked_out"),
        ]
    );
}

#[tokio::test]
async fn an_email_with_control_characters_is_refused_before_anything_is_counted() {
    let h = Harness::new().await;
    for email in ["ada\0@example.com", "ada\n@example.com", &"a".repeat(400)] {
        let err = h
            .service
            .login(email, Harness::PASSWORD, None)
            .await
            .expect_err("refused");
        assert!(matches!(err, AuthError::InvalidArgument { .. }), "{err:?}");
    }
    assert!(h.memory.events().is_empty(), "nothing counted or recorded");
}
