//! The auth service's public keys, fetched from an auth instance and cached (the gateway's
//! and every service's; see `verifier` for how a service checks its callers with them). Refetched every
//! `jwks_refresh_secs`, and when a token names an unknown `kid` — at most once per
//! `unknown_kid_refetch_secs`, so garbage tokens cannot make the gateway hammer auth.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::balancer::Balancer;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::DecodingKey;
use platform_tokens::Jwks;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct JwksCache {
    balancer: Arc<Balancer>,
    http: Client<crate::https::Connector, Empty<Bytes>>,
    state: RwLock<(Jwks, BTreeMap<String, DecodingKey>)>,
    last_fetch: Mutex<Option<Instant>>,
    min_refetch: Duration,
}

impl JwksCache {
    pub fn new(balancer: Arc<Balancer>, min_refetch: Duration) -> Self {
        Self {
            balancer,
            http: Client::builder(TokioExecutor::new()).build(crate::https::connector(None)),
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
        let jwks: Jwks = crate::fetch::get_json(
            &self.balancer,
            &self.http,
            "/.well-known/jwks.json",
            Duration::from_secs(5),
        )
        .await?;
        let keys = jwks.decoding_keys();
        tracing::debug!(keys = keys.len(), "JWKS refreshed");
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (jwks, keys);
        Ok(())
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
