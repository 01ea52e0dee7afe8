//! The same GCRA, shared by every gateway replica through Redis: one Lua script per check
//! (atomic; Redis' own clock, so replicas' clocks do not matter). While Redis is not
//! reachable the gateway limits locally and says so in its log and metrics; it connects in
//! the background, so a Redis outage at start-up is no outage of the gateway.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

use crate::config::Limit;

const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return -1
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
    Rejected(Duration),
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
            prefix: format!("{prefix}gateway:rl:"),
            script: redis::Script::new(GCRA),
        })
    }

    pub async fn check(&self, key: &str, limit: Limit) -> Decision {
        let Some(mut conn) = self.conn.read().await.clone() else {
            return Decision::Unavailable;
        };
        let interval_ms = (1000 / u64::from(limit.rps.max(1))).max(1);
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(interval_ms).arg(limit.burst);
        let call = invocation.invoke_async::<i64>(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok(wait)) if wait < 0 => Decision::Allowed,
            Ok(Ok(wait)) => Decision::Rejected(Duration::from_millis(wait as u64)),
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
