//! Signing and validating access tokens. Validation is `platform_tokens::verify` (shared
//! with the gateway) against our own keyring, plus the deny list.

use std::sync::atomic::Ordering;

use jsonwebtoken::{Algorithm, Header};

use crate::domain::claims::ACCESS;
use crate::domain::{AccessClaims, Family, SigningAlgorithm};
use crate::error::{AuthError, Result};

use super::{AuthService, chrono};

/// The verified claims of an access token.
pub type ValidatedClaims = AccessClaims;

impl AuthService {
    /// Signs an access token for `user_id` in session `sid`; returns it and its claims.
    pub(crate) fn sign_access(&self, session: &Family) -> Result<(String, AccessClaims)> {
        let (user_id, sid) = (&session.user_id, &session.id);
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
            amr: session.amr.clone(),
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// Signs `claims` with the current key.
    pub(crate) fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let ring = self
            .keyring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let signer = ring
            .signer
            .as_ref()
            .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("no signing key")))?;
        let mut header = Header::new(match signer.algorithm {
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
            SigningAlgorithm::RS256 => Algorithm::RS256,
        });
        header.kid = Some(signer.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &signer.key)
            .map_err(|e| AuthError::Internal(anyhow::anyhow!("signing: {e}")))
    }

    /// Verifies signature, `exp`, `nbf`, `iss`, `aud`, the token type, and the deny list.
    pub async fn validate(&self, token: &str) -> Result<ValidatedClaims> {
        let claims = self.verify_reloading(token, false).await?;
        if self.revoked(&claims.jti, &claims.sid).await? {
            return Err(AuthError::InvalidToken("token has been revoked".into()));
        }
        Ok(claims)
    }

    pub(crate) fn verify_signature_and_claims(&self, token: &str) -> Result<AccessClaims> {
        self.verify_with(token, false)
    }

    /// Auth's check of its own callers: a user's access token or a service token, against
    /// its own keyring.
    pub async fn verify_caller(&self, token: &str) -> Result<AccessClaims> {
        let claims = self.verify_reloading(token, true).await?;
        if claims.token_use == ACCESS && self.revoked(&claims.jti, &claims.sid).await? {
            return Err(AuthError::InvalidToken("token has been revoked".into()));
        }
        Ok(claims)
    }

    /// [`Self::verify_with`]; a token naming a key this replica has not loaded (another
    /// replica made it since this one's last reload) reloads the keyring from the store
    /// first, at most once a second, so garbage kids cannot make auth read its store per call.
    async fn verify_reloading(&self, token: &str, services: bool) -> Result<AccessClaims> {
        if token.trim().is_empty() {
            return Err(AuthError::invalid("token", "is required"));
        }
        let invalid = |e: platform_tokens::TokenError| AuthError::InvalidToken(e.to_string());
        match self.verify_against_keyring(token, services) {
            Err(unknown @ platform_tokens::TokenError::UnknownKey(_)) => {
                let now = self.clock.now().timestamp_millis();
                let last = self.last_unknown_key_reload.load(Ordering::Relaxed);
                if now - last < 1000
                    || self
                        .last_unknown_key_reload
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_err()
                {
                    return Err(invalid(unknown));
                }
                let records = self.keys.keys().await?;
                self.install(&records)?;
                self.verify_with(token, services)
            }
            other => other.map_err(invalid),
        }
    }

    /// `services`: service tokens are accepted too.
    fn verify_with(&self, token: &str, services: bool) -> Result<AccessClaims> {
        if token.trim().is_empty() {
            return Err(AuthError::invalid("token", "is required"));
        }
        self.verify_against_keyring(token, services)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }

    /// The token checked against this replica's keyring, with the tokens crate's own error
    /// (an unknown key is told apart by its variant).
    fn verify_against_keyring(
        &self,
        token: &str,
        services: bool,
    ) -> std::result::Result<AccessClaims, platform_tokens::TokenError> {
        let expect = platform_tokens::Expectations {
            issuer: self.settings.issuer.clone(),
            audience: self.settings.audience.clone(),
            leeway_secs: self.settings.leeway.as_secs() as i64,
        };
        let key_for = |kid: &str| {
            self.keyring
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .verifiers
                .get(kid)
                .cloned()
        };
        let now = self.clock.now().timestamp();
        if services {
            platform_tokens::verify_caller(token, key_for, &expect, now)
        } else {
            platform_tokens::verify(token, key_for, &expect, now)
        }
    }
}
