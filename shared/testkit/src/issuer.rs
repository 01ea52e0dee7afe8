//! A stand-in for the auth service's signing side: an Ed25519 key, its JWKS (and an empty
//! revocation feed) served on
//! 127.0.0.1:<free port> (where a service under test fetches it, as it would auth's), and
//! tokens signed with it — a user's access token or a service token — so a service's tests
//! can call it as a given user or service without running auth.

use std::net::SocketAddr;

use axum::routing::get;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform_tokens::{AccessClaims, Jwk, Jwks};

use crate::server::Served;

pub struct TestIssuer {
    key: EncodingKey,
    kid: String,
    /// Where the JWKS is served: a service's discovery entry for `auth`.
    pub addr: SocketAddr,
    _server: Served,
}

impl TestIssuer {
    pub async fn start() -> Self {
        let seed: [u8; 32] = rand::random();
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        #[allow(clippy::expect_used)]
        let der = signing.to_pkcs8_der().expect("pkcs8");
        let kid = format!("test-{}", uuid::Uuid::now_v7().simple());
        use base64::Engine as _;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(signing.verifying_key().to_bytes());
        let jwks = Jwks {
            keys: vec![Jwk::ed25519(&kid, &x)],
        };
        let router = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                get(move || {
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            )
            // Nothing is ever revoked here.
            .route(
                platform_tokens::revocation::PATH,
                get(|| async {
                    axum::Json(platform_tokens::revocation::RevocationPage::default())
                }),
            );
        let server = Served::start(router).await;
        Self {
            key: EncodingKey::from_ed_der(der.as_bytes()),
            kid,
            addr: server.addr,
            _server: server,
        }
    }

    /// The URL to give a service as the `auth` instance.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn sign(&self, sub: &str, token_use: &str, sid: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: "platform".to_owned(),
            aud: vec!["platform".to_owned()],
            sub: sub.to_owned(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: uuid::Uuid::now_v7().to_string(),
            token_use: token_use.to_owned(),
            sid: sid.to_owned(),
            amr: Vec::new(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        #[allow(clippy::expect_used)]
        jsonwebtoken::encode(&header, &claims, &self.key).expect("signing")
    }

    /// `Bearer <a user's access token>`.
    pub fn user(&self, user_id: &str) -> String {
        format!(
            "Bearer {}",
            self.sign(user_id, platform_tokens::ACCESS, "test-session")
        )
    }

    /// `Bearer <a service token>`.
    pub fn service(&self, name: &str) -> String {
        format!("Bearer {}", self.sign(name, platform_tokens::SERVICE, ""))
    }
}
