//! Domain → proto.

use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;
use platform_proto::identity::v1 as pb;

use crate::domain::User;

pub fn timestamp(t: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

impl From<User> for pb::User {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            display_name: u.display_name.as_str().to_owned(),
            email_verified: u.email_verified,
            disabled: u.disabled,
            password_changed_at: timestamp(u.password_changed_at),
            created_at: timestamp(u.created_at),
            updated_at: timestamp(u.updated_at),
            version: u.version,
        }
    }
}
