//! One service's calls: pick a healthy instance (power of two choices on in-flight requests
//! × EWMA latency, skipping instances whose circuit breaker is open), make the attempt with
//! the caller's remaining deadline, and retry when it is safe and the budget allows.
//!
//! Why not tower's `Balance`: it owns the endpoint services and hides which one served a call,
//! and the per-instance breaker and "retry on another instance" need exactly that. The parts
//! with real subtlety come from crates: `failsafe` (breaker), `backon` (backoff with jitter),
//! `tower::retry::budget::TpsBudget` (retry budget).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::BackoffBuilder as _;
use failsafe::StateMachine;
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;
use platform_discovery::{Instance, InstanceSet};
use platform_kernel::{ErrorCode, deadline};
use rand::Rng as _;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::config::ServiceClientConfig;
use crate::error::{AttemptError, ClientError};
use crate::method::Method;
use crate::transport::{Message, Transport};

type Breaker = StateMachine<ConsecutiveFailures<Constant>, ()>;

/// Per-instance load and health, kept while the instance is in the set.
struct InstanceState {
    in_flight: AtomicUsize,
    /// Exponentially weighted moving average of latency, in microseconds.
    ewma_us: AtomicU64,
    breaker: Breaker,
}

impl InstanceState {
    fn load(&self) -> u64 {
        (self.in_flight.load(Ordering::Relaxed) as u64 + 1)
            * self.ewma_us.load(Ordering::Relaxed).max(1)
    }

    fn observe(&self, latency: Duration) {
        let sample = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        // α = 0.25: recent calls count, one slow call does not dominate.
        let _ = self
            .ewma_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old * 3 + sample) / 4
                })
            });
    }
}

/// Counters a test or an operator can read.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub budget_exhausted: AtomicU64,
}

#[derive(Clone)]
pub struct ServiceChannel {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    instances: watch::Receiver<InstanceSet>,
    transport: Transport,
    states: Mutex<HashMap<String, Arc<InstanceState>>>,
    budget: TpsBudget,
    config: ServiceClientConfig,
    stats: ChannelStats,
}

impl ServiceChannel {
    pub(crate) fn new(
        service: &str,
        instances: watch::Receiver<InstanceSet>,
        config: ServiceClientConfig,
    ) -> Self {
        let budget = TpsBudget::new(
            Duration::from_secs(10),
            config.retry.budget_min_per_sec,
            config.retry.budget_percent,
        );
        Self {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                instances,
                transport: Transport::new(&config),
                states: Mutex::new(HashMap::new()),
                budget,
                config,
                stats: ChannelStats::default(),
            }),
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn stats(&self) -> &ChannelStats {
        &self.inner.stats
    }

    /// A unary call with balancing, breakers, retries and the deadline.
    pub async fn unary<Req: Message, Resp: Message>(
        &self,
        method: &Method,
        request: Req,
    ) -> Result<Resp, ClientError> {
        let inner = &self.inner;
        let own = Instant::now() + Duration::from_millis(inner.config.timeout_ms);
        let deadline = deadline::current().map_or(own, |d| d.min(own));
        inner.budget.deposit();
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(inner.config.retry.backoff_min_ms))
            .with_max_delay(Duration::from_millis(inner.config.retry.backoff_max_ms))
            .with_jitter()
            .without_max_times()
            .build();
        let mut tried: Vec<String> = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClientError::new(
                    ErrorCode::DeadlineExceeded,
                    format!("{}: deadline exceeded", method.path),
                ));
            }
            let (instance, state) = self.pick(&tried, deadline).await?;
            inner.stats.attempts.fetch_add(1, Ordering::Relaxed);
            state.in_flight.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                remaining,
                inner.transport.unary::<Req, Resp>(
                    &instance.base_url,
                    method,
                    request.clone(),
                    remaining,
                ),
            )
            .await
            .unwrap_or_else(|_| {
                Err(AttemptError::sent(
                    ErrorCode::DeadlineExceeded,
                    format!("{}: deadline exceeded", method.path),
                ))
            });
            state.in_flight.fetch_sub(1, Ordering::Relaxed);
            state.observe(started.elapsed());
            let mut failure = match outcome {
                Ok(response) => {
                    state.breaker.on_success();
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            // tonic reports its own enforcement of grpc-timeout as `cancelled`.
            if failure.error.code == ErrorCode::Canceled && Instant::now() >= deadline {
                failure.error.code = ErrorCode::DeadlineExceeded;
            }
            // Only failures of the instance count against it, not answers like not_found.
            if !failure.sent || failure.error.code == ErrorCode::Unavailable {
                state.breaker.on_error();
            } else {
                state.breaker.on_success();
            }
            let safe = !failure.sent
                || (method.idempotent && failure.error.code == ErrorCode::Unavailable);
            if !safe || attempt >= inner.config.retry.max_attempts {
                return Err(failure.error);
            }
            if !inner.budget.withdraw() {
                inner.stats.budget_exhausted.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(service = %inner.service, "retry budget exhausted");
                return Err(failure.error);
            }
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tried.push(instance.id.clone());
            let delay = delays.next().unwrap_or(Duration::from_millis(100));
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(delay.min(left)).await;
        }
    }

    /// The current instances, waiting (until the deadline) for discovery's first answer.
    async fn instances(&self, deadline: Instant) -> Result<Arc<Vec<Instance>>, ClientError> {
        let mut rx = self.inner.instances.clone();
        let waited = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(set)) => Ok(set.clone().unwrap_or_default()),
            _ => Err(ClientError::new(
                ErrorCode::Unavailable,
                format!("{}: discovery has not answered yet", self.inner.service),
            )),
        }
    }

    /// Power of two choices among instances not tried yet (all, if every one was tried)
    /// whose breaker lets a call through.
    async fn pick(
        &self,
        tried: &[String],
        deadline: Instant,
    ) -> Result<(Instance, Arc<InstanceState>), ClientError> {
        let set = self.instances(deadline).await?;
        if set.is_empty() {
            return Err(ClientError::new(
                ErrorCode::Unavailable,
                format!("no healthy instance of {}", self.inner.service),
            ));
        }
        let states = self.states_for(&set);
        let fresh: Vec<usize> = (0..set.len())
            .filter(|i| !tried.contains(&set[*i].id))
            .collect();
        let pool = if fresh.is_empty() {
            (0..set.len()).collect()
        } else {
            fresh
        };
        let mut rng = rand::rng();
        let choose = |a: usize, b: usize| {
            if states[a].load() <= states[b].load() {
                a
            } else {
                b
            }
        };
        let mut candidates = pool;
        while !candidates.is_empty() {
            let i = candidates[rng.random_range(0..candidates.len())];
            let j = candidates[rng.random_range(0..candidates.len())];
            let pick = choose(i, j);
            if states[pick].breaker.is_call_permitted() {
                return Ok((set[pick].clone(), states[pick].clone()));
            }
            candidates.retain(|c| *c != pick);
        }
        Err(ClientError::new(
            ErrorCode::Unavailable,
            format!(
                "every instance of {} has an open circuit breaker",
                self.inner.service
            ),
        ))
    }

    fn states_for(&self, set: &[Instance]) -> Vec<Arc<InstanceState>> {
        let inner = &self.inner;
        let mut states = inner
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if states.len() != set.len() || set.iter().any(|i| !states.contains_key(&i.id)) {
            states.retain(|id, _| set.iter().any(|i| &i.id == id));
            let live: Vec<String> = set.iter().map(|i| i.base_url.clone()).collect();
            inner.transport.retain(&live);
        }
        set.iter()
            .map(|instance| {
                states
                    .entry(instance.id.clone())
                    .or_insert_with(|| Arc::new(new_state(&inner.config)))
                    .clone()
            })
            .collect()
    }
}

fn new_state(config: &ServiceClientConfig) -> InstanceState {
    let policy = failsafe::failure_policy::consecutive_failures(
        config.breaker.consecutive_failures.max(1),
        failsafe::backoff::constant(Duration::from_millis(config.breaker.open_ms)),
    );
    InstanceState {
        in_flight: AtomicUsize::new(0),
        ewma_us: AtomicU64::new(0),
        breaker: failsafe::Config::new().failure_policy(policy).build(),
    }
}
