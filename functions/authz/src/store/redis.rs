//! Users' grants in Redis, shared by every authz instance (the [`SharedGrants`] port). Each
//! entry carries the revision it was read at, and its keys the current generation: a role
//! change bumps the generation (every entry goes at once), an assignment deletes one user's
//! entry. Entries also expire by themselves after the cache TTL.

use std::time::Duration;

use chrono::DateTime;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::domain::{Assignment, Pattern, Resource, Revision, Role, RoleName, UserId};
use crate::error::{AuthzError, Result};
use crate::ports::{Held, SharedGrants};

#[derive(Clone)]
pub struct RedisGrants {
    conn: ConnectionManager,
    /// `<prefix>authz:`.
    prefix: String,
    ttl: Duration,
}

/// GET of the entry named by ARGV[1] under the current generation (KEYS[1]).
const GET: &str = r"
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. g .. ':' .. ARGV[2])
";

/// SET under the current generation, expiring after ARGV[4] ms.
const PUT: &str = r"
local g = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', ARGV[1] .. g .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
";

/// DEL under the current generation.
const FORGET: &str = r"
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('DEL', ARGV[1] .. g .. ':' .. ARGV[2])
";

#[derive(Serialize, Deserialize)]
struct Entry {
    revision: i64,
    held: Vec<HeldEntry>,
}

#[derive(Serialize, Deserialize)]
struct HeldEntry {
    role: String,
    description: String,
    permissions: Vec<String>,
    built_in: bool,
    resource: String,
    /// µs since the epoch.
    expires_at: Option<i64>,
}

fn redis_error(what: &'static str) -> impl FnOnce(redis::RedisError) -> AuthzError {
    move |e| AuthzError::Internal(anyhow::Error::new(e).context(format!("redis: {what}")))
}

impl RedisGrants {
    pub fn connect(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            conn: platform_kernel::redis::connect(url)?,
            prefix: format!("{prefix}authz:"),
            ttl,
        })
    }

    fn generation_key(&self) -> String {
        format!("{}generation", self.prefix)
    }

    fn entries_prefix(&self) -> String {
        format!("{}grants:", self.prefix)
    }
}

fn encode(revision: Revision, held: &[Held]) -> Result<String> {
    let entry = Entry {
        revision: revision.0,
        held: held
            .iter()
            .map(|h| HeldEntry {
                role: h.role.name.as_str().to_owned(),
                description: h.role.description.clone(),
                permissions: h.role.permissions.iter().map(ToString::to_string).collect(),
                built_in: h.role.built_in,
                resource: h
                    .assignment
                    .resource
                    .as_ref()
                    .map(Resource::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                expires_at: h.assignment.expires_at.map(|t| t.timestamp_micros()),
            })
            .collect(),
    };
    serde_json::to_string(&entry).map_err(|e| AuthzError::Internal(e.into()))
}

fn decode(user: &UserId, text: &str) -> Result<(Revision, Vec<Held>)> {
    let bad = |why: String| AuthzError::Internal(anyhow::anyhow!("shared grant entry: {why}"));
    let entry: Entry = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let held = entry
        .held
        .into_iter()
        .map(|h| {
            let permissions = h
                .permissions
                .iter()
                .map(|p| Pattern::parse("permissions", p))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| bad(e.to_string()))?;
            let expires_at = h
                .expires_at
                .map(|us| DateTime::from_timestamp_micros(us).ok_or_else(|| bad("expiry".into())))
                .transpose()?;
            let role = RoleName::from_trusted(h.role);
            Ok(Held {
                assignment: Assignment {
                    user: user.clone(),
                    role: role.clone(),
                    resource: (!h.resource.is_empty()).then(|| Resource::from_trusted(h.resource)),
                    expires_at,
                },
                role: Role {
                    name: role,
                    description: h.description,
                    permissions,
                    built_in: h.built_in,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Revision(entry.revision), held))
}

#[async_trait::async_trait]
impl SharedGrants for RedisGrants {
    async fn get(&self, user: &UserId) -> Result<Option<(Revision, Vec<Held>)>> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::Script::new(GET)
            .key(self.generation_key())
            .arg(self.entries_prefix())
            .arg(user.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("reading shared grants"))?;
        text.map(|t| decode(user, &t)).transpose()
    }

    async fn put(&self, user: &UserId, revision: Revision, held: &[Held]) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::Script::new(PUT)
            .key(self.generation_key())
            .arg(self.entries_prefix())
            .arg(user.as_str())
            .arg(encode(revision, held)?)
            .arg(self.ttl.as_millis().max(1) as u64)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("writing shared grants"))?;
        Ok(())
    }

    async fn forget(&self, user: &UserId) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::Script::new(FORGET)
            .key(self.generation_key())
            .arg(self.entries_prefix())
            .arg(user.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error("clearing shared grants"))?;
        Ok(())
    }

    async fn forget_all(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("INCR")
            .arg(self.generation_key())
            .query_async(&mut conn)
            .await
            .map_err(redis_error("clearing shared grants"))?;
        Ok(())
    }
}
