//! Signing and validating access tokens. Validation trusts nothing in the token header but
//! `kid` (looked up in our own keyring: `jku`, `x5u` and `jwk` are never used) and accepts
//! only EdDSA, so `alg: none` and HMAC-with-the-public-key confusion cannot pass.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, Header, Validation};

use crate::domain::AccessClaims;
use crate::domain::claims::ACCESS;
use crate::error::{AuthError, Result};

use super::{AuthService, chrono};

/// The verified claims of an access token.
pub type ValidatedClaims = AccessClaims;

impl AuthService {
    /// Signs an access token for `user_id` in session `sid`; returns it and its claims.
    pub(crate) fn sign_access(&self, user_id: &str, sid: &str) -> Result<(String, AccessClaims)> {
        let now = self.clock.now().timestamp();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: vec![self.settings.audience.clone()],
            sub: user_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now + chrono(self.settings.access_ttl).num_seconds(),
            jti: uuid::Uuid::now_v7().to_string(),
            token_use: ACCESS.to_owned(),
            sid: sid.to_owned(),
        };
        let ring = self
            .keyring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let signer = ring
            .signer
            .as_ref()
            .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("no signing key")))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &signer.key)
            .map_err(|e| AuthError::Internal(anyhow::anyhow!("signing: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies signature, `exp`, `nbf`, `iss`, `aud`, the token type, and the deny list.
    pub async fn validate(&self, token: &str) -> Result<ValidatedClaims> {
        let claims = self.verify_signature_and_claims(token)?;
        if self
            .deny_list
            .is_denied(&claims.jti, self.clock.now())
            .await?
        {
            return Err(AuthError::InvalidToken("token has been revoked".into()));
        }
        Ok(claims)
    }

    pub(crate) fn verify_signature_and_claims(&self, token: &str) -> Result<AccessClaims> {
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        if token.trim().is_empty() {
            return Err(AuthError::invalid("token", "is required"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("unsupported algorithm"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id"))?;
        let key = {
            let ring = self
                .keyring
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ring.verifiers.get(&kid).cloned()
        }
        .ok_or_else(|| invalid("unknown signing key"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = self.settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "nbf", "iat", "iss", "aud", "sub"].map(str::to_owned));
        // The clock is a port (tests move it); verify time claims against it, not the OS.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidIssuer => invalid("wrong issuer"),
                K::InvalidAudience => invalid("wrong audience"),
                K::InvalidSignature => invalid("bad signature"),
                K::MissingRequiredClaim(c) => AuthError::InvalidToken(format!("missing claim {c}")),
                _ => invalid("malformed token"),
            }
        })?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        let leeway = self.settings.leeway.as_secs() as i64;
        if claims.exp + leeway <= now {
            return Err(invalid("token expired"));
        }
        if claims.nbf - leeway > now {
            return Err(invalid("token not yet valid"));
        }
        if claims.token_use != crate::domain::claims::ACCESS {
            return Err(invalid("not an access token"));
        }
        Ok(claims)
    }
}
