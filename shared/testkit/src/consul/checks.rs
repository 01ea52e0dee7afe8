//! The HTTP checks the agent runs, and the reaping of services critical for too long.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::*;

/// Runs due HTTP checks, updates statuses, reaps services critical for too long.
pub(super) async fn run_checks(catalog: Shared) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let due: Vec<(String, String, Duration)> = {
            let mut catalog = lock(&catalog);
            let mut reaped = false;
            catalog.services.retain(|_, e| {
                let limit = e
                    .registration
                    .check
                    .as_ref()
                    .and_then(|c| c.deregister_critical_service_after.as_deref())
                    .and_then(parse_go_duration);
                let expired = matches!((limit, e.critical_since), (Some(l), Some(since)) if now.duration_since(since) >= l);
                reaped |= expired;
                !expired
            });
            if reaped {
                catalog.bump();
            }
            catalog
                .services
                .iter_mut()
                .filter(|(_, e)| !e.checking && e.next_check <= now)
                .filter_map(|(id, e)| {
                    let check = e.registration.check.as_ref()?;
                    let url = check.http.clone()?;
                    let interval = check.interval.as_deref().and_then(parse_go_duration)?;
                    let timeout = check
                        .timeout
                        .as_deref()
                        .and_then(parse_go_duration)
                        .unwrap_or(Duration::from_secs(10));
                    e.checking = true;
                    e.next_check = now + interval;
                    Some((id.clone(), url, timeout))
                })
                .collect()
        };
        for (id, url, timeout) in due {
            let client = client.clone();
            let catalog = catalog.clone();
            tokio::spawn(async move {
                let status = match url.parse::<http::Uri>() {
                    Ok(uri) => match tokio::time::timeout(timeout, client.get(uri)).await {
                        Ok(Ok(r)) if r.status().is_success() => CheckStatus::Passing,
                        Ok(Ok(r)) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                            CheckStatus::Warning
                        }
                        _ => CheckStatus::Critical,
                    },
                    Err(_) => CheckStatus::Critical,
                };
                let mut catalog = lock(&catalog);
                let mut changed = false;
                if let Some(e) = catalog.services.get_mut(&id) {
                    e.checking = false;
                    if e.status != status {
                        e.status = status;
                        e.critical_since = (status == CheckStatus::Critical).then(Instant::now);
                        changed = true;
                    }
                }
                if changed {
                    catalog.bump();
                }
            });
        }
    }
}
