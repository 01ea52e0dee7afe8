//! Multi-factor authentication: enrolment, the second login step, single-use codes, limits,
//! sealed secrets, resets, and `amr`.

use chrono::Duration;
use platform_kernel::caller::Caller;
use platform_kernel::clock::Clock as _;

use super::testing::Harness;
use crate::domain::totp;
use crate::error::AuthError;
use crate::service::SecondFactorUsed;

const EMAIL: &str = "ada@example.com";

fn ada() -> Caller {
    Caller::user(Harness::USER)
}

/// RFC 4648 base32 back to bytes (what an authenticator app does with the secret).
fn unbase32(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = alphabet.iter().position(|a| *a == c).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The authenticator app: the current code.
fn app_code(h: &Harness, secret: &[u8]) -> String {
    totp::code(secret, totp::step_at(h.clock.now().timestamp()))
}

/// Ada with TOTP on: the app's secret and her recovery codes.
async fn enrolled(h: &Harness) -> (Vec<u8>, Vec<String>) {
    let enrolment = h.service.enroll_totp(&ada()).await.expect("enrol");
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Platform:ada@example.com?secret="),
        "{}",
        enrolment.otpauth_uri
    );
    let secret = unbase32(&enrolment.secret);
    assert_eq!(secret.len(), 20);
    let codes = h
        .service
        .confirm_totp(&ada(), &app_code(h, &secret))
        .await
        .expect("confirmed");
    // The next login's code must come from a later step than the confirmation's.
    h.clock.advance(Duration::seconds(30));
    (secret, codes)
}

/// Login: the challenge instead of tokens.
async fn challenge(h: &Harness) -> String {
    match h.service.login(EMAIL, Harness::PASSWORD, None).await {
        Err(AuthError::MfaRequired {
            challenge,
            expires_in,
        }) => {
            assert_eq!(expires_in, 300);
            challenge
        }
        other => panic!("expected a challenge: {other:?}"),
    }
}

#[tokio::test]
async fn with_totp_on_login_asks_for_a_code_and_the_tokens_say_how_the_user_authenticated() {
    let h = Harness::new().await;
    let before = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("no second factor yet");
    let claims = h
        .service
        .validate(&before.access_token)
        .await
        .expect("valid");
    assert_eq!(claims.amr, ["pwd"]);
    let (secret, codes) = enrolled(&h).await;
    assert_eq!(codes.len(), 10);
    let challenge = challenge(&h).await;
    let (pair, used) = h
        .service
        .verify_mfa(&challenge, &app_code(&h, &secret), "", None)
        .await
        .expect("second step");
    assert_eq!(used, SecondFactorUsed::Totp);
    let claims = h.service.validate(&pair.access_token).await.expect("valid");
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    // Refreshed tokens keep saying so.
    h.clock.advance(Duration::seconds(1));
    let refreshed = h
        .service
        .refresh(&pair.refresh_token)
        .await
        .expect("refresh");
    let claims = h
        .service
        .validate(&refreshed.access_token)
        .await
        .expect("valid");
    assert_eq!(claims.amr, ["pwd", "otp", "mfa"]);
    // The challenge is spent.
    let err = h
        .service
        .verify_mfa(&challenge, &app_code(&h, &secret), "", None)
        .await
        .expect_err("single use");
    assert!(matches!(err, AuthError::Unauthenticated(_)), "{err:?}");
}

#[tokio::test]
async fn turning_totp_on_ends_the_sessions_begun_with_the_password_alone_but_the_callers() {
    let h = Harness::new().await;
    let old = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("before MFA");
    let current = h
        .service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("the session enrolling");
    let claims = h
        .service
        .validate(&current.access_token)
        .await
        .expect("valid");
    let caller = Caller::User(platform_kernel::caller::UserCaller {
        id: Harness::USER.to_owned(),
        session: claims.sid.clone(),
        token_id: claims.jti.clone(),
    });
    let enrolment = h.service.enroll_totp(&caller).await.expect("enrol");
    let secret = unbase32(&enrolment.secret);
    h.service
        .confirm_totp(&caller, &app_code(&h, &secret))
        .await
        .expect("on");
    h.clock.advance(Duration::seconds(1));
    let err = h
        .service
        .refresh(&old.refresh_token)
        .await
        .expect_err("a session begun with the password alone ends");
    assert!(matches!(err, AuthError::InvalidRefreshToken), "{err:?}");
    h.service
        .refresh(&current.refresh_token)
        .await
        .expect("the session that turned it on goes on");
}

#[tokio::test]
async fn a_used_code_is_refused_within_its_window_and_the_next_one_works() {
    let h = Harness::new().await;
    let (secret, _) = enrolled(&h).await;
    let code = app_code(&h, &secret);
    let first = challenge(&h).await;
    h.service
        .verify_mfa(&first, &code, "", None)
        .await
        .expect("first use");
    let second = challenge(&h).await;
    h.clock.advance(Duration::seconds(10));
    let err = h
        .service
        .verify_mfa(&second, &code, "", None)
        .await
        .expect_err("replayed");
    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    h.clock.advance(Duration::seconds(30));
    h.service
        .verify_mfa(&second, &app_code(&h, &secret), "", None)
        .await
        .expect("the next step's code, on the same challenge");
}

#[tokio::test]
async fn a_recovery_code_works_once_in_any_spelling() {
    let h = Harness::new().await;
    let (_, codes) = enrolled(&h).await;
    let shouted = codes[3].to_uppercase().replace('-', " ");
    let (pair, used) = h
        .service
        .verify_mfa(&challenge(&h).await, "", &shouted, None)
        .await
        .expect("recovery code");
    assert_eq!(used, SecondFactorUsed::RecoveryCode { left: 9 });
    let claims = h.service.validate(&pair.access_token).await.expect("valid");
    assert_eq!(claims.amr, ["pwd", "mfa"]);
    let err = h
        .service
        .verify_mfa(&challenge(&h).await, "", &codes[3], None)
        .await
        .expect_err("used");
    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    h.service
        .verify_mfa(&challenge(&h).await, "", &codes[4], None)
        .await
        .expect("another one");
}

#[tokio::test]
async fn ten_wrong_codes_are_limited_like_passwords_and_the_right_one_waits_for_the_lock() {
    let h = Harness::new().await;
    let (secret, _) = enrolled(&h).await;
    let ip = "203.0.113.5".parse().ok();
    let challenge = challenge(&h).await;
    let right = app_code(&h, &secret);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(h.service.verify_mfa(&challenge, &wrong, "", ip).await);
    }
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(AuthError::LockedOut(_))))
        .count();
    let wrong_answers = answers
        .iter()
        .filter(|a| matches!(a, Err(AuthError::InvalidCredentials)))
        .count();
    assert_eq!((wrong_answers, refused), (5, 5), "{answers:?}");
    let err = h
        .service
        .verify_mfa(&challenge, &right, "", ip)
        .await
        .expect_err("locked");
    assert!(matches!(err, AuthError::LockedOut(_)), "{err:?}");
    h.clock.advance(Duration::seconds(31));
    h.service
        .verify_mfa(&challenge, &app_code(&h, &secret), "", ip)
        .await
        .expect("after the lock");
}

#[tokio::test]
async fn guessing_codes_from_many_addresses_locks_the_second_step_after_ten() {
    let h = Harness::new().await;
    let (secret, _) = enrolled(&h).await;
    let challenge = challenge(&h).await;
    let right = app_code(&h, &secret);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    for attacker in 1..=10 {
        let ip = format!("198.51.100.{attacker}").parse().ok();
        let err = h
            .service
            .verify_mfa(&challenge, &wrong, "", ip)
            .await
            .expect_err("wrong");
        assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    }
    let err = h
        .service
        .verify_mfa(&challenge, &right, "", "192.0.2.77".parse().ok())
        .await
        .expect_err("the second step is locked from everywhere");
    assert!(matches!(err, AuthError::LockedOut(_)), "{err:?}");
    h.clock.advance(Duration::seconds(31));
    h.service
        .verify_mfa(&challenge, &app_code(&h, &secret), "", None)
        .await
        .expect("after the lock");
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let h = Harness::new().await;
    let (secret, _) = enrolled(&h).await;
    let challenge = challenge(&h).await;
    h.clock.advance(Duration::seconds(301));
    let err = h
        .service
        .verify_mfa(&challenge, &app_code(&h, &secret), "", None)
        .await
        .expect_err("expired");
    assert!(matches!(err, AuthError::Unauthenticated(_)), "{err:?}");
    for (code, recovery) in [("", ""), ("123456", "abcd-efgh-ijkl")] {
        let err = h
            .service
            .verify_mfa("x", code, recovery, None)
            .await
            .expect_err("bad input");
        assert!(matches!(err, AuthError::InvalidArgument { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn enrolment_needs_a_user_a_current_code_and_no_factor_in_force() {
    let h = Harness::new().await;
    for caller in [Caller::Anonymous, Caller::service("identity")] {
        assert!(h.service.enroll_totp(&caller).await.is_err());
    }
    let enrolment = h.service.enroll_totp(&ada()).await.expect("enrol");
    let secret = unbase32(&enrolment.secret);
    let err = h
        .service
        .confirm_totp(&ada(), "000000")
        .await
        .expect_err("not the code");
    assert!(matches!(err, AuthError::InvalidArgument { .. }), "{err:?}");
    // Not in force until confirmed.
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("tokens at once");
    h.service
        .confirm_totp(&ada(), &app_code(&h, &secret))
        .await
        .expect("confirmed");
    let err = h.service.enroll_totp(&ada()).await.expect_err("already on");
    assert!(matches!(err, AuthError::FailedPrecondition(_)), "{err:?}");
}

#[tokio::test]
async fn only_the_user_with_a_code_or_a_holder_of_the_permission_turns_mfa_off() {
    let h = Harness::new().await;
    let (secret, codes) = enrolled(&h).await;
    let mallory = Caller::user("01a20000-0000-7000-8000-00000000000f");
    let err = h
        .service
        .reset_mfa(&mallory, Harness::USER, "", None)
        .await
        .expect_err("someone else");
    assert!(matches!(err, AuthError::PermissionDenied(_)), "{err:?}");
    for caller in [Caller::Anonymous, Caller::service("identity")] {
        assert!(
            h.service
                .reset_mfa(&caller, Harness::USER, "", None)
                .await
                .is_err()
        );
    }
    let err = h
        .service
        .reset_mfa(&ada(), Harness::USER, "", None)
        .await
        .expect_err("her own needs a code");
    assert!(matches!(err, AuthError::InvalidArgument { .. }), "{err:?}");
    let err = h
        .service
        .reset_mfa(&ada(), Harness::USER, "zzzz-zzzz-zzzz", None)
        .await
        .expect_err("wrong recovery code");
    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    assert!(
        h.service
            .reset_mfa(&ada(), Harness::USER, &codes[0], None)
            .await
            .expect("with a recovery code")
    );
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("no second factor any more");
    // Again, and the admin's reset.
    let enrolment = h.service.enroll_totp(&ada()).await.expect("enrol");
    let again = unbase32(&enrolment.secret);
    assert_ne!(again, secret, "a new secret");
    h.service
        .confirm_totp(&ada(), &app_code(&h, &again))
        .await
        .expect("on");
    let admin = "01a20000-0000-7000-8000-00000000000a";
    h.permissions.grant(admin, "auth.mfa.reset");
    assert!(
        h.service
            .reset_mfa(&Caller::user(admin), Harness::USER, "", None)
            .await
            .expect("an admin's reset")
    );
    assert!(
        !h.service
            .reset_mfa(&Caller::user(admin), Harness::USER, "", None)
            .await
            .expect("nothing left")
    );
    h.service
        .login(EMAIL, Harness::PASSWORD, None)
        .await
        .expect("no second factor");
}
