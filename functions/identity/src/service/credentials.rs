//! VerifyPassword (internal: for the auth service only).

use crate::domain::password::Verified;
use crate::domain::{Email, Password, PasswordHasher, User};
use crate::error::{IdentityError, Result};

use super::IdentityService;

impl IdentityService {
    /// Checks credentials. An unknown email, a malformed email and a wrong password all give
    /// `InvalidCredentials`, and all cost one argon2 verification (against a dummy hash when
    /// there is no user), so neither the answer nor its timing tells whether an account
    /// exists. A correct password stored with older hash parameters is re-hashed.
    pub async fn verify_password(
        &self,
        caller: &platform_kernel::caller::Caller,
        email: &str,
        password: &str,
    ) -> Result<User> {
        Self::may_check_passwords(caller)?;
        let user = match Email::parse(email) {
            Ok(email) => self.store.find_by_email(&email).await?,
            Err(_) => None,
        };
        // Over-long input is refused before hashing; it cannot be anyone's password.
        let password = if password.len() > crate::domain::password::MAX_BYTES {
            ""
        } else {
            password
        };
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        let verdict = self.hasher.verify(password, stored).await?;
        let user = match (verdict, user) {
            (Verified::No, _) | (_, None) => return Err(IdentityError::InvalidCredentials),
            (Verified::Yes, Some(user)) => user,
            (Verified::YesNeedsRehash, Some(user)) => self.upgrade_hash(user, password).await,
        };
        if user.disabled {
            return Err(IdentityError::UserDisabled);
        }
        Ok(user)
    }

    /// Best effort: a failed upgrade must not fail a correct login.
    async fn upgrade_hash(&self, user: User, password: &str) -> User {
        let upgraded = async {
            let hash = rehash(&self.hasher, password).await?;
            self.modify(user.id, |u| u.password_hash = hash.clone(), |_, _| vec![])
                .await
        };
        match upgraded.await {
            Ok(updated) => updated,
            Err(e) => {
                tracing::warn!(error = %e, user = %user.id, "password hash upgrade failed");
                user
            }
        }
    }
}

/// Stored passwords predate policy changes, so re-hash without re-checking the policy.
async fn rehash(hasher: &PasswordHasher, password: &str) -> Result<String> {
    Ok(hasher.hash(&Password::trusted(password)).await?)
}

#[cfg(test)]
mod tests {
    use crate::domain::password::HashParams;
    use crate::error::IdentityError;
    use crate::service::testing::Harness;
    use platform_kernel::caller::Caller;

    #[tokio::test]
    async fn unknown_email_wrong_password_and_malformed_email_answer_alike() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        for (email, password) in [
            ("nobody@example.com", Harness::PASSWORD),
            ("ada@example.com", "wrong passphrase!"),
            ("not an email", Harness::PASSWORD),
        ] {
            let err = h
                .service
                .verify_password(&Caller::service("auth"), email, password)
                .await
                .expect_err("refused");
            assert!(
                matches!(err, IdentityError::InvalidCredentials),
                "{email}: {err}"
            );
            assert_eq!(err.to_string(), "invalid email or password");
        }
        let user = h
            .service
            .verify_password(
                &Caller::service("auth"),
                "ADA@example.com",
                Harness::PASSWORD,
            )
            .await
            .expect("right password");
        assert_eq!(user.email.as_str(), "ada@example.com");
    }

    #[tokio::test]
    async fn disabled_and_deleted_users_cannot_sign_in() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        h.disable(&user).await;
        let err = h
            .service
            .verify_password(
                &Caller::service("auth"),
                "ada@example.com",
                Harness::PASSWORD,
            )
            .await;
        assert!(matches!(err, Err(IdentityError::UserDisabled)));
        let other = h.user("bob@example.com").await;
        h.service
            .delete_user(&Harness::admin(), &other.id.to_string())
            .await
            .expect("deleted");
        let err = h
            .service
            .verify_password(
                &Caller::service("auth"),
                "bob@example.com",
                Harness::PASSWORD,
            )
            .await;
        assert!(matches!(err, Err(IdentityError::InvalidCredentials)));
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_upgraded_on_the_next_successful_check() {
        let old = HashParams {
            memory_kib: 2048,
            iterations: 1,
            parallelism: 1,
        };
        let h = Harness::with_params(old);
        h.user("ada@example.com").await;
        let h = h.rebuild_with_params(HashParams {
            memory_kib: 4096,
            iterations: 2,
            parallelism: 1,
        });
        let before = h.stored_hash("ada@example.com").await;
        assert!(before.contains("m=2048,t=1"), "{before}");
        let user = h
            .service
            .verify_password(
                &Caller::service("auth"),
                "ada@example.com",
                Harness::PASSWORD,
            )
            .await
            .expect("ok");
        assert!(
            user.password_hash.contains("m=4096,t=2"),
            "{}",
            user.password_hash
        );
        assert!(
            h.stored_hash("ada@example.com")
                .await
                .contains("m=4096,t=2")
        );
        // A wrong password upgrades nothing.
        assert!(
            h.service
                .verify_password(
                    &Caller::service("auth"),
                    "ada@example.com",
                    "nope nope nope"
                )
                .await
                .is_err()
        );
    }
}
