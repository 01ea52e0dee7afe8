//! How every service reaches Redis. Shared state in Redis is an optimisation of what each
//! service does without it, so the connection is made lazily (a service starts while Redis
//! is away), a command fails fast while Redis is away (its caller falls back at once rather
//! than holding a request), and it reconnects by itself when Redis is back.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a connection attempt may take before the command fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a command may wait for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// A connection manager for `url`, not yet connected.
pub fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        // One quick retry per reconnection; the next command starts another.
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(100));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))
}
