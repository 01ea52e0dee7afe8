//! One set of queries for both backends (sqlx `Any`, `$n` placeholders in order), and on
//! PostgreSQL an append in one statement from the head this store last left
//! ([`APPEND_FROM_HEAD`]), falling back to the locking append below when another writer
//! moved the head or an id was stored before.
//!
//! An append locks the chain's head row first (a no-op UPDATE that returns it: a row lock on
//! PostgreSQL, the write lock on SQLite), stores the batch after it in one multi-row INSERT,
//! and moves the head, in one transaction: appends are serialized across every writer and
//! replica, and a batch costs four statements, not one per record. A batch in which an id
//! turns out to be stored already is rolled back and done again with its ids looked up
//! first (the stored record is the answer for those).

use anyhow::Context as _;
use std::sync::{Arc, Mutex};

use platform_database::{Backend, Database, column};
use sqlx::any::AnyRow;

use crate::domain::{ChainRecord, Filter, Order};
use crate::error::Result;
use crate::ports::{Appended, AuditStore};

#[derive(Clone)]
pub struct SqlAuditStore {
    db: Database,
    /// The chain's head as this store last left it (PostgreSQL's one-statement append
    /// starts from it, and finds out in the same statement if another writer moved it).
    head: Arc<Mutex<Option<(i64, String)>>>,
}

impl SqlAuditStore {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            head: Arc::default(),
        }
    }

    fn remember_head(&self, head: Option<(i64, String)>) {
        *self
            .head
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = head;
    }
}

/// The batch chained after `(sequence, previous)`: each caller's answer (an id repeated
/// within the batch is answered with its first record), the records to store, and the new
/// head.
fn chain(
    records: &[ChainRecord],
    mut sequence: i64,
    mut previous: String,
) -> (Vec<Appended>, Vec<ChainRecord>, i64, String) {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut fresh: Vec<ChainRecord> = Vec::with_capacity(records.len());
    let mut answers = Vec::with_capacity(records.len());
    for record in records {
        if let Some(at) = seen.get(record.id.as_str()) {
            answers.push(Appended {
                record: fresh[*at].clone(),
                stored: false,
            });
            continue;
        }
        let mut record = record.clone();
        sequence += 1;
        record.sequence = sequence;
        record.chain_after(&previous);
        previous.clone_from(&record.hash);
        seen.insert(records[answers.len()].id.as_str(), fresh.len());
        answers.push(Appended {
            record: record.clone(),
            stored: true,
        });
        fresh.push(record);
    }
    (answers, fresh, sequence, previous)
}

/// PostgreSQL's append in one statement, one round trip (prepared once: the batch is one
/// JSON parameter): the head moves only from where this store left it, and the rows go in
/// only if it did. Another writer having moved the head inserts nothing; an id stored
/// before fails the statement, which undoes it whole.
const APPEND_FROM_HEAD: &str = "WITH head AS (\
     UPDATE audit_head SET sequence = $1, hash = $2 \
     WHERE id = 1 AND sequence = $3 AND hash = $4 RETURNING 1) \
     INSERT INTO audit_records (sequence, id, occurred_at, actor, action, resource, outcome, \
     reason, client_ip, user_agent, request_id, metadata, previous_hash, hash) \
     SELECT r.sequence, r.id, r.occurred_at, r.actor, r.action, r.resource, r.outcome, \
     r.reason, r.client_ip, r.user_agent, r.request_id, r.metadata, r.previous_hash, r.hash \
     FROM json_to_recordset($5::json) AS r(sequence bigint, id text, occurred_at bigint, \
     actor text, action text, resource text, outcome text, reason text, client_ip text, \
     user_agent text, request_id text, metadata text, previous_hash text, hash text), head";

/// A record as a row of [`APPEND_FROM_HEAD`]'s recordset.
#[derive(serde::Serialize)]
struct Row<'a> {
    sequence: i64,
    id: &'a str,
    occurred_at: i64,
    actor: &'a str,
    action: &'a str,
    resource: &'a str,
    outcome: &'a str,
    reason: &'a str,
    client_ip: &'a str,
    user_agent: &'a str,
    request_id: &'a str,
    metadata: String,
    previous_hash: &'a str,
    hash: &'a str,
}

const COLUMNS: &str = "sequence, id, occurred_at, actor, action, resource, outcome, reason, \
                       client_ip, user_agent, request_id, metadata, previous_hash, hash";
const COLUMN_COUNT: usize = 14;

fn record_from(row: &AnyRow) -> Result<ChainRecord> {
    let metadata: String = column(row, "metadata")?;
    Ok(ChainRecord {
        sequence: column(row, "sequence")?,
        id: column(row, "id")?,
        occurred_at_us: column(row, "occurred_at")?,
        actor: column(row, "actor")?,
        action: column(row, "action")?,
        resource: column(row, "resource")?,
        outcome: column(row, "outcome")?,
        reason: column(row, "reason")?,
        client_ip: column(row, "client_ip")?,
        user_agent: column(row, "user_agent")?,
        request_id: column(row, "request_id")?,
        metadata: serde_json::from_str(&metadata)
            .with_context(|| format!("reading the metadata of record {metadata}"))?,
        previous_hash: column(row, "previous_hash")?,
        hash: column(row, "hash")?,
    })
}

/// A value bound to a numbered placeholder.
enum Arg {
    Text(String),
    Int(i64),
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(int) => query.bind(int),
        };
    }
    query
}

/// The WHERE clause of `filter` (without `WHERE`), its arguments numbered from `$1`.
fn conditions(filter: &Filter) -> (Vec<String>, Vec<Arg>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut add = |clause: &str, arg: Arg| {
        args.push(arg);
        clauses.push(clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(actor) = &filter.actor {
        add("actor = ?", Arg::Text(actor.clone()));
    }
    if let Some(action) = &filter.action {
        add("action = ?", Arg::Text(action.clone()));
    }
    if let Some(prefix) = &filter.action_prefix {
        // substr, not LIKE: exact and case-sensitive on both backends.
        let clause = format!("substr(action, 1, {}) = ?", prefix.chars().count());
        add(&clause, Arg::Text(prefix.clone()));
    }
    if let Some(resource) = &filter.resource {
        add("resource = ?", Arg::Text(resource.clone()));
    }
    if let Some(outcome) = filter.outcome {
        add("outcome = ?", Arg::Text(outcome.as_str().to_owned()));
    }
    if let Some(since) = filter.since_us {
        add("occurred_at >= ?", Arg::Int(since));
    }
    if let Some(until) = filter.until_us {
        add("occurred_at < ?", Arg::Int(until));
    }
    (clauses, args)
}

impl SqlAuditStore {
    /// Locks the chain's head (a row lock on PostgreSQL, the write lock on SQLite) and reads
    /// it, in one statement: everything after it in `tx` sees the chain as no one else can
    /// change it.
    async fn lock_head(tx: &mut sqlx::AnyConnection) -> anyhow::Result<(i64, String)> {
        let head = sqlx::query(
            "UPDATE audit_head SET sequence = sequence WHERE id = 1 RETURNING sequence, hash",
        )
        .fetch_one(&mut *tx)
        .await
        .context("locking the end of the audit chain")?;
        Ok((column(&head, "sequence")?, column(&head, "hash")?))
    }

    /// Stores `fresh` (chained already) and moves the head; the ids stored, in order (an id
    /// stored before is skipped, not stored).
    async fn insert(tx: &mut sqlx::AnyConnection, fresh: &[ChainRecord]) -> anyhow::Result<usize> {
        let mut inserted = 0;
        // Up to 500 rows a statement: 7,000 placeholders, within both backends' limits
        // (SQLite 32,766, PostgreSQL 65,535); a batch is one statement.
        for chunk in fresh.chunks(500) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * COLUMN_COUNT, COLUMN_COUNT)))
                .collect();
            let sql = format!(
                "INSERT INTO audit_records ({COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                rows.join(", ")
            );
            let mut args = Vec::with_capacity(chunk.len() * COLUMN_COUNT);
            for r in chunk {
                args.extend([
                    Arg::Int(r.sequence),
                    Arg::Text(r.id.clone()),
                    Arg::Int(r.occurred_at_us),
                    Arg::Text(r.actor.clone()),
                    Arg::Text(r.action.clone()),
                    Arg::Text(r.resource.clone()),
                    Arg::Text(r.outcome.clone()),
                    Arg::Text(r.reason.clone()),
                    Arg::Text(r.client_ip.clone()),
                    Arg::Text(r.user_agent.clone()),
                    Arg::Text(r.request_id.clone()),
                    Arg::Text(r.metadata.to_string()),
                    Arg::Text(r.previous_hash.clone()),
                    Arg::Text(r.hash.clone()),
                ]);
            }
            // Not prepared: its shape changes with the batch's size, and a statement cache
            // full of one-off shapes costs a round trip each.
            inserted += bind_all(sqlx::query(&sql), args)
                .execute(&mut *tx)
                .await
                .context("storing audit records")?
                .rows_affected() as usize;
        }
        Ok(inserted)
    }

    async fn move_head(
        tx: &mut sqlx::AnyConnection,
        sequence: i64,
        hash: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE audit_head SET sequence = $1, hash = $2 WHERE id = 1")
            .bind(sequence)
            .bind(hash)
            .execute(&mut *tx)
            .await
            .context("moving the end of the audit chain")?;
        Ok(())
    }

    /// The batch as all new (ids repeated within it aside): four statements. `None`, with
    /// nothing stored, when an id turned out to be stored already.
    async fn append_new(&self, records: &[ChainRecord]) -> Result<Option<Vec<Appended>>> {
        let mut tx = self
            .db
            .pool
            .begin()
            .await
            .context("appending audit records")?;
        let (sequence, previous) = Self::lock_head(&mut tx).await?;
        let (answers, fresh, sequence, previous) = chain(records, sequence, previous);
        if Self::insert(&mut tx, &fresh).await? != fresh.len() {
            tx.rollback().await.context("appending audit records")?;
            return Ok(None);
        }
        Self::move_head(&mut tx, sequence, &previous).await?;
        tx.commit().await.context("appending audit records")?;
        self.remember_head(Some((sequence, previous)));
        Ok(Some(answers))
    }

    /// [`APPEND_FROM_HEAD`]: `None`, with nothing stored, when this store does not know the
    /// head, another writer moved it, or an id turned out to be stored already.
    async fn append_from_head(&self, records: &[ChainRecord]) -> Result<Option<Vec<Appended>>> {
        // The head moves here, before the statement: a batch sent meanwhile chains after
        // this one (and waits for it on the head's row). If this one fails, the head is
        // forgotten and that one, finding the head elsewhere, appends under the lock.
        let (from, from_hash, answers, fresh, sequence, previous) = {
            let mut head = self
                .head
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some((from, from_hash)) = head.clone() else {
                return Ok(None);
            };
            let (answers, fresh, sequence, previous) = chain(records, from, from_hash.clone());
            *head = Some((sequence, previous.clone()));
            (from, from_hash, answers, fresh, sequence, previous)
        };
        let rows: Vec<Row<'_>> = fresh
            .iter()
            .map(|r| Row {
                sequence: r.sequence,
                id: &r.id,
                occurred_at: r.occurred_at_us,
                actor: &r.actor,
                action: &r.action,
                resource: &r.resource,
                outcome: &r.outcome,
                reason: &r.reason,
                client_ip: &r.client_ip,
                user_agent: &r.user_agent,
                request_id: &r.request_id,
                metadata: r.metadata.to_string(),
                previous_hash: &r.previous_hash,
                hash: &r.hash,
            })
            .collect();
        let rows = serde_json::to_string(&rows).context("encoding audit records")?;
        let inserted = sqlx::query(APPEND_FROM_HEAD)
            .bind(sequence)
            .bind(&previous)
            .bind(from)
            .bind(&from_hash)
            .bind(rows)
            .execute(&self.db.pool)
            .await;
        match inserted {
            Ok(done) if done.rows_affected() as usize == fresh.len() => Ok(Some(answers)),
            Ok(_) => {
                self.remember_head(None);
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(error = %e, "the one-statement append failed; appending under the head's lock");
                self.remember_head(None);
                Ok(None)
            }
        }
    }

    /// The batch with its ids looked up first: those stored before are answered with the
    /// stored record, the rest appended.
    async fn append_checked(&self, records: Vec<ChainRecord>) -> Result<Vec<Appended>> {
        let count = records.len();
        let what = || format!("appending {count} audit records");
        let mut tx = self.db.pool.begin().await.with_context(what)?;
        let (mut sequence, mut previous) = Self::lock_head(&mut tx).await?;
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut stored = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {COLUMNS} FROM audit_records WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let args = chunk.iter().map(|id| Arg::Text(id.clone())).collect();
            for row in bind_all(sqlx::query(&sql).persistent(false), args)
                .fetch_all(&mut *tx)
                .await
                .with_context(what)?
            {
                let record = record_from(&row)?;
                stored.insert(record.id.clone(), record);
            }
        }
        let mut answers = Vec::with_capacity(records.len());
        let mut fresh = Vec::new();
        for mut record in records {
            if let Some(existing) = stored.get(&record.id) {
                answers.push(Appended {
                    record: existing.clone(),
                    stored: false,
                });
                continue;
            }
            sequence += 1;
            record.sequence = sequence;
            record.chain_after(&previous);
            previous.clone_from(&record.hash);
            stored.insert(record.id.clone(), record.clone());
            answers.push(Appended {
                record: record.clone(),
                stored: true,
            });
            fresh.push(record);
        }
        if !fresh.is_empty() {
            Self::insert(&mut tx, &fresh).await?;
            Self::move_head(&mut tx, sequence, &previous).await?;
        }
        tx.commit().await.with_context(what)?;
        self.remember_head(Some((sequence, previous)));
        Ok(answers)
    }
}

#[async_trait::async_trait]
impl AuditStore for SqlAuditStore {
    async fn append(&self, records: Vec<ChainRecord>) -> Result<Vec<Appended>> {
        if self.db.backend == Backend::Postgres
            && let Some(appended) = self.append_from_head(&records).await?
        {
            return Ok(appended);
        }
        // Most batches hold no id stored before: try without reading for them first.
        if let Some(appended) = self.append_new(&records).await? {
            return Ok(appended);
        }
        self.append_checked(records).await
    }

    async fn query(
        &self,
        filter: &Filter,
        order: Order,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChainRecord>> {
        let (mut clauses, mut args) = conditions(filter);
        if let Some(after) = after {
            args.push(Arg::Int(after));
            let op = match order {
                Order::NewestFirst => "<",
                Order::OldestFirst => ">",
            };
            clauses.push(format!("sequence {op} ${}", args.len()));
        }
        args.push(Arg::Int(i64::from(limit)));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_records {} ORDER BY sequence {} LIMIT ${}",
            if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            },
            match order {
                Order::NewestFirst => "DESC",
                Order::OldestFirst => "ASC",
            },
            args.len()
        );
        let rows = bind_all(sqlx::query(&sql), args)
            .fetch_all(&self.db.pool)
            .await
            .context("querying the audit log")?;
        rows.iter().map(record_from).collect()
    }

    async fn count(&self, filter: &Filter) -> Result<u64> {
        let (clauses, args) = conditions(filter);
        let sql = format!(
            "SELECT COUNT(*) AS n FROM audit_records {}",
            if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            }
        );
        let row = bind_all(sqlx::query(&sql), args)
            .fetch_one(&self.db.pool)
            .await
            .context("counting audit records")?;
        let n: i64 = column(&row, "n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn range(&self, from: i64, limit: u32) -> Result<Vec<ChainRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_records WHERE sequence >= $1 ORDER BY sequence LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.db.pool)
            .await
            .with_context(|| format!("reading audit records from {from}"))?;
        rows.iter().map(record_from).collect()
    }

    async fn hash_of(&self, sequence: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT hash FROM audit_records WHERE sequence = $1")
            .bind(sequence)
            .fetch_optional(&self.db.pool)
            .await
            .with_context(|| format!("reading the hash of record {sequence}"))?;
        row.map(|r| Ok(column(&r, "hash")?)).transpose()
    }

    async fn head(&self) -> Result<(i64, String)> {
        let row = sqlx::query("SELECT sequence, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.db.pool)
            .await
            .context("reading the end of the audit chain")?;
        Ok((column(&row, "sequence")?, column(&row, "hash")?))
    }
}
