//! The same GCRA, shared by every gateway replica through Redis: one Lua script per check
//! (atomic; Redis' own clock, so replicas' clocks do not matter). While Redis is not
//! reachable the gateway limits locally and says so in its log and metrics; it connects in
//! the background, so a Redis outage at start-up is no outage of the gateway.
//!
//! A replica takes a few calls' worth at once where the limit is large enough (a lease: at
//! most an eighth of the burst and a tenth of a second's rate, never more than 64) and
//! spends them within a tenth of a second without asking Redis again; a key it holds calls
//! for is not asked for more. What a lease takes counts against the shared bucket at once,
//! and is spent at most `LEASE_WINDOW` later, so over any stretch of time a client gets at most
//! its limit plus a tenth of a second's rate, however many replicas serve it; a client that
//! moves to another replica loses at most what the first still holds. Small limits, such as
//! Login's, are asked for call by call.
//!
//! Every key of a request goes in one script call, so the keys must share a node: a single
//! Redis (5 or later) or a primary with replicas, not Redis Cluster.

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

/// How long a check may take before the local limiter decides instead.
const CHECK_TIMEOUT: Duration = Duration::from_millis(100);

/// The most calls' worth a replica takes at once.
const LEASE_MAX: u32 = 64;
/// How long a lease may be spent, and how much of a limit's rate one lease may hold. A call
/// spent from a lease was granted by Redis at most this long before, so over any stretch of
/// time every replica together spends at most the limit plus this much of its rate.
const LEASE_WINDOW: Duration = Duration::from_millis(100);
/// A request's keys that can be spent from leases (a request has three at most: route, IP,
/// user); any further ones are always asked of Redis.
const LEASED_KEYS: usize = 4;

/// How many calls' worth to take from Redis at once under `limit`: at most an eighth of its
/// burst and `window`'s worth of its rate.
fn lease_size(limit: Limit, window: Duration) -> u32 {
    let in_window = u64::from(limit.rps) * window.as_millis() as u64 / 1000;
    (limit.burst / 8)
        .min(u32::try_from(in_window).unwrap_or(u32::MAX))
        .clamp(1, LEASE_MAX)
}

/// Calls' worth already taken from a bucket, not yet spent; `at`: when the oldest of them
/// was asked for.
struct Lease {
    left: u32,
    at: Instant,
}

pub struct SharedLimiter {
    conn: Arc<RwLock<Option<ConnectionManager>>>,
    prefix: String,
    script: redis::Script,
    leases: DashMap<String, Lease, foldhash::fast::RandomState>,
    lease_window: Duration,
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
            lease_window: LEASE_WINDOW,
        })
    }

    /// All of a request's buckets (`keys`: name and limit): what this replica holds leases
    /// for is spent here, the rest is asked of Redis in one round trip. Nothing is spent
    /// unless every key allows the call.
    pub async fn check(&self, keys: &[(String, Limit)]) -> Decision {
        let now = Instant::now();
        // For each key spent from a lease, that lease's `at` (to give the call back to it).
        let mut held = [None; LEASED_KEYS];
        for ((key, _), held) in keys.iter().zip(&mut held) {
            *held = self.take_leased(key, now);
        }
        let asked: Vec<usize> = (0..keys.len())
            .filter(|&i| held.get(i).is_none_or(Option::is_none))
            .collect();
        if asked.is_empty() {
            return Decision::Allowed;
        }
        let decision = self.ask(keys, &asked, now).await;
        if !matches!(decision, Decision::Allowed) {
            for ((key, _), at) in keys.iter().zip(held) {
                if let Some(at) = at {
                    self.give_back(key, at);
                }
            }
        }
        decision
    }

    /// Asks Redis for the keys at the `asked` indices.
    async fn ask(&self, keys: &[(String, Limit)], asked: &[usize], now: Instant) -> Decision {
        let Some(mut conn) = self.conn.read().await.clone() else {
            return Decision::Unavailable;
        };
        let mut invocation = self.script.prepare_invoke();
        for &i in asked {
            let (key, limit) = &keys[i];
            // Rounded up: never a shorter interval (a faster rate) than the limit's.
            let interval_us = 1_000_000u64.div_ceil(u64::from(limit.rps.max(1)));
            invocation
                .key(format!("{}{key}", self.prefix))
                .arg(interval_us)
                .arg(limit.burst)
                .arg(lease_size(*limit, self.lease_window));
        }
        let call = invocation.invoke_async::<Vec<i64>>(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok(answer)) => match answer.as_slice() {
                [0, _, taken @ ..] => {
                    for (&i, &taken) in asked.iter().zip(taken) {
                        self.keep(&keys[i].0, taken, now);
                    }
                    Decision::Allowed
                }
                [which, wait, ..] => Decision::Rejected(
                    usize::try_from(which - 1)
                        .ok()
                        .and_then(|n| asked.get(n).copied())
                        .unwrap_or(0),
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

    /// One call's worth of `key`'s lease, if it has one still to be spent: the lease's `at`.
    fn take_leased(&self, key: &str, now: Instant) -> Option<Instant> {
        let mut lease = self.leases.get_mut(key)?;
        if lease.left == 0 || !self.live(&lease, now) {
            return None;
        }
        lease.left -= 1;
        Some(lease.at)
    }

    /// Gives a call taken from a lease back for a request refused after all, unless the
    /// lease has been replaced meanwhile (the call then goes unspent).
    fn give_back(&self, key: &str, at: Instant) {
        if let Some(mut lease) = self.leases.get_mut(key)
            && lease.at == at
        {
            lease.left += 1;
        }
    }

    fn live(&self, lease: &Lease, now: Instant) -> bool {
        now.saturating_duration_since(lease.at) < self.lease_window
    }

    /// Keeps what Redis granted beyond this call, asked for at `asked_at`. Requests that
    /// found the lease empty at the same moment each bring some back; it is all kept, and
    /// all of it expires with the oldest of it.
    fn keep(&self, key: &str, taken: i64, asked_at: Instant) {
        let extra = u32::try_from(taken - 1).unwrap_or(0);
        if extra == 0 {
            return;
        }
        let mut lease = self.leases.entry(key.to_owned()).or_insert(Lease {
            left: 0,
            at: asked_at,
        });
        if self.live(&lease, asked_at) {
            lease.left = lease.left.saturating_add(extra);
            lease.at = lease.at.min(asked_at);
        } else {
            *lease = Lease {
                left: extra,
                at: asked_at,
            };
        }
    }

    /// Forgets leases too old to spend.
    pub fn shrink(&self) {
        let now = Instant::now();
        self.leases.retain(|_, lease| self.live(lease, now));
        self.leases.shrink_to_fit();
    }
}

#[cfg(test)]
pub(crate) mod tests;
