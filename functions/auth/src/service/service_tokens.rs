//! Service tokens: client credentials with `private_key_jwt` (RFC 7523). A service presents
//! an assertion signed with its own key; the key registered for the service it names must
//! verify it, and each assertion is accepted once (its `jti` goes on the deny list until the
//! assertion expires). The token is signed like access tokens, with `token_use` `service`.

use std::time::Duration;

use platform_tokens::service::{claimed_service, valid_name, verify_assertion};

use super::AuthService;
use crate::domain::AccessClaims;
use crate::error::{AuthError, Result};

/// How long a service token lives.
pub const SERVICE_TOKEN_SECS: i64 = 300;

impl AuthService {
    /// A service token for `service`, signed now.
    pub fn sign_service(&self, service: &str) -> Result<(String, Duration)> {
        let now = self.clock.now().timestamp();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: vec![self.settings.audience.clone()],
            sub: service.to_owned(),
            iat: now,
            nbf: now,
            exp: now + SERVICE_TOKEN_SECS,
            jti: uuid::Uuid::now_v7().to_string(),
            token_use: platform_tokens::SERVICE.to_owned(),
            sid: String::new(),
            amr: Vec::new(),
        };
        Ok((
            self.sign(&claims)?,
            Duration::from_secs(SERVICE_TOKEN_SECS as u64),
        ))
    }

    /// Exchanges a service's client assertion for a service token.
    pub async fn issue_service_token(&self, assertion: &str) -> Result<(String, Duration)> {
        let refused = |why: &str| AuthError::InvalidToken(format!("client assertion: {why}"));
        if assertion.trim().is_empty() {
            return Err(AuthError::invalid("assertion", "is required"));
        }
        let service = claimed_service(assertion)
            .filter(|s| valid_name(s))
            .ok_or_else(|| refused("it names no service"))?;
        let key = self
            .service_keys
            .public_key(&service)
            .ok_or_else(|| refused(&format!("no key is registered for service `{service}`")))?;
        let now = self.clock.now();
        let claims = verify_assertion(
            assertion,
            &key,
            &self.settings.issuer,
            now.timestamp(),
            self.settings.leeway.as_secs() as i64,
        )
        .map_err(|e| refused(&e))?;
        let replay_key = format!("assertion:{}:{}", claims.iss, claims.jti);
        let until = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now)
            + super::chrono(self.settings.leeway);
        // Checked and recorded in one step: two concurrent uses cannot both pass.
        if !self.deny_list.deny_once(&replay_key, until).await? {
            return Err(refused("it was used before"));
        }
        self.sign_service(&service)
    }
}

#[cfg(test)]
mod tests {
    use platform_kernel::clock::Clock as _;
    use platform_tokens::service::ServiceKey;

    use crate::error::AuthError;
    use crate::service::testing::Harness;

    fn key() -> ServiceKey {
        ServiceKey::from_base64(&ServiceKey::generate_base64()).expect("key")
    }

    #[tokio::test]
    async fn a_registered_service_gets_a_service_token_once_per_assertion() {
        let h = Harness::new().await;
        let identity = key();
        h.service_keys
            .register("identity", &identity.public_base64());
        let now = h.clock.now().timestamp();
        let assertion = identity
            .assertion("identity", "platform", now, 60)
            .expect("signed");
        let (token, lifetime) = h
            .service
            .issue_service_token(&assertion)
            .await
            .expect("token");
        assert_eq!(lifetime.as_secs(), 300);
        let claims = h.service.verify_caller(&token).await.expect("verifies");
        assert_eq!(
            (claims.sub.as_str(), claims.token_use.as_str()),
            ("identity", "service")
        );
        // A service token is no user's access token.
        assert!(h.service.validate(&token).await.is_err());
        let replay = h.service.issue_service_token(&assertion).await;
        assert!(
            matches!(replay, Err(AuthError::InvalidToken(_))),
            "{replay:?}"
        );
    }

    #[tokio::test]
    async fn a_service_cannot_pose_as_another_or_go_unregistered() {
        let h = Harness::new().await;
        let (identity, audit) = (key(), key());
        h.service_keys
            .register("identity", &identity.public_base64());
        let now = h.clock.now().timestamp();
        // Audit's key, claiming to be identity.
        let forged = audit
            .assertion("identity", "platform", now, 60)
            .expect("signed");
        assert!(h.service.issue_service_token(&forged).await.is_err());
        // Audit as itself, not registered.
        let unregistered = audit
            .assertion("audit", "platform", now, 60)
            .expect("signed");
        let err = h
            .service
            .issue_service_token(&unregistered)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("no key is registered"), "{err}");
        // Another audience, an expired or a too long-lived assertion.
        for bad in [
            identity.assertion("identity", "elsewhere", now, 60),
            identity.assertion("identity", "platform", now - 600, 60),
            identity.assertion("identity", "platform", now, 3600),
        ] {
            let bad = bad.expect("signed");
            assert!(h.service.issue_service_token(&bad).await.is_err());
        }
    }
}
