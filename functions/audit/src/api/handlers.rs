use std::sync::Arc;

use axum::Router;
use pbjson_types::{Struct, Timestamp};
use platform_kernel::{caller, unary};
use platform_proto::audit::v1::{self as pb, audit_service_connect as connect};

use crate::domain::{ChainRecord, Entry, Filter, Order, Outcome};
use crate::error::{AuditError, Result};
use crate::service::AuditService;

pub fn rpc(
    svc: Arc<AuditService>,
) -> (
    Router,
    pb::audit_service_server::AuditServiceServer<pb::AuditTonicService>,
) {
    connect::AuditServiceTonicCompatibleBuilder::new()
        .record(unary!(svc, record, pb::RecordRequest))
        .query(unary!(svc, query, pb::QueryRequest))
        .verify_chain(unary!(svc, verify_chain, pb::VerifyChainRequest))
        .build()
}

fn outcome_from(o: i32) -> Result<Outcome> {
    Ok(match pb::Outcome::try_from(o) {
        Ok(pb::Outcome::Unspecified) => Outcome::Unspecified,
        Ok(pb::Outcome::Success) => Outcome::Success,
        Ok(pb::Outcome::Failure) => Outcome::Failure,
        Ok(pb::Outcome::Denied) => Outcome::Denied,
        Err(_) => {
            return Err(AuditError::invalid(
                "outcome",
                format!("{o} is not an outcome"),
            ));
        }
    })
}

fn outcome_to(text: &str) -> i32 {
    match Outcome::parse(text) {
        Some(Outcome::Success) => pb::Outcome::Success,
        Some(Outcome::Failure) => pb::Outcome::Failure,
        Some(Outcome::Denied) => pb::Outcome::Denied,
        _ => pb::Outcome::Unspecified,
    }
    .into()
}

fn micros(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| {
        t.seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(t.nanos / 1_000))
    })
}

fn to_pb(r: ChainRecord) -> pb::AuditRecord {
    let metadata = serde_json::from_value::<Struct>(r.metadata).ok();
    pb::AuditRecord {
        id: r.id,
        occurred_at: Some(Timestamp {
            seconds: r.occurred_at_us.div_euclid(1_000_000),
            nanos: (r.occurred_at_us.rem_euclid(1_000_000) * 1_000) as i32,
        }),
        actor_id: r.actor,
        action: r.action,
        resource: r.resource,
        outcome: outcome_to(&r.outcome),
        metadata,
        client_ip: r.client_ip,
        request_id: r.request_id,
        previous_hash: r.previous_hash,
        hash: r.hash,
        reason: r.reason,
        user_agent: r.user_agent,
        sequence: r.sequence,
    }
}

async fn record(s: &AuditService, r: pb::RecordRequest) -> Result<pb::RecordResponse> {
    let record = r
        .record
        .ok_or_else(|| AuditError::invalid("record", "is required"))?;
    let metadata = match record.metadata {
        Some(m) => {
            serde_json::to_value(m).map_err(|e| AuditError::invalid("metadata", e.to_string()))?
        }
        None => serde_json::json!({}),
    };
    let entry = Entry {
        id: record.id,
        actor: record.actor_id,
        action: record.action,
        resource: record.resource,
        outcome: outcome_from(record.outcome)?,
        reason: record.reason,
        client_ip: record.client_ip,
        user_agent: record.user_agent,
        request_id: record.request_id,
        metadata,
    };
    let stored = s.record(&caller::current(), entry).await?;
    Ok(pb::RecordResponse {
        record: Some(to_pb(stored)),
    })
}

fn some(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

async fn query(s: &AuditService, r: pb::QueryRequest) -> Result<pb::QueryResponse> {
    let outcome = match outcome_from(r.outcome)? {
        Outcome::Unspecified => None,
        o => Some(o),
    };
    let filter = Filter {
        actor: some(r.actor_id),
        action: some(r.action),
        action_prefix: some(r.action_prefix),
        resource: some(r.resource),
        outcome,
        since_us: micros(r.since),
        until_us: micros(r.until),
    };
    let order = match pb::Order::try_from(r.order) {
        Ok(pb::Order::Unspecified | pb::Order::NewestFirst) => Order::NewestFirst,
        Ok(pb::Order::OldestFirst) => Order::OldestFirst,
        Err(_) => {
            return Err(AuditError::invalid(
                "order",
                format!("{} is not an order", r.order),
            ));
        }
    };
    let size = u32::try_from(r.page_size)
        .map_err(|_| AuditError::invalid("page_size", "must not be negative"))?;
    let page = s
        .query(
            &caller::current(),
            &filter,
            order,
            &r.page_token,
            size,
            r.include_total,
        )
        .await?;
    Ok(pb::QueryResponse {
        records: page.records.into_iter().map(to_pb).collect(),
        next_page_token: page.next_page_token,
        total: page
            .total
            .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX)),
    })
}

async fn verify_chain(
    s: &AuditService,
    r: pb::VerifyChainRequest,
) -> Result<pb::VerifyChainResponse> {
    let check = s
        .verify_chain(&caller::current(), r.from_sequence, r.limit)
        .await?;
    let (sequence, id, reason) = check.broken.clone().unwrap_or_default();
    Ok(pb::VerifyChainResponse {
        ok: check.broken.is_none(),
        first_broken_id: id,
        checked: i64::try_from(check.checked).unwrap_or(i64::MAX),
        first_broken_sequence: sequence,
        next_sequence: check.next_sequence,
        reason,
    })
}
