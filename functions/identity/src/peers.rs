//! The ports identity needs from other services, over their clients: permission checks
//! (authz) and ending a user's sessions (auth). Both calls carry identity's own service
//! token.

use std::sync::Arc;

use platform_clients::{AuthServiceClient, AuthzServiceClient, ClientError, ErrorCode};
use platform_proto::auth::v1 as auth_pb;
use platform_proto::authz::v1 as authz_pb;

use crate::domain::UserId;
use crate::error::{IdentityError, Result};
use crate::ports::{Permissions, Sessions};

fn failed(service: &str, err: ClientError) -> IdentityError {
    match err.code {
        ErrorCode::Unavailable | ErrorCode::DeadlineExceeded => {
            IdentityError::Unavailable(format!("the {service} service: {}", err.message))
        }
        _ => IdentityError::Internal(anyhow::anyhow!("the {service} service: {err}")),
    }
}

pub struct AuthzPermissions(pub Arc<dyn AuthzServiceClient>);

#[async_trait::async_trait]
impl Permissions for AuthzPermissions {
    async fn allowed(&self, user: &str, permission: &str, resource: Option<&str>) -> Result<bool> {
        let request = authz_pb::HasPermissionRequest {
            user_id: user.to_owned(),
            permission: permission.to_owned(),
            resource: resource.unwrap_or_default().to_owned(),
            at_least_as_fresh: String::new(),
            anywhere: false,
        };
        match self.0.has_permission(request).await {
            Ok(answer) => Ok(answer.allowed),
            Err(e) => Err(failed("authz", e)),
        }
    }

    async fn assign_admin(&self, user: UserId) -> Result<bool> {
        let request = authz_pb::AssignRoleRequest {
            user_id: user.to_string(),
            role: "admin".to_owned(),
            ..Default::default()
        };
        match self.0.assign_role(request).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == ErrorCode::PermissionDenied => Ok(false),
            Err(e) => Err(failed("authz", e)),
        }
    }
}

pub struct AuthSessions(pub Arc<dyn AuthServiceClient>);

#[async_trait::async_trait]
impl Sessions for AuthSessions {
    async fn revoke(&self, user: UserId, keep: Option<&str>) -> Result<()> {
        let request = auth_pb::RevokeSessionsRequest {
            user_id: user.to_string(),
            keep_session_id: keep.unwrap_or_default().to_owned(),
        };
        self.0
            .revoke_sessions(request)
            .await
            .map(drop)
            .map_err(|e| failed("auth", e))
    }
}
