//! Sessions: a refresh-token family per login. Every rotation adds a token to the family;
//! the family's absolute expiry never moves.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session: 7 days after login by default, whatever the rotations.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// How the user authenticated at login (RFC 8176 values), for every token of the session.
    pub amr: Vec<String>,
}

impl Family {
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// An opaque refresh token, stored only as its hash.
pub type RefreshSecret = platform_tokens::secret::OpaqueSecret;
