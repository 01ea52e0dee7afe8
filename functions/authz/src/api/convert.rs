//! Domain ↔ proto.

use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;
use platform_proto::authz::v1 as pb;

use crate::domain::{Assignment, Resource, Role};
use crate::error::{AuthzError, Result};
use crate::service::checks::PermissionInfo;

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn instant(field: &'static str, t: Option<Timestamp>) -> Result<Option<DateTime<Utc>>> {
    t.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| AuthzError::invalid(field, "is not a valid timestamp"))
    })
    .transpose()
}

impl From<Role> for pb::Role {
    fn from(r: Role) -> Self {
        Self {
            name: r.name.as_str().to_owned(),
            description: r.description,
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            built_in: r.built_in,
        }
    }
}

impl From<Assignment> for pb::Assignment {
    fn from(a: Assignment) -> Self {
        Self {
            user_id: a.user.as_str().to_owned(),
            role: a.role.as_str().to_owned(),
            resource: a
                .resource
                .as_ref()
                .map(Resource::as_str)
                .unwrap_or_default()
                .to_owned(),
            expires_at: a.expires_at.map(timestamp),
        }
    }
}

impl From<PermissionInfo> for pb::Permission {
    fn from(p: PermissionInfo) -> Self {
        Self {
            name: p.name,
            description: p.description,
        }
    }
}
