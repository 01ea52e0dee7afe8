//! The [`Jobs`] port in this process: a bounded queue and one worker that runs each job on
//! the service, in order. Jobs are in memory: a crash loses the ones not yet run (a reset
//! mail the user can ask for again); the outbox replaces this when the event bus lands. On
//! AWS Lambda the worker runs while the function is warm, between and during invocations.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use crate::error::{IdentityError, Result};
use crate::ports::{Job, Jobs};
use crate::service::IdentityService;

/// How many jobs may wait; more are refused with `unavailable` (answered alike for every
/// address, so the refusal tells nothing either).
pub const CAPACITY: usize = 1024;

pub struct JobQueue(mpsc::Sender<Job>);

impl JobQueue {
    /// The queue, and what its worker reads ([`spawn_worker`]).
    pub fn new() -> (Self, mpsc::Receiver<Job>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        (Self(sender), receiver)
    }
}

impl Jobs for JobQueue {
    fn submit(&self, job: Job) -> Result<()> {
        self.0.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!("identity_jobs_refused_total").increment(1);
                IdentityError::Unavailable("too many requests are waiting; retry shortly".into())
            }
            mpsc::error::TrySendError::Closed(_) => {
                IdentityError::Unavailable("the service is stopping".into())
            }
        })
    }
}

/// Runs the queued jobs on `service` until it is gone.
pub fn spawn_worker(service: &Arc<IdentityService>, mut jobs: mpsc::Receiver<Job>) {
    let service: Weak<IdentityService> = Arc::downgrade(service);
    tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            let Some(service) = service.upgrade() else {
                return;
            };
            service.run(job).await;
        }
    });
}
