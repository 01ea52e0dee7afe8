//! The JWT attack set at the gateway. The "auth" upstream here is a JWKS server whose key
//! the test holds, so it can forge every kind of bad token.

use auth::domain::{KeyEncryptionKey, Keyring, SigningKeyRecord};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use platform_kernel::clock::Clock as _;

use crate::support::{Stack, serve};

struct Forger {
    kid: String,
    x: String,
    key: EncodingKey,
}

impl Forger {
    fn new() -> Self {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
        let record =
            SigningKeyRecord::generate(&kek, chrono_now(), auth::domain::SigningAlgorithm::EdDSA)
                .expect("key");
        let ring = Keyring::load(
            std::slice::from_ref(&record),
            &kek,
            chrono_now(),
            chrono_minutes(1),
        )
        .expect("ring");
        Self {
            kid: record.kid.clone(),
            x: record.public_key.clone(),
            key: ring.signer.expect("signer").key,
        }
    }

    fn claims(&self) -> Value {
        let now = now();
        json!({"iss": "platform", "aud": ["platform"], "sub": "user-1", "iat": now, "nbf": now,
               "exp": now + 900, "jti": "j", "token_use": "access", "sid": "s"})
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn chrono_minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// A stand-in for the auth service's JWKS endpoint, publishing the forger's key.
async fn jwks_server(forger: &Forger) -> std::net::SocketAddr {
    let jwk = platform_tokens::Jwk::ed25519(&forger.kid, &forger.x);
    let jwks = json!({ "keys": [jwk] });
    serve(axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    ))
    .await
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn every_forged_or_stale_token_gets_401_and_a_good_one_passes() {
    let forger = Forger::new();
    let jwks_server = jwks_server(&forger).await;
    let stack = Stack::start_echoing_authz(|c| {
        c.base
            .discovery
            .static_instances
            .insert("auth".into(), vec![format!("http://{jwks_server}")]);
    })
    .await;
    let path = "/platform.authz.v1.AuthzService/HasPermission";

    let good = forger.sign(&forger.claims());
    let (status, body) = stack.connect(path, Some(&good), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stack.seen.header("x-user-id").as_deref(), Some("user-1"));

    let mut bad: Vec<(&str, String)> = Vec::new();
    let claims = b64(&forger.claims());
    for alg in ["none", "None", "NONE", "nOnE"] {
        bad.push((
            "alg none",
            format!("{}.{claims}.", b64(&json!({"alg": alg, "typ": "JWT"}))),
        ));
    }
    let public = URL_SAFE_NO_PAD.decode(&forger.x).expect("x");
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(forger.kid.clone());
    bad.push((
        "HS256 with the public key",
        jsonwebtoken::encode(&hs, &forger.claims(), &EncodingKey::from_secret(&public))
            .expect("hs"),
    ));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = forger.claims();
        f(&mut c);
        forger.sign(&c)
    };
    bad.push(("expired", with(&|c| c["exp"] = json!(now() - 120))));
    bad.push(("future nbf", with(&|c| c["nbf"] = json!(now() + 120))));
    bad.push(("wrong aud", with(&|c| c["aud"] = json!(["elsewhere"]))));
    bad.push(("wrong iss", with(&|c| c["iss"] = json!("someone"))));
    bad.push((
        "no exp",
        with(&|c| drop(c.as_object_mut().expect("obj").remove("exp"))),
    ));
    bad.push((
        "refresh as access",
        with(&|c| c["token_use"] = json!("refresh")),
    ));
    let stranger = Forger::new();
    bad.push(("unknown kid", stranger.sign(&stranger.claims())));
    for (what, token) in bad {
        let (status, body) = stack.connect(path, Some(&token), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthenticated")),
            "{what}: {body}"
        );
    }
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let forger = Forger::new();
    let jwks_server = jwks_server(&forger).await;
    let clock = std::sync::Arc::new(platform_testkit::clock::ManualClock::starting_now());
    let stack = Stack::start_echoing_authz_with_clock(
        |c| {
            c.own.auth.leeway_secs = 0;
            c.base
                .discovery
                .static_instances
                .insert("auth".into(), vec![format!("http://{jwks_server}")]);
        },
        clock.clone(),
    )
    .await;
    let path = "/platform.authz.v1.AuthzService/HasPermission";
    let mut claims = forger.claims();
    // Issued on the gateway's clock (the system clock may have ticked past it by now).
    let issued = clock.unix_seconds();
    claims["iat"] = json!(issued);
    claims["nbf"] = json!(issued);
    claims["exp"] = json!(issued + 60);
    let token = forger.sign(&claims);
    for _ in 0..3 {
        let (status, body) = stack.connect(path, Some(&token), json!({})).await;
        assert_eq!(
            status, 200,
            "valid (and cached after the first call): {body}"
        );
    }
    clock.advance(chrono::Duration::seconds(59));
    let (status, body) = stack.connect(path, Some(&token), json!({})).await;
    assert_eq!(status, 200, "a second before its expiry: {body}");
    clock.advance(chrono::Duration::seconds(1));
    let (status, body) = stack.connect(path, Some(&token), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
}
