//! CreateUser, GetUser, GetUserByEmail, UpdateUser, DeleteUser, ListUsers.

use crate::domain::{
    DisplayName, Email, PageRequest, Password, TokenKind, User, UserId, UserPatch,
};
use crate::error::{IdentityError, Result};

use platform_clients::permissions::identity as perm;
use platform_kernel::caller::Caller;

use super::{IdentityService, access};

/// UpdateUser's raw input.
#[derive(Debug, Default)]
pub struct UpdateUserInput<'a> {
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub disabled: Option<bool>,
    pub expected_version: Option<i64>,
    /// Users changing their own email prove it is them with it.
    pub current_password: &'a str,
}

impl IdentityService {
    /// Sign-up (anyone, while sign-up is open), or an account made by a holder of
    /// `identity.users.create`.
    pub async fn create_user(
        &self,
        caller: &Caller,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<User> {
        if !self.settings.open_signup {
            self.require(caller, &perm::USERS_CREATE, None).await?;
        }
        // Cheap checks first; the password is length-checked before it is ever hashed.
        let email = Email::parse(email)?;
        let password = Password::parse("password", password)?;
        let display_name = DisplayName::parse(display_name)?;
        if self.store.find_by_email(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let now = self.clock.now();
        let user = User {
            id: UserId::new(),
            email,
            display_name,
            password_hash: self.hasher.hash(&password).await?,
            email_verified: false,
            disabled: false,
            password_changed_at: now,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        };
        let mut created = self.event("user.created", user.id);
        if created.actor.is_empty() {
            // Self-service sign-up: the new user is who acted.
            created = created.by(&user.id.to_string());
        }
        self.store.insert(&user, &[created]).await?;
        self.send_verification(&user).await?;
        Ok(user)
    }

    pub async fn get_user(&self, caller: &Caller, id: &str) -> Result<User> {
        let id = UserId::parse("id", id)?;
        self.may_read(caller, id).await?;
        self.active_user(id).await
    }

    /// A service, a holder of `identity.users.read`, or users asking for their own address.
    /// Anyone else is refused whether or not the address exists (no account enumeration).
    pub async fn get_user_by_email(&self, caller: &Caller, email: &str) -> Result<User> {
        let email = Email::parse(email)?;
        match Self::verified(caller)? {
            Some(me) => {
                let own = self.active_user(me).await.ok().filter(|u| u.email == email);
                if let Some(own) = own {
                    return Ok(own);
                }
                self.require(caller, &perm::USERS_READ, None).await?;
            }
            None => Self::may_read_as_service(caller)?,
        }
        self.store
            .find_by_email(&email)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(email.to_string()))
    }

    pub async fn update_user(
        &self,
        caller: &Caller,
        id: &str,
        input: UpdateUserInput<'_>,
    ) -> Result<User> {
        let id = UserId::parse("id", id)?;
        let patch = UserPatch {
            display_name: input.display_name.map(DisplayName::parse).transpose()?,
            email: input.email.map(Email::parse).transpose()?,
            disabled: input.disabled,
            expected_version: input.expected_version,
        };
        let me = Self::verified(caller)?;
        if me == Some(id) {
            if patch.disabled.is_some() {
                return Err(IdentityError::PermissionDenied(
                    "you cannot disable or re-enable your own account".to_owned(),
                ));
            }
        } else {
            let scope = access::resource(id);
            // An update that sets nothing still answers the record: it needs the right too.
            if patch.display_name.is_some()
                || patch.email.is_some()
                || patch.disabled.is_none()
                || me.is_none()
            {
                self.require(caller, &perm::USERS_UPDATE, Some(&scope))
                    .await?;
            }
            if patch.disabled.is_some() {
                self.require(caller, &perm::USERS_DISABLE, Some(&scope))
                    .await?;
            }
        }
        let current = self.active_user(id).await?;
        if me == Some(id) && patch.email.as_ref().is_some_and(|e| *e != current.email) {
            self.confirm_password(&current, input.current_password, "change your email")
                .await?;
        }
        if let Some(expected) = patch.expected_version
            && expected != current.version
        {
            return Err(IdentityError::StaleVersion {
                expected,
                current: current.version,
            });
        }
        let mut user = current.clone();
        if let Some(name) = patch.display_name {
            user.display_name = name;
        }
        let email_changed = patch.email.as_ref().is_some_and(|e| *e != current.email);
        if let Some(email) = patch.email {
            if email_changed {
                user.email_verified = false;
            }
            user.email = email;
        }
        if let Some(disabled) = patch.disabled {
            user.disabled = disabled;
        }
        if user == current {
            if patch.disabled == Some(true) {
                // Disabling again (say, after auth could not be reached the first time)
                // ends the sessions again: harmless when they are gone already.
                self.end_sessions(current.id, None).await?;
            }
            return Ok(current);
        }
        user.version += 1;
        user.updated_at = self.clock.now();
        let mut events = vec![self.event("user.updated", user.id)];
        if user.disabled != current.disabled {
            let kind = if user.disabled {
                "user.disabled"
            } else {
                "user.enabled"
            };
            events.push(self.event(kind, user.id));
        }
        if !self.store.update(&user, &events).await? {
            // Lost a race: report the version that won (or that the user is gone).
            let now = self.active_user(id).await?;
            return Err(IdentityError::StaleVersion {
                expected: current.version,
                current: now.version,
            });
        }
        if email_changed {
            // Links mailed to the old address stop working: they were for it.
            let now = self.clock.now();
            for kind in [TokenKind::EmailVerification, TokenKind::PasswordReset] {
                self.store.retire_tokens(user.id, kind, now).await?;
            }
            self.send_verification(&user).await?;
        }
        if user.disabled && !current.disabled {
            self.end_sessions(user.id, None).await?;
        }
        Ok(user)
    }

    /// Soft delete. Deleting an already deleted (or unknown) user is `not_found`.
    /// Needs `identity.users.delete` (on the user), for one's own account too.
    pub async fn delete_user(&self, caller: &Caller, id: &str) -> Result<()> {
        let id = UserId::parse("id", id)?;
        self.require(caller, &perm::USERS_DELETE, Some(&access::resource(id)))
            .await?;
        let now = self.clock.now();
        self.modify(
            id,
            |u| u.deleted_at = Some(now),
            |_, _| vec!["user.deleted"],
        )
        .await?;
        self.end_sessions(id, None).await
    }

    /// One page of active users, oldest first, and the token of the next page if any.
    /// A service, or a holder of `identity.users.list`.
    pub async fn list_users(
        &self,
        caller: &Caller,
        page_size: i32,
        page_token: &str,
        email_prefix: &str,
    ) -> Result<(Vec<User>, Option<String>)> {
        match Self::verified(caller)? {
            Some(_) => self.require(caller, &perm::USERS_LIST, None).await?,
            None => Self::may_read_as_service(caller)?,
        }
        let page = PageRequest::parse(page_size, page_token)?;
        let prefix = email_prefix.trim().to_lowercase();
        let prefix = (!prefix.is_empty()).then_some(prefix);
        let mut users = self.store.list(&page, prefix.as_deref()).await?;
        let next = if users.len() > page.size as usize {
            users.truncate(page.size as usize);
            users.last().map(|u| PageRequest::token_after(u.id.0))
        } else {
            None
        };
        Ok((users, next))
    }
}

#[cfg(test)]
mod tests {
    use crate::error::IdentityError;
    use crate::service::testing::Harness;
    use platform_kernel::caller::Caller;

    use super::UpdateUserInput;

    #[tokio::test]
    async fn creating_a_user_normalises_the_email_and_mails_a_verification_link() {
        let h = Harness::new();
        let user = h
            .service
            .create_user(
                &Caller::Anonymous,
                " Ada@Example.com ",
                "correct horse battery",
                "Ada",
            )
            .await
            .expect("created");
        assert_eq!(user.email.as_str(), "ada@example.com");
        assert!(!user.email_verified);
        assert_eq!(user.version, 1);
        let mail = h.mailer.last().expect("mail sent");
        assert_eq!(mail.to.as_str(), "ada@example.com");
        assert!(
            mail.body
                .contains("http://localhost:8080/verify-email?token="),
            "{}",
            mail.body
        );
        assert_eq!(h.store.event_kinds(), vec!["user.created"]);
    }

    #[tokio::test]
    async fn a_second_user_with_the_same_email_is_refused() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        let err = h
            .service
            .create_user(
                &Caller::Anonymous,
                "ADA@example.com",
                "another passphrase",
                "",
            )
            .await
            .expect_err("duplicate");
        assert!(matches!(err, IdentityError::EmailTaken), "{err}");
    }

    #[tokio::test]
    async fn bad_input_names_the_field() {
        let h = Harness::new();
        for (email, password, field) in [
            ("nope", "correct horse battery", "email:"),
            ("a@b.co", "short", "password:"),
            ("a@b.co", "password1", "password:"),
        ] {
            let err = h
                .service
                .create_user(&Caller::Anonymous, email, password, "")
                .await
                .expect_err("bad");
            assert!(err.to_string().starts_with(field), "{err}");
        }
        assert!(h.mailer.last().is_none());
    }

    #[tokio::test]
    async fn updates_with_a_stale_version_are_aborted() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        let id = user.id.to_string();
        let updated = h
            .service
            .update_user(
                &Harness::admin(),
                &id,
                UpdateUserInput {
                    display_name: Some("Countess"),
                    expected_version: Some(1),
                    ..Default::default()
                },
            )
            .await
            .expect("updated");
        assert_eq!(
            (updated.display_name.as_str(), updated.version),
            ("Countess", 2)
        );
        let err = h
            .service
            .update_user(
                &Harness::admin(),
                &id,
                UpdateUserInput {
                    display_name: Some("Again"),
                    expected_version: Some(1),
                    ..Default::default()
                },
            )
            .await
            .expect_err("stale");
        assert!(
            matches!(
                err,
                IdentityError::StaleVersion {
                    expected: 1,
                    current: 2
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn changing_the_email_unverifies_it_and_sends_a_new_link() {
        let h = Harness::new();
        let user = h.verified_user("ada@example.com").await;
        let updated = h
            .service
            .update_user(
                &Harness::admin(),
                &user.id.to_string(),
                UpdateUserInput {
                    email: Some("lovelace@example.com"),
                    ..Default::default()
                },
            )
            .await
            .expect("updated");
        assert!(!updated.email_verified);
        assert_eq!(
            h.mailer.last().expect("mail").to.as_str(),
            "lovelace@example.com"
        );
    }

    #[tokio::test]
    async fn a_deleted_user_is_not_found_and_its_email_is_free_again() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        h.service
            .delete_user(&Harness::admin(), &user.id.to_string())
            .await
            .expect("deleted");
        let err = h
            .service
            .get_user(&Harness::admin(), &user.id.to_string())
            .await
            .expect_err("gone");
        assert!(matches!(err, IdentityError::UserNotFound(_)));
        let err = h
            .service
            .delete_user(&Harness::admin(), &user.id.to_string())
            .await
            .expect_err("twice");
        assert!(matches!(err, IdentityError::UserNotFound(_)));
        h.user("ada@example.com").await;
        assert!(h.store.event_kinds().iter().any(|k| k == "user.deleted"));
    }

    #[tokio::test]
    async fn listing_pages_through_every_user_once_in_creation_order() {
        let h = Harness::new();
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(h.user(&format!("user{i}@example.com")).await.id);
        }
        h.user("other@elsewhere.org").await;
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let (page, next) = h
                .service
                .list_users(&Harness::admin(), 3, &token, "USER")
                .await
                .expect("page");
            assert!(page.len() <= 3);
            seen.extend(page.iter().map(|u| u.id));
            match next {
                Some(t) => token = t,
                None => break,
            }
        }
        assert_eq!(seen, created);
    }
}
