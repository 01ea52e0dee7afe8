//! ChangePassword, and the proof of the current password that changing one's own email or
//! password asks for (a stolen session alone cannot take the account over).

use platform_kernel::caller::Caller;

use super::IdentityService;
use crate::domain::password::Verified;
use crate::domain::{Password, User};
use crate::error::{IdentityError, Result};

impl IdentityService {
    /// `Ok` when `password` is the user's; `PermissionDenied` (not `unauthenticated`: the
    /// session is fine) when it is not.
    pub(crate) async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        to: &str,
    ) -> Result<()> {
        if password.is_empty() {
            return Err(IdentityError::invalid(
                "current_password",
                format!("is required to {to}"),
            ));
        }
        let password = if password.len() > crate::domain::password::MAX_BYTES {
            ""
        } else {
            password
        };
        match self
            .hasher
            .verify(password, Some(&user.password_hash))
            .await?
        {
            Verified::No => Err(IdentityError::PermissionDenied(
                "current_password is not your password".to_owned(),
            )),
            Verified::Yes | Verified::YesNeedsRehash => Ok(()),
        }
    }

    /// The calling user's new password; every other session of theirs ends.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let Some(me) = Self::verified(caller)? else {
            return Err(IdentityError::PermissionDenied(
                "ChangePassword is for users, about themselves".to_owned(),
            ));
        };
        let new = Password::parse("new_password", new_password)?;
        let user = self.active_user(me).await?;
        self.confirm_password(&user, current_password, "change your password")
            .await?;
        let hash = self.hasher.hash(&new).await?;
        let now = self.clock.now();
        self.modify(
            me,
            |u| {
                u.password_hash = hash.clone();
                u.password_changed_at = now;
            },
            |_, _| vec!["user.password_changed"],
        )
        .await?;
        let keep = match caller {
            Caller::User(u) if !u.session.is_empty() => Some(u.session.as_str()),
            _ => None,
        };
        self.end_sessions(me, keep).await
    }
}
