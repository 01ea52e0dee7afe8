//! The permission check over the authz client, with audit's own service token.

use std::sync::Arc;

use platform_clients::{AuthzServiceClient, ErrorCode};
use platform_proto::authz::v1 as pb;

use crate::error::{AuditError, Result};
use crate::ports::Permissions;

pub struct AuthzPermissions(pub Arc<dyn AuthzServiceClient>);

#[async_trait::async_trait]
impl Permissions for AuthzPermissions {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool> {
        let request = pb::HasPermissionRequest {
            user_id: user.to_owned(),
            permission: permission.to_owned(),
            resource: String::new(),
            at_least_as_fresh: String::new(),
            anywhere: false,
        };
        match self.0.has_permission(request).await {
            Ok(answer) => Ok(answer.allowed),
            Err(e) if matches!(e.code, ErrorCode::Unavailable | ErrorCode::DeadlineExceeded) => {
                Err(AuditError::Unavailable(format!(
                    "the authz service: {}",
                    e.message
                )))
            }
            Err(e) => Err(AuditError::Internal(anyhow::anyhow!(
                "the authz service: {e}"
            ))),
        }
    }
}
