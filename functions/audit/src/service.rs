//! The audit use cases, transport-free: Record (services only), Query and VerifyChain
//! (`audit.logs.read`).

mod appender;
mod record;
#[cfg(test)]
mod tests;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use platform_clients::permissions::audit as perm;
use platform_kernel::caller::Caller;

pub use appender::Appender;
pub use record::Page;
pub use verify::ChainCheck;

use crate::error::{AuditError, Result};
use crate::ports::{AuditStore, Clock, Permissions};

#[derive(Debug, Clone)]
pub struct Settings {
    /// The most records one append transaction takes.
    pub max_batch: usize,
    /// Records waiting to be stored before Record answers `unavailable`.
    pub queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_batch: 500,
            queue: 10_000,
        }
    }
}

pub struct Ports {
    pub store: Arc<dyn AuditStore>,
    pub permissions: Arc<dyn Permissions>,
    pub clock: Arc<dyn Clock>,
}

pub struct AuditService {
    store: Arc<dyn AuditStore>,
    permissions: Arc<dyn Permissions>,
    clock: Arc<dyn Clock>,
    appender: Appender,
}

/// Services that read the log besides holders of `audit.logs.read`: the operator's tool.
const READERS: &[&str] = &["platformctl"];

/// How long Record waits for its batch to be stored.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

impl AuditService {
    /// Starts the appender (needs a Tokio runtime).
    pub fn new(ports: Ports, settings: &Settings) -> Self {
        let appender = Appender::start(ports.store.clone(), settings.max_batch, settings.queue);
        Self {
            store: ports.store,
            permissions: ports.permissions,
            clock: ports.clock,
            appender,
        }
    }

    /// The last sequence and its hash (for checkpoints).
    pub async fn head(&self) -> Result<(i64, String)> {
        self.store.head().await
    }

    /// Query and VerifyChain: platformctl, or a user holding `audit.logs.read`.
    async fn may_read(&self, caller: &Caller) -> Result<()> {
        match caller {
            Caller::Service(s) if READERS.contains(&s.name.as_str()) => Ok(()),
            Caller::User(u) => {
                if self
                    .permissions
                    .allowed(&u.id, perm::LOGS_READ.name)
                    .await?
                {
                    Ok(())
                } else {
                    Err(AuditError::PermissionDenied(format!(
                        "reading the audit log needs the permission {}",
                        perm::LOGS_READ.name
                    )))
                }
            }
            Caller::Service(s) => Err(AuditError::PermissionDenied(format!(
                "service {} may record, not read, the audit log",
                s.name
            ))),
            Caller::Anonymous | Caller::Rejected(_) => Err(AuditError::Unauthenticated(
                caller.unverified().unwrap_or_default(),
            )),
        }
    }
}
