//! The same GCRA, shared by every gateway replica through Redis: one Lua script per check
//! (atomic; Redis' own clock, so replicas' clocks do not matter). While Redis is not
//! reachable the gateway limits locally and says so in its log and metrics; it connects in
//! the background, so a Redis outage at start-up is no outage of the gateway.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

use crate::config::Limit;

/// Every key of a request in one call, all or nothing: a request one bucket refuses takes
/// nothing from the others. `ARGV` holds each key's interval and burst; the answer is
/// `{0, 0}` when allowed, or the (1-based) key that refused with the longest wait.
///
/// In microseconds (Redis' `TIME` gives them), so limits above 1000/s keep their rate: a
/// millisecond interval would round 300/s to 333/s and anything above 1000/s down to 1000/s.
/// Lua numbers are doubles, exact for microsecond timestamps for another two centuries; the
/// stored time is formatted whole (Redis would write a Lua number with 14 digits).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local tats, which, wait = {}, 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat + interval
  local allow_at = tats[i] - tolerance
  if now < allow_at and allow_at - now > wait then
    which, wait = i, allow_at - now
  end
end
if which > 0 then return {which, wait} end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
end
return {0, 0}
";

/// How long a check may take before the local limiter decides instead.
const CHECK_TIMEOUT: Duration = Duration::from_millis(100);

pub struct SharedLimiter {
    conn: Arc<RwLock<Option<ConnectionManager>>>,
    prefix: String,
    script: redis::Script,
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
        })
    }

    /// One round trip for all of a request's buckets (`keys`: name and limit).
    pub async fn check(&self, keys: &[(String, Limit)]) -> Decision {
        let Some(mut conn) = self.conn.read().await.clone() else {
            return Decision::Unavailable;
        };
        let mut invocation = self.script.prepare_invoke();
        for (key, limit) in keys {
            let interval_us = (1_000_000 / u64::from(limit.rps.max(1))).max(1);
            invocation
                .key(format!("{}{key}", self.prefix))
                .arg(interval_us)
                .arg(limit.burst);
        }
        let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok((0, _))) => Decision::Allowed,
            Ok(Ok((which, wait))) => Decision::Rejected(
                usize::try_from(which - 1).unwrap_or(0),
                Duration::from_micros(wait.unsigned_abs()),
            ),
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
}

#[cfg(test)]
pub(crate) mod tests {
    //! Against a real Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379).
    use super::*;

    /// Connected to Redis, its buckets under a prefix of its own.
    pub(crate) async fn limiter() -> SharedLimiter {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!(
            "test:{}:{}:",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let limiter = SharedLimiter::connect(&url, &prefix).expect("url");
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
}
