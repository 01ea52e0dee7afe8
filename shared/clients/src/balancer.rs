//! Choosing an instance: power of two choices on in-flight requests × EWMA latency, skipping
//! instances whose circuit breaker (`failsafe`, per instance) is open. Shared by the typed
//! service channels and the gateway's proxy.
//!
//! The two candidates are drawn independently (as Envoy does), so each instance keeps a
//! share of 1/n² of the picks however slow it looked; and its latency estimate fades with
//! the time since its last sample (halving every [`HALF_LIFE`], as Finagle's and Linkerd's
//! do), so an instance that was slow once competes again soon rather than after enough
//! lucky draws.
//!
//! Why not tower's `Balance`: it owns the endpoint services and hides which one served a call,
//! and the per-instance breaker and "retry on another instance" need exactly that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use failsafe::StateMachine;
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;
use platform_discovery::{Instance, InstanceSet};
use platform_kernel::ErrorCode;
use rand::Rng as _;

/// Up to this many instances, a first attempt picks without building candidate lists.
const FIRST_TRY_MAX: usize = 16;
/// How fast an instance's latency estimate fades while it takes no calls.
pub const HALF_LIFE: Duration = Duration::from_secs(10);
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::BreakerConfig;
use crate::error::ClientError;

type Breaker = StateMachine<ConsecutiveFailures<Constant>, ()>;

/// Per-instance load and health, kept while the instance is in the set.
struct InstanceState {
    in_flight: AtomicUsize,
    /// Exponentially weighted moving average of latency, in microseconds, as of its last
    /// sample.
    ewma_us: AtomicU64,
    /// When the last sample came, in microseconds since `born`.
    sampled_us: AtomicU64,
    born: Instant,
    breaker: Breaker,
}

impl InstanceState {
    fn new(config: &BreakerConfig) -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(
            config.consecutive_failures.max(1),
            failsafe::backoff::constant(Duration::from_millis(config.open_ms)),
        );
        Self {
            in_flight: AtomicUsize::new(0),
            ewma_us: AtomicU64::new(0),
            sampled_us: AtomicU64::new(0),
            born: Instant::now(),
            breaker: failsafe::Config::new().failure_policy(policy).build(),
        }
    }

    fn load(&self, now: Instant) -> f64 {
        (self.in_flight.load(Ordering::Relaxed) as f64 + 1.0) * self.estimate_us(now).max(1.0)
    }

    fn since_born_us(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.born)
            .as_micros()
            .min(u128::from(u64::MAX)) as u64
    }

    /// The latency estimate at `now`: the average, faded by the time since its last sample.
    fn estimate_us(&self, now: Instant) -> f64 {
        let ewma = self.ewma_us.load(Ordering::Relaxed) as f64;
        let idle_us = self
            .since_born_us(now)
            .saturating_sub(self.sampled_us.load(Ordering::Relaxed));
        if idle_us == 0 {
            return ewma;
        }
        ewma * (-(idle_us as f64) / HALF_LIFE.as_micros() as f64 * std::f64::consts::LN_2).exp()
    }

    fn observe(&self, latency: Duration, now: Instant) {
        let sample = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        let faded = self.estimate_us(now) as u64;
        // α = 0.25: recent calls count, one slow call does not dominate. (Concurrent samples
        // race benignly: one of them may be lost.)
        let next = if self.ewma_us.load(Ordering::Relaxed) == 0 {
            sample
        } else {
            (faded * 3 + sample) / 4
        };
        self.ewma_us.store(next, Ordering::Relaxed);
        self.sampled_us
            .store(self.since_born_us(now), Ordering::Relaxed);
    }
}

/// How an attempt on an instance ended, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The instance failed (unreachable, unavailable, broken connection).
    InstanceFailure,
    /// The instance answered; the answer was an error of the request (not_found …).
    Answered,
}

/// An instance set with each instance's state, in the same order: built when the set
/// changes, not on every pick.
struct Resolved {
    set: Arc<Vec<Instance>>,
    states: Vec<Arc<InstanceState>>,
}

/// An instance chosen for one attempt. Report how it went with [`Pick::finish`].
pub struct Pick {
    resolved: Arc<Resolved>,
    index: usize,
    started: Instant,
    finished: bool,
}

impl Pick {
    /// The chosen instance.
    pub fn instance(&self) -> &Instance {
        &self.resolved.set[self.index]
    }

    fn state(&self) -> &InstanceState {
        &self.resolved.states[self.index]
    }

    pub fn finish(self, outcome: Outcome) {
        self.finish_at(outcome, Instant::now());
    }

    fn finish_at(mut self, outcome: Outcome, now: Instant) {
        self.finished = true;
        let state = self.state();
        state.in_flight.fetch_sub(1, Ordering::Relaxed);
        state.observe(now.saturating_duration_since(self.started), now);
        match outcome {
            Outcome::InstanceFailure => state.breaker.on_error(),
            Outcome::Success | Outcome::Answered => state.breaker.on_success(),
        }
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        if !self.finished {
            // Abandoned (the caller's future was dropped): release the slot only.
            self.state().in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub struct Balancer {
    service: String,
    instances: watch::Receiver<InstanceSet>,
    states: Mutex<HashMap<String, Arc<InstanceState>, foldhash::fast::RandomState>>,
    /// The set last picked from, resolved.
    resolved: RwLock<Arc<Resolved>>,
    breaker: BreakerConfig,
    /// Bumped whenever instances leave, so pools can drop their connections.
    generation: AtomicU64,
}

impl Balancer {
    pub fn new(
        service: &str,
        instances: watch::Receiver<InstanceSet>,
        breaker: BreakerConfig,
    ) -> Self {
        Self {
            service: service.to_owned(),
            instances,
            states: Mutex::new(HashMap::default()),
            resolved: RwLock::new(Arc::new(Resolved {
                set: Arc::default(),
                states: Vec::new(),
            })),
            breaker,
            generation: AtomicU64::new(0),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The base URLs of the current instances.
    pub fn live_urls(&self) -> Vec<String> {
        self.instances
            .borrow()
            .as_ref()
            .map(|s| s.iter().map(|i| i.base_url.clone()).collect())
            .unwrap_or_default()
    }

    /// The current instances, resolved, waiting (until the deadline) for discovery's first
    /// answer.
    async fn instances(&self, deadline: Instant) -> Result<Arc<Resolved>, ClientError> {
        if let Some(set) = self.instances.borrow().as_ref() {
            return Ok(self.resolve(set));
        }
        let mut rx = self.instances.clone();
        // Boxed: only the first calls wait, and every call's future would carry the size.
        let waited = Box::pin(tokio::time::timeout_at(
            deadline,
            rx.wait_for(Option::is_some),
        ))
        .await;
        match waited {
            Ok(Ok(set)) => Ok(self.resolve(&set.clone().unwrap_or_default())),
            _ => Err(ClientError::new(
                ErrorCode::Unavailable,
                format!("{}: discovery has not answered yet", self.service),
            )),
        }
    }

    /// `set` with its instances' states: the last one built while the set is unchanged.
    fn resolve(&self, set: &Arc<Vec<Instance>>) -> Arc<Resolved> {
        {
            let resolved = self.resolved.read().unwrap_or_else(PoisonError::into_inner);
            if Arc::ptr_eq(&resolved.set, set) {
                return resolved.clone();
            }
        }
        let resolved = Arc::new(Resolved {
            set: set.clone(),
            states: self.states_for(set),
        });
        *self
            .resolved
            .write()
            .unwrap_or_else(PoisonError::into_inner) = resolved.clone();
        resolved
    }

    /// Power of two choices among instances not tried yet (all, if every one was tried)
    /// whose breaker lets a call through.
    pub async fn pick(&self, tried: &[String], deadline: Instant) -> Result<Pick, ClientError> {
        self.pick_at(tried, deadline, Instant::now()).await
    }

    /// [`Self::pick`] with the caller's reading of the clock, taken just before (the start
    /// of the call's latency, as [`Pick::finish`] measures it).
    pub async fn pick_at(
        &self,
        tried: &[String],
        deadline: Instant,
        now: Instant,
    ) -> Result<Pick, ClientError> {
        let resolved = self.instances(deadline).await?;
        let (set, states) = (&resolved.set, &resolved.states);
        if set.is_empty() {
            return Err(ClientError::new(
                ErrorCode::Unavailable,
                format!("no healthy instance of {}", self.service),
            ));
        }
        let chosen = |pick: usize| {
            states[pick].breaker.is_call_permitted().then(|| {
                states[pick].in_flight.fetch_add(1, Ordering::Relaxed);
                Pick {
                    resolved: resolved.clone(),
                    index: pick,
                    started: now,
                    finished: false,
                }
            })
        };
        let two_choices = |candidates: &[usize]| {
            if let [only] = candidates {
                return *only;
            }
            let mut rng = rand::rng();
            let i = candidates[rng.random_range(0..candidates.len())];
            let j = candidates[rng.random_range(0..candidates.len())];
            if states[i].load(now) <= states[j].load(now) {
                i
            } else {
                j
            }
        };
        if tried.is_empty() && set.len() <= FIRST_TRY_MAX {
            // The usual case, without building candidate lists: every instance may be chosen.
            let all: [usize; FIRST_TRY_MAX] = std::array::from_fn(|i| i);
            let pick = two_choices(&all[..set.len()]);
            if let Some(pick) = chosen(pick) {
                return Ok(pick);
            }
        }
        let fresh: Vec<usize> = (0..set.len())
            .filter(|i| !tried.contains(&set[*i].id))
            .collect();
        let mut candidates = if fresh.is_empty() {
            (0..set.len()).collect()
        } else {
            fresh
        };
        while !candidates.is_empty() {
            let pick = two_choices(&candidates);
            if let Some(pick) = chosen(pick) {
                return Ok(pick);
            }
            candidates.retain(|c| *c != pick);
        }
        Err(ClientError::new(
            ErrorCode::Unavailable,
            format!(
                "every instance of {} has an open circuit breaker",
                self.service
            ),
        ))
    }

    fn states_for(&self, set: &[Instance]) -> Vec<Arc<InstanceState>> {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if states.keys().any(|id| !set.iter().any(|i| &i.id == id)) {
            states.retain(|id, _| set.iter().any(|i| &i.id == id));
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        set.iter()
            .map(|instance| match states.get(&instance.id) {
                Some(state) => state.clone(),
                None => states
                    .entry(instance.id.clone())
                    .or_insert_with(|| Arc::new(InstanceState::new(&self.breaker)))
                    .clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
