//! The same GCRA, shared by every gateway replica through Redis: one Lua script per check
//! (atomic; Redis' own clock, so replicas' clocks do not matter). While Redis is not
//! reachable the gateway limits locally and says so in its log and metrics; it connects in
//! the background, so a Redis outage at start-up is no outage of the gateway.
//!
//! A replica takes a few calls' worth at once where the limit is large enough (a lease: at
//! most an eighth of the burst and a tenth of a second's rate, never more than 64) and
//! spends them without asking Redis again. What it takes counts against the bucket at once,
//! so a lease never lets a client go faster than the limit; a client that moves to another
//! replica loses at most what the first still holds. Small limits, such as Login's, are
//! asked for call by call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

use crate::config::Limit;

/// Every key of a request in one call, all or nothing: a request one bucket refuses takes
/// nothing from the others. `ARGV` holds each key's interval, burst and how many calls' worth
/// to take (as many of them as the bucket has, at least one). The answer is `{0, 0, taken...}`
/// when allowed, or `{key, wait}`: the (1-based) key that refused with the longest wait.
///
/// In microseconds (Redis' `TIME` gives them), so limits above 1000/s keep their rate: a
/// millisecond interval would round 300/s to 333/s and anything above 1000/s down to 1000/s.
/// Lua numbers are doubles, exact for microsecond timestamps for another two centuries; the
/// stored time is formatted whole (Redis would write a Lua number with 14 digits).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local tats, taken, which, wait = {}, {}, 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = interval * tonumber(ARGV[3 * i - 1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local free = math.floor((now + tolerance - tat) / interval)
  if free < 1 then
    local allow_at = tat + interval - tolerance
    if allow_at - now > wait then which, wait = i, allow_at - now end
  else
    taken[i] = math.min(free, tonumber(ARGV[3 * i]))
    tats[i] = tat + taken[i] * interval
  end
end
if which > 0 then return {which, wait} end
local answer = {0, 0}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
  answer[i + 2] = taken[i]
end
return answer
";

/// The most calls' worth a replica takes at once.
const LEASE_MAX: u32 = 64;
/// Leases unspent for this long are forgotten (bounded memory under many clients).
const LEASE_IDLE: Duration = Duration::from_secs(10);

/// How many calls' worth to take from Redis at once under `limit`.
fn lease_size(limit: Limit) -> u32 {
    (limit.burst / 8).min(limit.rps / 10).clamp(1, LEASE_MAX)
}

/// Calls' worth already taken from a bucket, not yet spent.
struct Lease {
    left: u32,
    at: Instant,
}

/// How long a check may take before the local limiter decides instead.
const CHECK_TIMEOUT: Duration = Duration::from_millis(100);

pub struct SharedLimiter {
    conn: Arc<RwLock<Option<ConnectionManager>>>,
    prefix: String,
    script: redis::Script,
    leases: DashMap<String, Lease, foldhash::fast::RandomState>,
}

/// A shared decision, or why there is none.
pub enum Decision {
    Allowed,
    /// Which of the keys refused (its index), and for how long.
    Rejected(usize, Duration),
    /// Redis did not answer: decide locally.
    Unavailable,
}

impl SharedLimiter {
    /// Starts connecting in the background.
    pub fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let conn = Arc::new(RwLock::new(None));
        let slot = conn.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match ConnectionManager::new(client.clone()).await {
                    Ok(manager) => {
                        *slot.write().await = Some(manager);
                        tracing::info!("rate limits shared through Redis");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Redis unreachable; limiting locally meanwhile");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                }
            }
        });
        Ok(Self {
            conn,
            // "us": the buckets hold microseconds. Replicas of an older gateway, which kept
            // milliseconds under `gateway:rl:`, keep to their own buckets during an upgrade.
            prefix: format!("{prefix}gateway:rl:us:"),
            script: redis::Script::new(GCRA),
            leases: DashMap::default(),
        })
    }

    /// All of a request's buckets (`keys`: name and limit): from what this replica holds
    /// when it holds some of each, otherwise in one round trip to Redis.
    pub async fn check(&self, keys: &[(String, Limit)]) -> Decision {
        if self.spend_leases(keys) {
            return Decision::Allowed;
        }
        let Some(mut conn) = self.conn.read().await.clone() else {
            return Decision::Unavailable;
        };
        let mut invocation = self.script.prepare_invoke();
        for (key, limit) in keys {
            let interval_us = (1_000_000 / u64::from(limit.rps.max(1))).max(1);
            invocation
                .key(format!("{}{key}", self.prefix))
                .arg(interval_us)
                .arg(limit.burst)
                .arg(lease_size(*limit));
        }
        let call = invocation.invoke_async::<Vec<i64>>(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok(answer)) => match answer.as_slice() {
                [0, _, taken @ ..] => {
                    self.keep_leases(keys, taken);
                    Decision::Allowed
                }
                [which, wait, ..] => Decision::Rejected(
                    usize::try_from(which - 1).unwrap_or(0),
                    Duration::from_micros(wait.unsigned_abs()),
                ),
                _ => {
                    tracing::warn!(
                        ?answer,
                        "unexpected rate-limit answer from Redis; limiting locally"
                    );
                    Decision::Unavailable
                }
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis rate-limit check failed; limiting locally");
                Decision::Unavailable
            }
            Err(_) => {
                tracing::warn!("Redis rate-limit check timed out; limiting locally");
                Decision::Unavailable
            }
        }
    }

    /// Spends one call's worth of each key's lease if every key has one; otherwise spends
    /// nothing.
    fn spend_leases(&self, keys: &[(String, Limit)]) -> bool {
        let mut spent = 0;
        for (key, _) in keys {
            match self.leases.get_mut(key) {
                Some(mut lease) if lease.left > 0 => lease.left -= 1,
                _ => break,
            }
            spent += 1;
        }
        if spent == keys.len() {
            return true;
        }
        for (key, _) in &keys[..spent] {
            if let Some(mut lease) = self.leases.get_mut(key) {
                lease.left += 1;
            }
        }
        false
    }

    /// Keeps what Redis granted beyond this call.
    fn keep_leases(&self, keys: &[(String, Limit)], taken: &[i64]) {
        let now = Instant::now();
        for ((key, _), &taken) in keys.iter().zip(taken) {
            let extra = u32::try_from(taken - 1).unwrap_or(0);
            if extra == 0 {
                continue;
            }
            let mut lease = self
                .leases
                .entry(key.clone())
                .or_insert(Lease { left: 0, at: now });
            lease.left = lease.left.saturating_add(extra);
            lease.at = now;
        }
    }

    /// Forgets leases nothing has renewed for a while.
    pub fn shrink(&self) {
        let now = Instant::now();
        self.leases
            .retain(|_, lease| now.duration_since(lease.at) < LEASE_IDLE);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Against a real Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379).
    use super::*;

    /// Connected to Redis, its buckets under a prefix of its own.
    pub(crate) async fn limiter() -> SharedLimiter {
        let prefix = format!(
            "test:{}:{}:",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        replica(&prefix).await
    }

    /// Connected to Redis, sharing the buckets under `prefix`.
    async fn replica(prefix: &str) -> SharedLimiter {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let limiter = SharedLimiter::connect(&url, prefix).expect("url");
        for _ in 0..100 {
            if limiter.conn.read().await.is_some() {
                return limiter;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no Redis at {url} (start it, or set TEST_REDIS_URL)");
    }

    /// Checks `key` until Redis refuses; returns the allowed count and the wait it gave.
    async fn until_rejected(limiter: &SharedLimiter, key: &str, limit: Limit) -> (u32, Duration) {
        for allowed in 0..1000 {
            match limiter.check(&[(key.to_owned(), limit)]).await {
                Decision::Allowed => {}
                Decision::Rejected(0, wait) => return (allowed, wait),
                Decision::Rejected(..) => panic!("the only key is the first"),
                Decision::Unavailable => panic!("Redis did not answer"),
            }
        }
        panic!("never rejected");
    }

    #[tokio::test]
    async fn the_burst_is_allowed_then_the_wait_is_one_interval_at_most() {
        let limiter = limiter().await;
        let limit = Limit { rps: 2, burst: 3 };
        let (allowed, wait) = until_rejected(&limiter, "slow", limit).await;
        assert_eq!(allowed, 3, "the burst");
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "next in under one 500 ms interval: {wait:?}"
        );
        assert!(matches!(
            limiter.check(&[("other".into(), limit)]).await,
            Decision::Allowed
        ));
    }

    #[tokio::test]
    async fn limits_above_a_thousand_a_second_keep_their_rate() {
        // 4000/s is a 250 µs interval; counted in milliseconds it would be 1 ms (1000/s).
        let limiter = limiter().await;
        let (allowed, wait) = until_rejected(
            &limiter,
            "fast",
            Limit {
                rps: 4000,
                burst: 1,
            },
        )
        .await;
        assert!(allowed >= 1);
        assert!(
            wait <= Duration::from_micros(250),
            "the next call within one 250 µs interval: {wait:?}"
        );
    }

    #[tokio::test]
    async fn a_request_one_bucket_refuses_takes_nothing_from_the_others() {
        let limiter = limiter().await;
        let tight = Limit { rps: 1, burst: 1 };
        let loose = Limit { rps: 1, burst: 2 };
        let both = [("ip".to_owned(), loose), ("user".to_owned(), tight)];
        assert!(matches!(limiter.check(&both).await, Decision::Allowed));
        for _ in 0..3 {
            match limiter.check(&both).await {
                Decision::Rejected(1, wait) => assert!(wait <= Duration::from_secs(1)),
                _ => panic!("the user's bucket (the second key) refuses"),
            }
        }
        // The refused calls took nothing from the IP's bucket: one of its two is left.
        let (allowed, _) = until_rejected(&limiter, "ip", loose).await;
        assert_eq!(allowed, 1);
    }

    #[test]
    fn leases_are_for_large_limits_only() {
        assert_eq!(lease_size(Limit { rps: 1, burst: 10 }), 1, "Login");
        assert_eq!(
            lease_size(Limit {
                rps: 50,
                burst: 100
            }),
            5,
            "the default"
        );
        assert_eq!(
            lease_size(Limit {
                rps: 1000,
                burst: 8
            }),
            1,
            "a small burst"
        );
        assert_eq!(
            lease_size(Limit {
                rps: 100_000_000,
                burst: 100_000_000
            }),
            LEASE_MAX
        );
    }

    #[tokio::test]
    async fn a_lease_counts_against_the_shared_bucket_when_taken() {
        let a = limiter().await;
        let b = replica(&a.prefix.replace("gateway:rl:us:", "")).await;
        // Two calls' worth per lease; a 50 ms interval, so nothing refills during the test.
        let limit = Limit { rps: 20, burst: 16 };
        let key = || [("user:1".to_owned(), limit)];
        assert!(matches!(a.check(&key()).await, Decision::Allowed));
        // a took two: b finds fourteen.
        let (allowed, _) = until_rejected(&b, "user:1", limit).await;
        assert_eq!(allowed, 14);
        // a spends what it holds without asking, then Redis refuses it too.
        assert!(matches!(a.check(&key()).await, Decision::Allowed));
        assert!(matches!(a.check(&key()).await, Decision::Rejected(0, _)));
    }
}
