//! A service's check of its callers: a user's access token or a service token, verified
//! against the auth service's JWKS (refetched, at a bounded rate, when a token names a key not
//! seen yet: a rotation, or auth started after this service), and against the revocations.
//! A token verified once is remembered until it expires (an EdDSA verification costs tens of
//! µs, and a caller sends the same token on every call); a remembered user token is still
//! checked against the revocations on every call (a hash lookup).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use platform_kernel::caller::{Caller, UserCaller};
use platform_kernel::clock::Clock;

use crate::balancer::Balancer;
use crate::jwks::JwksCache;
use crate::revocations::Revocations;

/// Tokens remembered before the cache starts over.
const CAPACITY: usize = 10_000;

struct Remembered {
    caller: Caller,
    claims: platform_tokens::AccessClaims,
}

pub struct JwksVerifier {
    pub jwks: Arc<JwksCache>,
    pub revocations: Arc<Revocations>,
    pub expect: platform_tokens::Expectations,
    pub clock: Arc<dyn Clock>,
    verified: RwLock<HashMap<Box<str>, Arc<Remembered>, foldhash::fast::RandomState>>,
}

impl JwksVerifier {
    pub fn new(
        jwks: Arc<JwksCache>,
        revocations: Arc<Revocations>,
        expect: platform_tokens::Expectations,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            jwks,
            revocations,
            expect,
            clock,
            verified: RwLock::new(HashMap::default()),
        }
    }

    /// For a service: the JWKS and revocations of the `auth` instances `registry` knows,
    /// kept fresh: by background refreshers in a long-running process; on a Lambda function,
    /// on the request path only (an unknown key refetches the JWKS; a feed last read more
    /// than two intervals ago is read before the token is accepted).
    pub fn for_service(
        registry: &Arc<dyn platform_discovery::ServiceRegistry>,
        expect: platform_tokens::Expectations,
    ) -> Self {
        let breaker = crate::ClientsConfig::default().defaults.breaker;
        let balancer = Arc::new(Balancer::new("auth", registry.watch("auth"), breaker));
        let jwks = Arc::new(JwksCache::new(balancer.clone(), Duration::from_secs(5)));
        let background = !platform_kernel::runner::on_lambda();
        if background {
            jwks.spawn_refresher(Duration::from_secs(300));
        }
        let clock: Arc<dyn Clock> = Arc::new(platform_kernel::clock::SystemClock);
        let revocations = Arc::new(Revocations::new(
            balancer,
            Duration::from_millis(250),
            clock.clone(),
        ));
        if background {
            revocations.spawn_follower();
        }
        Self::new(jwks, revocations, expect, clock)
    }

    fn remembered(&self, token: &str) -> Option<Arc<Remembered>> {
        self.verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    fn remember(&self, token: &str, remembered: Arc<Remembered>) {
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= CAPACITY {
            verified.clear();
        }
        verified.insert(token.into(), remembered);
    }

    async fn verify_signature(&self, token: &str) -> Result<platform_tokens::AccessClaims, String> {
        let now = self.clock.unix_seconds();
        let verify =
            || platform_tokens::verify_caller(token, |kid| self.jwks.key(kid), &self.expect, now);
        match verify() {
            Err(platform_tokens::TokenError::UnknownKey(_)) => {
                if let Err(e) = Box::pin(self.jwks.refresh(false)).await {
                    tracing::warn!(error = %format!("{e:#}"), "JWKS refetch failed");
                }
                verify()
            }
            other => other,
        }
        .map_err(|e| e.to_string())
    }
}

/// The caller a verified token names.
pub fn caller_of(claims: platform_tokens::AccessClaims) -> Caller {
    if claims.token_use == platform_tokens::SERVICE {
        Caller::service(&claims.sub)
    } else {
        Caller::User(UserCaller {
            id: claims.sub,
            session: claims.sid,
            token_id: claims.jti,
        })
    }
}

#[async_trait::async_trait]
impl platform_kernel::caller::Verifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Result<Caller, String> {
        let now = self.clock.unix_seconds();
        let leeway = self.expect.leeway_secs;
        let remembered = match self.remembered(token) {
            Some(r) if r.claims.exp + leeway > now && r.claims.nbf - leeway <= now => r,
            _ => {
                let claims = self.verify_signature(token).await?;
                let remembered = Arc::new(Remembered {
                    caller: caller_of(claims.clone()),
                    claims,
                });
                self.remember(token, remembered.clone());
                remembered
            }
        };
        if remembered.claims.token_use == platform_tokens::ACCESS {
            self.revocations.sync_if_stale().await;
            if self
                .revocations
                .is_revoked(&remembered.claims.jti, &remembered.claims.sid)
            {
                return Err("token has been revoked".to_owned());
            }
        }
        Ok(remembered.caller.clone())
    }
}
