//! Batching appends: Record calls queue their record and wait; one task takes whatever is
//! queued (up to the batch size) into one transaction and answers each caller once it
//! committed. Under load many records share a transaction; alone, a record is stored at
//! once.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::ChainRecord;
use crate::error::{AuditError, Result};
use crate::ports::{Appended, AuditStore};

type Waiting = (ChainRecord, oneshot::Sender<Result<Appended>>);

/// The longest a batch waits for more records under load.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Clone)]
pub struct Appender {
    queue: mpsc::Sender<Waiting>,
}

impl Appender {
    pub fn start(store: Arc<dyn AuditStore>, max_batch: usize, queue: usize) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Waiting>(queue.max(1));
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            let mut busy = false;
            while receiver.recv_many(&mut batch, max_batch).await > 0 {
                // Group commit: under load (the last batch was large), the callers just
                // answered are sending their next records; wait up to LINGER for them rather
                // than commit a handful. Alone, a record leaves at once.
                if busy {
                    let deadline = tokio::time::Instant::now() + LINGER;
                    while batch.len() < max_batch {
                        let room = max_batch - batch.len();
                        match tokio::time::timeout_at(
                            deadline,
                            receiver.recv_many(&mut batch, room),
                        )
                        .await
                        {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                }
                let (records, waiters): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut batch).into_iter().unzip();
                let size = records.len();
                busy = size >= max_batch / 4;
                match store.append(records).await {
                    Ok(appended) => {
                        metrics::histogram!("audit_append_batch_size").record(size as f64);
                        for (waiter, answer) in waiters.into_iter().zip(appended) {
                            let _ = waiter.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), records = size, "storing audit records failed");
                        for waiter in waiters {
                            let _ = waiter.send(Err(AuditError::Unavailable(
                                "the audit log could not store the record; retry (Record is idempotent by id)".into(),
                            )));
                        }
                    }
                }
            }
        });
        Self { queue: sender }
    }

    /// Stores `record` (sequence and hashes unset) and answers once it is committed.
    pub async fn append(&self, record: ChainRecord) -> Result<Appended> {
        let (answer, answered) = oneshot::channel();
        self.queue.try_send((record, answer)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                AuditError::Unavailable("the audit log is overloaded; retry shortly".into())
            }
            mpsc::error::TrySendError::Closed(_) => {
                AuditError::Unavailable("the audit log is stopping".into())
            }
        })?;
        answered
            .await
            .map_err(|_| AuditError::Unavailable("the audit log stopped".into()))?
    }
}
