//! The `Users` port over the identity service client.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use platform_clients::{ClientError, ErrorCode, IdentityServiceClient};
use platform_proto::identity::v1 as pb;

use crate::error::{AuthError, Result};
use crate::ports::{UserState, Users};

pub struct IdentityUsers(pub Arc<dyn IdentityServiceClient>);

fn state(user: Option<pb::User>) -> Result<UserState> {
    let user = user
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("identity answered without a user")))?;
    let changed = user
        .password_changed_at
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .ok_or_else(|| AuthError::Internal(anyhow::anyhow!("user without password_changed_at")))?;
    Ok(UserState {
        id: user.id,
        email: user.email,
        disabled: user.disabled,
        password_changed_at: changed,
    })
}

fn unavailable(err: ClientError) -> AuthError {
    match err.code {
        ErrorCode::Unavailable | ErrorCode::DeadlineExceeded => {
            AuthError::Unavailable(format!("identity service: {}", err.message))
        }
        _ => AuthError::Internal(anyhow::anyhow!("identity service: {err}")),
    }
}

#[async_trait::async_trait]
impl Users for IdentityUsers {
    async fn verify_password(&self, email: &str, password: &str) -> Result<UserState> {
        let request = pb::VerifyPasswordRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        match self.0.verify_password(request).await {
            Ok(response) => state(response.user),
            Err(e) if e.code == ErrorCode::Unauthenticated => Err(AuthError::InvalidCredentials),
            Err(e) if e.code == ErrorCode::PermissionDenied => Err(AuthError::UserDisabled),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<UserState>> {
        match self
            .0
            .get_user(pb::GetUserRequest { id: id.to_owned() })
            .await
        {
            Ok(response) => state(response.user).map(Some),
            Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::InvalidArgument) => {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
