//! Record and Query.

use platform_kernel::caller::Caller;

use crate::domain::query::fingerprint;
use crate::domain::{ChainRecord, Entry, Filter, Order, PageToken};
use crate::error::{AuditError, Result};

use super::{AuditService, RECORD_TIMEOUT};

/// A page of Query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<ChainRecord>,
    pub next_page_token: String,
    pub total: Option<u64>,
}

/// The actions a service records besides `<service>.…`: the platform's own namespaces.
const NAMESPACES: &[(&str, &str)] = &[("identity", "user."), ("authz", "role.")];

/// The action prefixes `service` may record.
fn own_prefixes(service: &str) -> Vec<String> {
    std::iter::once(format!("{service}."))
        .chain(
            NAMESPACES
                .iter()
                .filter(|(owner, _)| *owner == service)
                .map(|(_, prefix)| (*prefix).to_owned()),
        )
        .collect()
}

/// A service records only what it does: a compromised service cannot write another's
/// history.
fn may_record(service: &str, action: &str) -> bool {
    own_prefixes(service)
        .iter()
        .any(|prefix| action.starts_with(prefix.as_str()))
}

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

impl AuditService {
    /// Appends `entry` for a service of the platform; the stored record (the earlier one
    /// when its id was recorded before).
    pub async fn record(&self, caller: &Caller, entry: Entry) -> Result<ChainRecord> {
        match caller {
            Caller::Service(_) => {}
            Caller::User(_) => {
                return Err(AuditError::PermissionDenied(
                    "only the platform's services record audit entries".into(),
                ));
            }
            Caller::Anonymous | Caller::Rejected(_) => {
                return Err(AuditError::Unauthenticated(
                    caller.unverified().unwrap_or_default(),
                ));
            }
        }
        entry.validate()?;
        if let Caller::Service(s) = caller
            && !may_record(&s.name, &entry.action)
        {
            return Err(AuditError::PermissionDenied(format!(
                "service {} records only its own actions ({}), not {}",
                s.name,
                own_prefixes(&s.name).join(", "),
                entry.action
            )));
        }
        let entry = entry.without_nul();
        let record = ChainRecord {
            sequence: 0,
            id: if entry.id.is_empty() {
                uuid::Uuid::now_v7().to_string()
            } else {
                // One spelling per id (braces, urn: and simple forms parse too).
                uuid::Uuid::parse_str(&entry.id)
                    .map_err(|_| AuditError::invalid("id", "must be a UUID (or empty)"))?
                    .hyphenated()
                    .to_string()
            },
            occurred_at_us: self.clock.now().timestamp_micros(),
            actor: entry.actor,
            action: entry.action,
            resource: entry.resource,
            outcome: entry.outcome.as_str().to_owned(),
            reason: entry.reason,
            client_ip: entry.client_ip,
            user_agent: entry.user_agent,
            request_id: entry.request_id,
            metadata: entry.metadata,
            previous_hash: String::new(),
            hash: String::new(),
        };
        let sent = record.clone();
        let appended = tokio::time::timeout(RECORD_TIMEOUT, self.appender.append(record))
            .await
            .map_err(|_| {
                AuditError::Unavailable("storing the record took too long; retry".into())
            })??;
        // A retry is answered with what was stored; an id reused for something else is not
        // a retry, and the caller learns so rather than believe it recorded.
        if !appended.stored && !same_entry(&appended.record, &sent) {
            return Err(AuditError::invalid(
                "id",
                format!(
                    "{} is already recorded with different content (sequence {})",
                    appended.record.id, appended.record.sequence
                ),
            ));
        }
        Ok(appended.record)
    }

    /// A page of records matching `filter` in `order`.
    pub async fn query(
        &self,
        caller: &Caller,
        filter: &Filter,
        order: Order,
        page_token: &str,
        page_size: u32,
        include_total: bool,
    ) -> Result<Page> {
        self.may_read(caller).await?;
        if filter.action.is_some() && filter.action_prefix.is_some() {
            return Err(AuditError::invalid(
                "action_prefix",
                "give an action or an action prefix, not both",
            ));
        }
        if let (Some(since), Some(until)) = (filter.since_us, filter.until_us)
            && since >= until
        {
            return Err(AuditError::invalid("until", "must be after since"));
        }
        let limit = match page_size {
            0 => DEFAULT_PAGE,
            n if n > MAX_PAGE => {
                return Err(AuditError::invalid(
                    "page_size",
                    format!("must be at most {MAX_PAGE}"),
                ));
            }
            n => n,
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(PageToken::decode(page_token, filter, order)?.after)
        };
        // One more than asked: whether there is a next page.
        let mut records = self.store.query(filter, order, after, limit + 1).await?;
        let next_page_token = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records
                .last()
                .map(|last| {
                    PageToken {
                        after: last.sequence,
                        order,
                        filters: fingerprint(filter),
                    }
                    .encode()
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        let total = if include_total {
            Some(self.store.count(filter).await?)
        } else {
            None
        };
        Ok(Page {
            records,
            next_page_token,
            total,
        })
    }
}

/// Whether two records say the same thing (what the service set, time and chain, aside).
fn same_entry(stored: &ChainRecord, sent: &ChainRecord) -> bool {
    stored.actor == sent.actor
        && stored.action == sent.action
        && stored.resource == sent.resource
        && stored.outcome == sent.outcome
        && stored.reason == sent.reason
        && stored.client_ip == sent.client_ip
        && stored.user_agent == sent.user_agent
        && stored.request_id == sent.request_id
        && stored.metadata == sent.metadata
}
