//! The first administrator (`PLATFORM_BOOTSTRAP_ADMIN_EMAIL`): the account with that address
//! gets `admin` once the address is verified — never before, since with open sign-up anyone
//! could register the address first, and only its owner can verify it — and only while no
//! administrator exists (authz refuses identity anything else, so identity's key is not an
//! admin's). Tried when the address is verified and, until authz answers, from start-up.

use super::IdentityService;
use crate::domain::UserId;
use crate::error::Result;

impl IdentityService {
    /// Assigns `admin` to the bootstrap account if it exists, is verified and enabled; the
    /// account's id when it did. Assigning again is harmless.
    pub async fn bootstrap_admin(&self) -> Result<Option<UserId>> {
        let Some(email) = &self.settings.bootstrap_admin else {
            return Ok(None);
        };
        let Some(user) = self.store.find_by_email(email).await? else {
            return Ok(None);
        };
        if !user.email_verified || user.disabled {
            return Ok(None);
        }
        if self.permissions.assign_admin(user.id).await? {
            tracing::info!(user = %user.id, "the bootstrap administrator holds the admin role");
            Ok(Some(user.id))
        } else {
            tracing::info!(
                user = %user.id,
                "an administrator exists already: PLATFORM_BOOTSTRAP_ADMIN_EMAIL is not needed"
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Email;
    use crate::service::testing::Harness;

    #[tokio::test]
    async fn the_bootstrap_address_becomes_admin_only_once_verified() {
        let h = Harness::with_bootstrap_admin(Email::parse("boss@example.com").expect("email"));
        let boss = h.user("boss@example.com").await;
        h.user("someone@example.com").await;
        assert_eq!(h.service.bootstrap_admin().await.expect("tried"), None);
        assert!(h.permissions.admins().is_empty(), "not before verification");
        let token = h
            .mailer
            .last_token_to("boss@example.com")
            .expect("welcome mail");
        h.service.verify_email(&token).await.expect("verified");
        assert_eq!(h.permissions.admins(), [boss.id], "on verification");
        assert_eq!(
            h.service.bootstrap_admin().await.expect("again"),
            Some(boss.id)
        );
    }
}
