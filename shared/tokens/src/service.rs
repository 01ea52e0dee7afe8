//! Service identities. Each service of the platform has its own Ed25519 key pair; it proves
//! who it is to auth with a short-lived client assertion signed by its private key
//! (RFC 7523 §2.2, `private_key_jwt`: `iss` = `sub` = the service's name, `aud` = auth's
//! issuer, a `jti`, a lifetime of at most [`MAX_ASSERTION_SECS`]), and auth answers a service
//! token signed like access tokens, with `token_use` [`crate::SERVICE`] and `sub` the
//! service's name, which every service verifies against the same JWKS. Only auth holds the
//! public keys; a compromised service can sign only as itself.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The longest lifetime auth accepts for an assertion.
pub const MAX_ASSERTION_SECS: i64 = 300;

/// A service's names: lower-case letters, digits and '-', 1 to 63 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A service's private key.
pub struct ServiceKey {
    signing: ed25519_dalek::SigningKey,
    encoding: EncodingKey,
}

impl ServiceKey {
    /// A fresh key, as the base64 of its 32-byte seed.
    pub fn generate_base64() -> String {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        STANDARD.encode(seed)
    }

    /// From the base64 of its 32-byte seed.
    pub fn from_base64(b64: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(b64.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim()))
            .map_err(|_| "a service key is base64".to_owned())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a service key is 32 bytes".to_owned())?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| format!("encoding the service key: {e}"))?;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            signing,
        })
    }

    /// The public half, base64url (as in a JWK's `x`).
    pub fn public_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes())
    }

    /// A client assertion naming `service`, for auth (`audience`: its issuer), valid from
    /// `now` for `lifetime_secs`.
    pub fn assertion(
        &self,
        service: &str,
        audience: &str,
        now: i64,
        lifetime_secs: i64,
    ) -> Result<String, String> {
        let claims = AssertionClaims {
            iss: service.to_owned(),
            sub: service.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            exp: now + lifetime_secs,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The service an assertion claims to be, read before its signature is checked (to find the
/// key to check it with).
pub fn claimed_service(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Checks an assertion against the service's registered public key (base64url): signature,
/// `iss` = `sub`, `aud`, and a lifetime within [`MAX_ASSERTION_SECS`] that covers `now`
/// (with `leeway` seconds of clock skew).
pub fn verify_assertion(
    assertion: &str,
    public_key: &str,
    audience: &str,
    now: i64,
    leeway: i64,
) -> Result<AssertionClaims, String> {
    let key = DecodingKey::from_ed_components(public_key)
        .map_err(|_| "the registered public key is malformed".to_owned())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.validate_exp = false;
    validation.required_spec_claims = ["exp", "iat", "iss", "sub", "aud"]
        .map(str::to_owned)
        .into();
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| format!("assertion rejected: {e}"))?
        .claims;
    if claims.iss != claims.sub {
        return Err("assertion rejected: iss and sub differ".to_owned());
    }
    if claims.exp - claims.iat > MAX_ASSERTION_SECS {
        return Err(format!(
            "assertion rejected: it lives longer than {MAX_ASSERTION_SECS} s"
        ));
    }
    if claims.exp + leeway <= now || claims.iat - leeway > now {
        return Err("assertion rejected: expired or not yet valid".to_owned());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_verifies_only_with_its_own_key_and_audience() {
        let key = ServiceKey::from_base64(&ServiceKey::generate_base64()).expect("key");
        let other = ServiceKey::from_base64(&ServiceKey::generate_base64()).expect("key");
        let assertion = key
            .assertion("identity", "platform", 1000, 60)
            .expect("signed");
        assert_eq!(claimed_service(&assertion).as_deref(), Some("identity"));
        let ok = verify_assertion(&assertion, &key.public_base64(), "platform", 1010, 5);
        assert_eq!(ok.expect("valid").sub, "identity");
        assert!(verify_assertion(&assertion, &other.public_base64(), "platform", 1010, 5).is_err());
        assert!(verify_assertion(&assertion, &key.public_base64(), "elsewhere", 1010, 5).is_err());
        assert!(verify_assertion(&assertion, &key.public_base64(), "platform", 1070, 5).is_err());
        let long = key
            .assertion("identity", "platform", 1000, 3600)
            .expect("signed");
        assert!(verify_assertion(&long, &key.public_base64(), "platform", 1010, 5).is_err());
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_names_are_checked() {
        assert!(ServiceKey::from_base64("not base64!").is_err());
        assert!(ServiceKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(valid_name("identity") && valid_name("my-module2"));
        assert!(!valid_name("") && !valid_name("Identity") && !valid_name("a.b"));
    }
}
