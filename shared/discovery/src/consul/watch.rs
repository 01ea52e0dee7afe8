//! Watching one service with blocking queries, as Consul's documentation prescribes: reset
//! the index when it goes backwards, never below 1, back off with jitter on errors. Errors
//! and garbage never change the published set: the last known good set stays. A set that
//! becomes empty exactly when the index went backwards (Consul lost its state: restart with
//! an empty catalog) is treated the same way until instances re-register.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder as _;
use tokio::sync::watch;

use super::Settings;
use super::api::{ConsulApi, HealthEntry};
use crate::{Instance, InstanceSet};

pub(crate) fn spawn(
    api: ConsulApi,
    service: String,
    settings: Settings,
) -> watch::Receiver<InstanceSet> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(run(api, service, settings, tx));
    rx
}

fn backoff() -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build()
}

fn instances(entries: Vec<HealthEntry>) -> Vec<Instance> {
    let mut set: Vec<Instance> = entries
        .into_iter()
        .map(|e| Instance {
            base_url: format!("http://{}:{}", e.service.address, e.service.port),
            id: e.service.id,
        })
        .collect();
    set.sort_by(|a, b| a.id.cmp(&b.id));
    set
}

async fn run(api: ConsulApi, service: String, settings: Settings, tx: watch::Sender<InstanceSet>) {
    let mut index = 0u64;
    let mut delays = backoff();
    loop {
        if tx.is_closed() {
            return;
        }
        match api.healthy(&service, index, settings.wait).await {
            Ok((new_index, entries)) => {
                delays = backoff();
                let went_backwards = new_index < index;
                let set = instances(entries);
                let had_some = tx.borrow().as_ref().is_some_and(|s| !s.is_empty());
                if went_backwards && set.is_empty() && had_some {
                    tracing::warn!(
                        %service,
                        "Consul's index went backwards and it lists no instances; keeping the \
                         last known set until they re-register"
                    );
                } else {
                    tx.send_if_modified(|current| {
                        if current.as_deref() == Some(&set) {
                            false
                        } else {
                            tracing::info!(%service, instances = set.len(), "instances changed");
                            *current = Some(Arc::new(set));
                            true
                        }
                    });
                }
                index = if went_backwards { 0 } else { new_index.max(1) };
            }
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(%service, error = %format!("{e:#}"), ?delay, "Consul watch failed; keeping the last known instances");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
