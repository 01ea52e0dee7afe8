//! The revocations a verifier must honour (the gateway's, and every service's): followed from
//! auth's feed (`GET /revocations?after=`, see `platform_tokens::revocation`) every
//! `interval` (250 ms by default, so a logout is refused everywhere within a second), and on
//! the request path when the last read is older than two intervals (a Lambda instance, frozen
//! between invocations, has no background task). Expired entries are dropped as they pass.
//! A generation number, bumped by every change, lets a cache of verified tokens skip the
//! lookup while nothing changed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use platform_kernel::clock::Clock;
use platform_tokens::revocation::{PAGE, PATH, RevocationPage, session_key, token_key};
use tokio::time::Instant;

use crate::balancer::Balancer;

#[derive(Default)]
struct State {
    /// Key → until (Unix seconds).
    revoked: HashMap<String, i64, foldhash::fast::RandomState>,
    /// The last sequence number applied.
    cursor: i64,
}

pub struct Revocations {
    balancer: Arc<Balancer>,
    http: Client<crate::https::Connector, Empty<Bytes>>,
    state: RwLock<State>,
    generation: AtomicU64,
    synced: std::sync::Mutex<Option<Instant>>,
    /// When the request path last tried to read the feed.
    attempted: std::sync::Mutex<Option<Instant>>,
    reading: tokio::sync::Mutex<()>,
    /// Notified to read the feed now (an event on the bus said it grew).
    wake: Arc<tokio::sync::Notify>,
    interval: Duration,
    clock: Arc<dyn Clock>,
}

impl Revocations {
    pub fn new(balancer: Arc<Balancer>, interval: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            balancer,
            http: Client::builder(TokioExecutor::new()).build(crate::https::connector(None)),
            state: RwLock::new(State::default()),
            generation: AtomicU64::new(0),
            synced: std::sync::Mutex::new(None),
            attempted: std::sync::Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            wake: Arc::new(tokio::sync::Notify::new()),
            interval,
            clock,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bumped whenever the set of revocations changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the access token `jti`, or its session `sid`, was revoked.
    pub fn is_revoked(&self, jti: &str, sid: &str) -> bool {
        let now = self.clock.unix_seconds();
        let state = self.read();
        let live = |key: &str| state.revoked.get(key).is_some_and(|until| *until > now);
        (!state.revoked.is_empty())
            && (live(&token_key(jti)) || (!sid.is_empty() && live(&session_key(sid))))
    }

    /// Reads what is new in the feed, page after page.
    pub async fn sync(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.reading.lock().await;
        loop {
            let cursor = self.read().cursor;
            let page = self.fetch(cursor).await?;
            let full = page.revocations.len() >= PAGE as usize;
            let now = self.clock.unix_seconds();
            let changed = {
                let mut state = self
                    .state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let before = state.revoked.len();
                state.revoked.retain(|_, until| *until > now);
                let mut changed = state.revoked.len() != before;
                for entry in page.revocations {
                    state.cursor = state.cursor.max(entry.seq);
                    if entry.until > now {
                        state.revoked.insert(entry.key, entry.until);
                        changed = true;
                    }
                }
                changed
            };
            if changed {
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            if !full {
                break;
            }
        }
        *self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }

    /// Where no follower runs (or it fell behind), the request path reads the feed first. At
    /// most one such read per interval, whatever its outcome: while auth cannot be reached,
    /// calls go on with the revocations known (failing open; refusing every call would make
    /// auth a dependency of every request).
    pub async fn sync_if_stale(&self) {
        let stale = {
            let mut attempted = self
                .attempted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let synced_long_ago = self
                .synced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none_or(|t| t.elapsed() > self.interval * 2);
            let tried_lately = attempted.is_some_and(|t| t.elapsed() < self.interval);
            if synced_long_ago && !tried_lately {
                *attempted = Some(Instant::now());
                true
            } else {
                false
            }
        };
        if stale && let Err(e) = self.sync().await {
            tracing::warn!(error = %format!("{e:#}"), "reading the revocation feed failed");
        }
    }

    async fn fetch(&self, after: i64) -> anyhow::Result<RevocationPage> {
        crate::fetch::get_json(
            &self.balancer,
            &self.http,
            &format!("{PATH}?after={after}"),
            Duration::from_secs(2),
        )
        .await
    }

    /// What to notify to have the follower read the feed at once (see
    /// `platform_follow::spawn_follower` and [`platform_tokens::revocation::EVENTS`]).
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Follows the feed every interval, and whenever woken, for the life of the process.
    pub fn spawn_follower(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = self.interval;
        let wake = self.wake.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failures = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = wake.notified() => {}
                }
                let Some(revocations) = weak.upgrade() else {
                    return;
                };
                match revocations.sync().await {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        // Calls go on with the revocations known: say so, every ~10 s.
                        if failures.is_multiple_of(40) {
                            tracing::warn!(
                                error = %format!("{e:#}"),
                                failures,
                                "reading the revocation feed failed; revocations since are not seen"
                            );
                        }
                        failures += 1;
                    }
                }
            }
        });
    }
}
