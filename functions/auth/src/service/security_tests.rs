//! The JWT attack set against ValidateToken.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::testing::Harness;
use crate::domain::{KeyEncryptionKey, Keyring, SigningKeyRecord};
use crate::error::AuthError;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

impl Harness {
    async fn access_token(&self) -> String {
        self.service
            .login("ada@example.com", Self::PASSWORD, None)
            .await
            .expect("login")
            .access_token
    }

    fn claims(&self) -> Value {
        let now = self.clock_now();
        json!({
            "iss": "platform", "aud": ["platform"], "sub": Self::USER,
            "iat": now, "nbf": now, "exp": now + 900,
            "jti": uuid::Uuid::now_v7().to_string(), "token_use": "access", "sid": "s"
        })
    }

    fn clock_now(&self) -> i64 {
        use crate::ports::Clock as _;
        self.clock.now().timestamp()
    }

    /// Signs arbitrary claims with the service's current key.
    fn sign_with_our_key(&self, claims: &Value) -> String {
        let ring = self.service.keyring.read().expect("ring");
        let signer = ring.signer.as_ref().expect("signer");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &signer.key).expect("sign")
    }

    async fn rejects(&self, token: &str) -> String {
        match self.service.validate(token).await {
            Err(AuthError::InvalidToken(why)) => why,
            other => panic!("accepted or wrong error for {token}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_token_from_login_validates() {
    let h = Harness::new().await;
    let token = h.access_token().await;
    let claims = h.service.validate(&token).await.expect("valid");
    assert_eq!(claims.sub, Harness::USER);
    assert_eq!(claims.token_use, "access");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());
}

#[tokio::test]
async fn alg_none_is_rejected_in_every_spelling() {
    let h = Harness::new().await;
    let claims = b64(&h.claims());
    for alg in ["none", "None", "NONE", "nOnE"] {
        for signature in ["", "e30"] {
            let token = format!(
                "{}.{claims}.{signature}",
                b64(&json!({"alg": alg, "typ": "JWT"}))
            );
            h.rejects(&token).await;
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let h = Harness::new().await;
    let jwk = h.service.jwks().remove(0);
    let public = URL_SAFE_NO_PAD.decode(&jwk.x).expect("x");
    for secret in [public.as_slice(), jwk.x.as_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(jwk.kid.clone());
        let token = jsonwebtoken::encode(&header, &h.claims(), &EncodingKey::from_secret(secret))
            .expect("sign");
        assert_eq!(h.rejects(&token).await, "unsupported algorithm");
    }
}

#[tokio::test]
async fn required_claims_cannot_be_left_out() {
    let h = Harness::new().await;
    for missing in ["exp", "iss", "aud", "nbf", "sub"] {
        let mut claims = h.claims();
        claims.as_object_mut().expect("object").remove(missing);
        let why = h.rejects(&h.sign_with_our_key(&claims)).await;
        assert!(
            why.contains(missing) || why == "malformed token",
            "{missing}: {why}"
        );
    }
    let mut wrong = h.claims();
    wrong["iss"] = json!("someone-else");
    assert_eq!(
        h.rejects(&h.sign_with_our_key(&wrong)).await,
        "wrong issuer"
    );
    let mut wrong = h.claims();
    wrong["aud"] = json!(["another-api"]);
    assert_eq!(
        h.rejects(&h.sign_with_our_key(&wrong)).await,
        "wrong audience"
    );
}

#[tokio::test]
async fn expiry_and_not_before_hold_beyond_the_leeway() {
    let h = Harness::new().await;
    let token = h.access_token().await;
    h.clock.advance(Duration::seconds(900 + 29));
    h.service.validate(&token).await.expect("within leeway");
    h.clock.advance(Duration::seconds(2));
    assert_eq!(h.rejects(&token).await, "token expired");

    let mut future = h.claims();
    future["nbf"] = json!(h.clock_now() + 120);
    assert_eq!(
        h.rejects(&h.sign_with_our_key(&future)).await,
        "token not yet valid"
    );
}

#[tokio::test]
async fn only_access_tokens_pass() {
    let h = Harness::new().await;
    let pair = h
        .service
        .login("ada@example.com", Harness::PASSWORD, None)
        .await
        .expect("login");
    h.rejects(&pair.refresh_token).await;
    let mut other = h.claims();
    other["token_use"] = json!("refresh");
    assert_eq!(
        h.rejects(&h.sign_with_our_key(&other)).await,
        "not an access token"
    );
    let mut none = h.claims();
    none.as_object_mut().expect("object").remove("token_use");
    h.rejects(&h.sign_with_our_key(&none)).await;
}

#[tokio::test]
async fn unknown_keys_are_rejected_and_key_urls_in_headers_are_ignored() {
    let h = Harness::new().await;
    // The attacker's own key, advertised in every header field that could carry a key.
    let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
    let record = SigningKeyRecord::generate(
        &kek,
        chrono::Utc::now(),
        crate::domain::keys::SigningAlgorithm::EdDSA,
    )
    .expect("key");
    let ring = Keyring::load(
        std::slice::from_ref(&record),
        &kek,
        chrono::Utc::now(),
        Duration::minutes(1),
    )
    .expect("ring");
    let attacker = ring.signer.expect("signer");
    let our_kid = h.service.jwks()[0].kid.clone();
    for kid in [record.kid.clone(), our_kid] {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        header.jku = Some("https://attacker.example/jwks.json".to_owned());
        header.x5u = Some("https://attacker.example/cert.pem".to_owned());
        header.jwk = serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "x": record.public_key, "kid": record.kid
        }))
        .ok();
        let token = jsonwebtoken::encode(&header, &h.claims(), &attacker.key).expect("sign");
        let why = h.rejects(&token).await;
        assert!(
            why == "unknown signing key" || why == "bad signature",
            "{why}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipping_any_single_byte_invalidates_a_token(position in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let h = Harness::new().await;
            let token = h.access_token().await;
            let mut bytes = token.into_bytes();
            let i = position.index(bytes.len());
            bytes[i] ^= mask;
            let tampered = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(h.service.validate(&tampered).await.is_err(), "byte {} ^ {:#x} accepted", i, mask);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_disabled_account_answers_a_correct_password_as_a_wrong_one() {
    let h = Harness::new().await;
    h.users.update(Harness::USER, |u| u.disabled = true);
    let right = h
        .service
        .login("ada@example.com", Harness::PASSWORD, None)
        .await
        .expect_err("disabled");
    let wrong = h
        .service
        .login("ada@example.com", "not the password!", None)
        .await
        .expect_err("wrong");
    assert!(matches!(right, AuthError::InvalidCredentials), "{right}");
    assert_eq!(right.to_string(), wrong.to_string());
}
