#![doc = include_str!("../README.md")]

pub mod revocation;
pub mod secret;
pub mod service;

use std::collections::{BTreeMap, HashSet};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

pub const ACCESS: &str = "access";
/// `token_use` of a service token: a service of the platform is calling, not a user.
pub const SERVICE: &str = "service";

/// The claims of an access token (RFC 9068-style; header `typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: Vec<String>,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Always `access` for access tokens.
    pub token_use: String,
    /// The session (refresh-token family) the token belongs to (none in service tokens).
    #[serde(default)]
    pub sid: String,
    /// How the user authenticated (RFC 8176): `pwd`, plus `otp` and `mfa` after a second
    /// factor. Empty in service tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// What a verifier expects.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("no key id")]
    NoKeyId,
    #[error("unknown signing key")]
    UnknownKey(String),
    #[error("bad signature")]
    BadSignature,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("missing claim {0}")]
    MissingClaim(String),
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("not an access token")]
    NotAccess,
}

/// Verifies a user's access token with the key its `kid` names, at Unix time `now`.
pub fn verify(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<DecodingKey>,
    expect: &Expectations,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let claims = verify_signed(token, key_for, expect, now)?;
    if claims.token_use != ACCESS {
        return Err(TokenError::NotAccess);
    }
    Ok(claims)
}

/// Verifies the credential a caller of a service presents: a user's access token, or a
/// service token (`token_use` tells which).
pub fn verify_caller(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<DecodingKey>,
    expect: &Expectations,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let claims = verify_signed(token, key_for, expect, now)?;
    if claims.token_use != ACCESS && claims.token_use != SERVICE {
        return Err(TokenError::NotAccess);
    }
    Ok(claims)
}

fn verify_signed(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<DecodingKey>,
    expect: &Expectations,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    // Auth signs with Ed25519, or RSA where API Gateway must verify too. The key named by
    // `kid` must be of the header's family (jsonwebtoken refuses an RSA header on an Ed25519
    // key and the reverse), so the header cannot choose how a key is used.
    if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    let kid = header.kid.ok_or(TokenError::NoKeyId)?;
    let key = key_for(&kid).ok_or(TokenError::UnknownKey(kid))?;
    if key.family() != header.alg.family() {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&expect.issuer]);
    validation.set_audience(&[&expect.audience]);
    validation.required_spec_claims =
        HashSet::from(["exp", "nbf", "iat", "iss", "aud", "sub"].map(str::to_owned));
    // Time claims are checked below against the caller's clock (a port, in tests).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidIssuer => TokenError::WrongIssuer,
            K::InvalidAudience => TokenError::WrongAudience,
            K::InvalidSignature => TokenError::BadSignature,
            K::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
            _ => TokenError::Malformed,
        }
    })?;
    let claims = data.claims;
    if claims.exp + expect.leeway_secs <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf - expect.leeway_secs > now {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// A public key in JWKS form: OKP / Ed25519 (RFC 8037), or RSA (RFC 7518 §6.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crv: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x: String,
    /// RSA modulus and exponent, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

impl Jwk {
    pub fn ed25519(kid: &str, x: &str) -> Self {
        Self {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: x.to_owned(),
            n: String::new(),
            e: String::new(),
            kid: kid.to_owned(),
            use_: "sig".to_owned(),
            alg: "EdDSA".to_owned(),
        }
    }

    pub fn rsa(kid: &str, n: &str, e: &str) -> Self {
        Self {
            kty: "RSA".to_owned(),
            crv: String::new(),
            x: String::new(),
            n: n.to_owned(),
            e: e.to_owned(),
            kid: kid.to_owned(),
            use_: "sig".to_owned(),
            alg: "RS256".to_owned(),
        }
    }
}

/// `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The verification keys by kid (Ed25519 and RS256 signing keys; others are skipped).
    pub fn decoding_keys(&self) -> BTreeMap<String, DecodingKey> {
        self.keys
            .iter()
            .filter(|k| k.use_ == "sig")
            .filter_map(|k| {
                let key = match (k.kty.as_str(), k.crv.as_str(), k.alg.as_str()) {
                    ("OKP", "Ed25519", _) => DecodingKey::from_ed_components(&k.x).ok()?,
                    ("RSA", _, "RS256") => DecodingKey::from_rsa_components(&k.n, &k.e).ok()?,
                    _ => return None,
                };
                Some((k.kid.clone(), key))
            })
            .collect()
    }
}
