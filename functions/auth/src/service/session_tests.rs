//! Sessions: rotation, reuse detection, lifetime, user state, logout, key rotation (lockouts: `lockout_tests`).

use std::sync::Arc;

use chrono::Duration;

use super::testing::Harness;
use crate::error::AuthError;

const EMAIL: &str = "ada@example.com";

#[tokio::test]
async fn refreshing_rotates_and_reusing_a_retired_token_revokes_the_family() {
    let h = Harness::new().await;
    let first = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    assert_eq!(first.expires_in, 900);
    let second = h
        .service
        .refresh(&first.refresh_token)
        .await
        .expect("rotated");
    assert_ne!(second.refresh_token, first.refresh_token);
    h.clock.advance(Duration::seconds(10));
    let third = h
        .service
        .refresh(&second.refresh_token)
        .await
        .expect("rotated again");

    // The first token comes back (stolen?): the whole family dies, newest token included.
    let err = h
        .service
        .refresh(&first.refresh_token)
        .await
        .expect_err("reuse");
    assert!(matches!(err, AuthError::InvalidRefreshToken));
    let err = h
        .service
        .refresh(&third.refresh_token)
        .await
        .expect_err("family revoked");
    assert!(matches!(err, AuthError::InvalidRefreshToken));
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_all_get_its_one_successor_and_keep_the_session() {
    let h = Arc::new(Harness::new().await);
    let pair = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            let token = pair.refresh_token.clone();
            tokio::spawn(async move { h.service.refresh(&token).await })
        })
        .collect();
    let mut winners = Vec::new();
    for a in attempts {
        if let Ok(p) = a.await.expect("join") {
            winners.push(p);
        }
    }
    // Two tabs at once, or a retry after a lost answer: the same successor for all of them
    // (the token rotated once), not theft.
    assert_eq!(winners.len(), 8);
    assert!(
        winners
            .iter()
            .all(|p| p.refresh_token == winners[0].refresh_token)
    );
    h.service
        .refresh(&winners[0].refresh_token)
        .await
        .expect("session lives on");
}

#[tokio::test]
async fn a_refresh_that_fails_on_the_way_does_not_burn_the_session() {
    let h = Harness::new().await;
    let pair = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    h.users.set_down(true);
    let err = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect_err("identity is down");
    assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
    h.users.set_down(false);
    // Later than any grace period: not taken for reuse, since nothing was used.
    h.clock.advance(Duration::minutes(5));
    let next = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect("the same token works once identity is back");
    h.service
        .refresh(&next.refresh_token)
        .await
        .expect("and the session goes on");
}

#[tokio::test]
async fn a_lost_answer_is_retried_within_the_grace_period_but_the_successor_moves_on() {
    let h = Harness::new().await;
    let pair = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    let first = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect("rotated");
    // The answer never arrived; the client asks again at once.
    let again = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect("retried");
    assert_eq!(first.refresh_token, again.refresh_token);
    // Once the successor was used, the old token is a stale copy: refused.
    h.service
        .refresh(&first.refresh_token)
        .await
        .expect("moved on");
    assert!(h.service.refresh(&pair.refresh_token).await.is_err());
}

#[tokio::test]
async fn the_absolute_lifetime_holds_whatever_the_rotations() {
    let h = Harness::new().await;
    let mut pair = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    for _ in 0..6 {
        h.clock.advance(Duration::days(1));
        pair = h
            .service
            .refresh(&pair.refresh_token)
            .await
            .expect("within 7 days");
    }
    h.clock.advance(Duration::days(1));
    let err = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect_err("past 7 days");
    assert!(matches!(err, AuthError::InvalidRefreshToken));
}

#[tokio::test]
async fn disabling_deleting_or_resetting_the_password_ends_the_session() {
    type Change = fn(&Harness);
    let changes: [(&str, Change); 3] = [
        ("disabled", |h| {
            h.users.update(Harness::USER, |u| u.disabled = true)
        }),
        ("deleted", |h| h.users.remove(Harness::USER)),
        ("password changed", |h| {
            use crate::ports::Clock as _;
            let now = h.clock.now();
            h.users
                .update(Harness::USER, |u| u.password_changed_at = now)
        }),
    ];
    for (what, change) in changes {
        let h = Harness::new().await;
        let pair = h
            .service
            .login(EMAIL, Harness::PASSWORD, None)
            .await
            .expect("login");
        h.clock.advance(Duration::seconds(1));
        change(&h);
        let err = h
            .service
            .refresh(&pair.refresh_token)
            .await
            .expect_err(what);
        assert!(matches!(err, AuthError::InvalidRefreshToken), "{what}");
    }
}

#[tokio::test]
async fn logout_ends_the_session_and_denies_the_access_token_until_it_expires() {
    let h = Harness::new().await;
    let pair = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    h.service.validate(&pair.access_token).await.expect("valid");
    h.service
        .logout(&pair.refresh_token, Some(&pair.access_token))
        .await
        .expect("logout");
    assert!(matches!(
        h.service.refresh(&pair.refresh_token).await,
        Err(AuthError::InvalidRefreshToken)
    ));
    let err = h
        .service
        .validate(&pair.access_token)
        .await
        .expect_err("denied");
    assert!(err.to_string().contains("revoked"), "{err}");
    h.service
        .logout(&pair.refresh_token, None)
        .await
        .expect("twice is fine");
    h.service
        .logout("never-issued", None)
        .await
        .expect("unknown is fine");
}

#[tokio::test]
async fn after_rotation_the_jwks_has_both_keys_and_old_tokens_validate_until_they_expire() {
    let h = Harness::new().await;
    let before = h.service.jwks();
    assert_eq!(before.len(), 1);
    assert_eq!(
        &before[0],
        &platform_tokens::Jwk::ed25519(&before[0].kid, &before[0].x)
    );
    let old = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    h.clock.advance(Duration::seconds(1));
    let new_kid = h.service.rotate_keys().await.expect("rotated");
    let during = h.service.jwks();
    assert_eq!(during.len(), 2);
    assert_eq!(during[0].kid, new_kid, "newest first");
    h.service
        .validate(&old.access_token)
        .await
        .expect("old token still valid");
    let fresh = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login");
    let kid = jsonwebtoken::decode_header(&fresh.access_token)
        .expect("header")
        .kid;
    assert_eq!(kid.as_deref(), Some(new_kid.as_str()), "the new key signs");

    h.clock.advance(Duration::seconds(15 * 60 + 31));
    h.service.refresh_keys().await.expect("reload");
    assert_eq!(
        h.service.jwks().len(),
        1,
        "the old key leaves once its tokens expired"
    );
}

#[tokio::test]
async fn keys_rotate_by_themselves_when_due() {
    let h = Harness::new().await;
    let first = h.service.jwks()[0].kid.clone();
    h.clock.advance(Duration::days(29));
    h.service.refresh_keys().await.expect("reload");
    assert_eq!(h.service.jwks()[0].kid, first);
    h.clock.advance(Duration::days(1));
    h.service.refresh_keys().await.expect("reload");
    assert_ne!(h.service.jwks()[0].kid, first);
}

#[tokio::test]
async fn the_published_key_set_holds_a_key_another_replica_just_made() {
    use crate::ports::{Clock as _, KeyStore as _};
    let h = Harness::new().await;
    let own = h.service.jwks();
    h.clock.advance(Duration::seconds(1));
    // Another replica's new key (sealed with the key-encryption key they share), stored
    // before this replica reloads.
    let theirs = crate::domain::SigningKeyRecord::generate(
        &h.kek,
        h.clock.now(),
        crate::domain::SigningAlgorithm::RS256,
    )
    .expect("a key");
    h.memory.insert_key(&theirs).await.expect("stored");
    // Rows written by anyone without that key are neither published nor trusted: one sealed
    // under another key-encryption key, and a real key's row with its public key swapped.
    let other_kek = crate::domain::KeyEncryptionKey::from_base64(
        &crate::domain::KeyEncryptionKey::generate_base64(),
    )
    .expect("kek");
    h.clock.advance(Duration::seconds(1));
    let planted = crate::domain::SigningKeyRecord::generate(
        &other_kek,
        h.clock.now(),
        crate::domain::SigningAlgorithm::EdDSA,
    )
    .expect("a key");
    h.memory.insert_key(&planted).await.expect("stored");
    let mut swapped = crate::domain::SigningKeyRecord::generate(
        &h.kek,
        h.clock.now(),
        crate::domain::SigningAlgorithm::EdDSA,
    )
    .expect("a key");
    swapped.public_key = planted.public_key.clone();
    h.memory.insert_key(&swapped).await.expect("stored");
    assert_eq!(h.service.jwks(), own, "not loaded here yet");
    let published = h.service.published_jwks().await;
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(
        (published[0].kid.as_str(), published[0].kty.as_str()),
        (theirs.kid.as_str(), "RSA")
    );
    assert_eq!(published[1], own[0]);
    // Reloading with those rows newest: the keyring still loads, and signs only with a key
    // it trusts (theirs, the newest trusted one).
    let records = h.memory.keys().await.expect("keys");
    h.service.install(&records).expect("the keyring loads");
    let signed = h
        .service
        .jwks()
        .iter()
        .map(|k| k.kid.clone())
        .collect::<Vec<_>>();
    assert!(
        !signed.contains(&planted.kid) && !signed.contains(&swapped.kid),
        "{signed:?}"
    );
    let signer = h
        .service
        .keyring
        .read()
        .expect("ring")
        .signer
        .as_ref()
        .map(|s| s.kid.clone());
    assert_eq!(signer.as_deref(), Some(theirs.kid.as_str()));
}

#[tokio::test]
async fn a_token_signed_by_a_key_another_replica_just_made_is_accepted_at_once() {
    use crate::ports::KeyStore as _;
    let h = Harness::new().await;
    // Another replica (same store and key-encryption key) rotates; this one has not reloaded.
    let other = crate::service::AuthService::new(
        crate::service::Ports {
            users: h.users.clone(),
            keys: h.memory.clone(),
            sessions: h.memory.clone(),
            deny_list: h.memory.clone(),
            attempts: h.memory.clone(),
            clock: h.clock.clone(),
            service_keys: h.service_keys.clone(),
            permissions: h.permissions.clone(),
            revocations: h.memory.clone(),
            mfa: h.memory.clone(),
            events: h.memory.clone(),
        },
        crate::domain::KeyEncryptionKey::from_base64(&h.kek_base64).expect("kek"),
        crate::AuthConfig::default().settings(),
    )
    .await
    .expect("a second replica");
    h.clock.advance(Duration::seconds(2));
    let kid = other.rotate_keys().await.expect("rotated");
    assert!(h.memory.keys().await.expect("keys").len() >= 2);
    let pair = other
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("login at the other replica");
    let header = jsonwebtoken::decode_header(&pair.access_token).expect("header");
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    h.service
        .validate(&pair.access_token)
        .await
        .expect("this replica reloads and accepts it");
    // A garbage token is still refused.
    assert!(h.service.validate("e30.e30.e30").await.is_err());
}
