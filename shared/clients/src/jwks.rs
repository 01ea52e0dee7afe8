//! The auth service's public keys, fetched from an auth instance and cached (the gateway's
//! and every service's), and the [`JwksVerifier`] each service checks its callers with. Refetched every
//! `jwks_refresh_secs`, and when a token names an unknown `kid` — at most once per
//! `unknown_kid_refetch_secs`, so garbage tokens cannot make the gateway hammer auth.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::balancer::{Balancer, Outcome};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::DecodingKey;
use platform_tokens::Jwks;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct JwksCache {
    balancer: Arc<Balancer>,
    http: Client<HttpConnector, Empty<Bytes>>,
    state: RwLock<(Jwks, BTreeMap<String, DecodingKey>)>,
    last_fetch: Mutex<Option<Instant>>,
    min_refetch: Duration,
}

impl JwksCache {
    pub fn new(balancer: Arc<Balancer>, min_refetch: Duration) -> Self {
        Self {
            balancer,
            http: Client::builder(TokioExecutor::new()).build_http(),
            state: RwLock::new((Jwks::default(), BTreeMap::new())),
            last_fetch: Mutex::new(None),
            min_refetch,
        }
    }

    /// The document as last fetched.
    pub fn document(&self) -> Jwks {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    pub fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .get(kid)
            .cloned()
    }

    pub fn is_loaded(&self) -> bool {
        !self.document().keys.is_empty()
    }

    /// Fetches now, unless the last fetch was less than the minimum interval ago (`force`
    /// ignores that: the periodic refresh).
    pub async fn refresh(&self, force: bool) -> anyhow::Result<()> {
        let mut last = self.last_fetch.lock().await;
        // Until a fetch has succeeded (auth started after us) every caller may try again.
        if !force && self.is_loaded() && last.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let deadline = Instant::now() + Duration::from_secs(5);
        let pick = self.balancer.pick(&[], deadline).await?;
        let url = format!("{}/.well-known/jwks.json", pick.instance().base_url);
        let fetched = async {
            let response = self.http.get(url.parse()?).await?;
            anyhow::ensure!(
                response.status().is_success(),
                "JWKS answered {}",
                response.status()
            );
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<Jwks, anyhow::Error>(serde_json::from_slice(&body)?)
        };
        match tokio::time::timeout(Duration::from_secs(5), fetched).await {
            Ok(Ok(jwks)) => {
                pick.finish(Outcome::Success);
                let keys = jwks.decoding_keys();
                tracing::debug!(keys = keys.len(), "JWKS refreshed");
                *self
                    .state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = (jwks, keys);
                Ok(())
            }
            Ok(Err(e)) => {
                pick.finish(Outcome::InstanceFailure);
                Err(e.context(format!("fetching {url}")))
            }
            Err(_) => {
                pick.finish(Outcome::InstanceFailure);
                anyhow::bail!("fetching {url}: timed out")
            }
        }
    }

    /// Keeps the cache fresh for the life of the process.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(cache) = weak.upgrade() else { return };
                let wait = match cache.refresh(true).await {
                    Ok(()) => every,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "JWKS refresh failed; keeping the cached keys");
                        Duration::from_secs(2).min(every)
                    }
                };
                drop(cache);
                tokio::time::sleep(wait).await;
            }
        });
    }
}

/// A service's check of its callers: a user's access token or a service token, against the
/// auth service's JWKS (refetched, at a bounded rate, when a token names a key not seen yet:
/// a rotation, or auth started after this service).
pub struct JwksVerifier {
    pub jwks: Arc<JwksCache>,
    pub revocations: Arc<crate::revocations::Revocations>,
    pub expect: platform_tokens::Expectations,
    pub clock: Arc<dyn platform_kernel::clock::Clock>,
}

impl JwksVerifier {
    /// For a service: the JWKS of the `auth` instances `registry` knows, kept fresh.
    pub fn for_service(
        registry: &Arc<dyn platform_discovery::ServiceRegistry>,
        expect: platform_tokens::Expectations,
    ) -> Self {
        let breaker = crate::ClientsConfig::default().defaults.breaker;
        let balancer = Arc::new(Balancer::new("auth", registry.watch("auth"), breaker));
        let jwks = Arc::new(JwksCache::new(balancer.clone(), Duration::from_secs(5)));
        jwks.spawn_refresher(Duration::from_secs(300));
        let clock: Arc<dyn platform_kernel::clock::Clock> =
            Arc::new(platform_kernel::clock::SystemClock);
        let revocations = Arc::new(crate::revocations::Revocations::new(
            balancer,
            Duration::from_millis(250),
            clock.clone(),
        ));
        revocations.spawn_follower();
        Self {
            jwks,
            revocations,
            expect,
            clock,
        }
    }
}

/// The caller a verified token names.
pub fn caller_of(claims: platform_tokens::AccessClaims) -> platform_kernel::caller::Caller {
    use platform_kernel::caller::{Caller, UserCaller};
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
    async fn verify(&self, token: &str) -> Result<platform_kernel::caller::Caller, String> {
        let now = self.clock.unix_seconds();
        let verify =
            || platform_tokens::verify_caller(token, |kid| self.jwks.key(kid), &self.expect, now);
        let claims = match verify() {
            Err(platform_tokens::TokenError::UnknownKey(_)) => {
                if let Err(e) = Box::pin(self.jwks.refresh(false)).await {
                    tracing::warn!(error = %format!("{e:#}"), "JWKS refetch failed");
                }
                verify()
            }
            other => other,
        }
        .map_err(|e| e.to_string())?;
        if claims.token_use == platform_tokens::ACCESS {
            self.revocations.sync_if_stale().await;
            if self.revocations.is_revoked(&claims.jti, &claims.sid) {
                return Err("token has been revoked".to_owned());
            }
        }
        Ok(caller_of(claims))
    }
}
