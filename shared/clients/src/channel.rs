//! One service's calls: pick an instance ([`Balancer`]), make the attempt with the caller's
//! remaining deadline, and retry when it is safe and the [`RetryPolicy`] allows (the policy
//! the gateway uses too). The parts with real subtlety come from crates: `failsafe` (breaker,
//! in the balancer), `backon` (backoff with jitter), `tower::retry::budget::TpsBudget`
//! (retry budget).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use platform_discovery::InstanceSet;
use platform_kernel::{ErrorCode, deadline};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::balancer::{Balancer, Outcome};
use crate::config::ServiceClientConfig;
use crate::credentials::CallCredentials;
use crate::error::{AttemptError, ClientError};
use crate::method::Method;
use crate::retry::{Refused, RetryPolicy};
use crate::transport::{Message, Transport};

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
    balancer: Balancer,
    credentials: Option<Arc<dyn CallCredentials>>,
    transport: Transport,
    pool_generation: AtomicU64,
    retry: RetryPolicy,
    config: ServiceClientConfig,
    stats: ChannelStats,
}

impl ServiceChannel {
    pub(crate) fn new(
        service: &str,
        instances: watch::Receiver<InstanceSet>,
        config: ServiceClientConfig,
        credentials: Option<Arc<dyn CallCredentials>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                balancer: Balancer::new(service, instances, config.breaker.clone()),
                credentials,
                transport: Transport::new(&config),
                pool_generation: AtomicU64::new(0),
                retry: RetryPolicy::new(&config.retry),
                config,
                stats: ChannelStats::default(),
            }),
        }
    }

    pub fn service(&self) -> &str {
        self.inner.balancer.service()
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
        let authorization = match &inner.credentials {
            Some(credentials) => Some(credentials.authorization().await?),
            None => None,
        };
        let mut retries = inner.retry.begin(deadline);
        let mut tried: Vec<String> = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClientError::new(
                    ErrorCode::DeadlineExceeded,
                    format!("{}: deadline exceeded", method.path),
                ));
            }
            let pick = inner.balancer.pick(&tried, deadline).await?;
            self.drop_departed_connections();
            inner.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let base_url = pick.instance().base_url.clone();
            let outcome = tokio::time::timeout(
                remaining,
                inner.transport.unary::<Req, Resp>(
                    &base_url,
                    method,
                    request.clone(),
                    remaining,
                    authorization.as_ref(),
                ),
            )
            .await
            .unwrap_or_else(|_| {
                Err(AttemptError::sent(
                    ErrorCode::DeadlineExceeded,
                    format!("{}: deadline exceeded", method.path),
                ))
            });
            let mut failure = match outcome {
                Ok(response) => {
                    pick.finish(Outcome::Success);
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            // tonic reports its own enforcement of grpc-timeout as a cancelled stream.
            if matches!(
                failure.error.code,
                ErrorCode::Canceled | ErrorCode::Unavailable
            ) && failure.sent
                && Instant::now() >= deadline
            {
                failure.error.code = ErrorCode::DeadlineExceeded;
            }
            // Only failures of the instance count against it, not answers like not_found.
            let instance_failed = !failure.sent || failure.error.code == ErrorCode::Unavailable;
            let instance_id = pick.instance().id.clone();
            pick.finish(if instance_failed {
                Outcome::InstanceFailure
            } else {
                Outcome::Answered
            });
            let safe = !failure.sent
                || (method.idempotent && failure.error.code == ErrorCode::Unavailable);
            if !safe {
                return Err(failure.error);
            }
            match retries.next().await {
                Ok(()) => {}
                Err(Refused::Budget) => {
                    inner.stats.budget_exhausted.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(service = %self.service(), "retry budget exhausted");
                    return Err(failure.error);
                }
                Err(Refused::Attempts) => return Err(failure.error),
                Err(Refused::Deadline) => {
                    return Err(ClientError::new(
                        ErrorCode::DeadlineExceeded,
                        format!("{}: deadline exceeded", method.path),
                    ));
                }
            }
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tried.push(instance_id);
        }
    }

    fn drop_departed_connections(&self) {
        let inner = &self.inner;
        let now = inner.balancer.generation();
        if inner.pool_generation.swap(now, Ordering::Relaxed) != now {
            inner.transport.retain(&inner.balancer.live_urls());
        }
    }
}
