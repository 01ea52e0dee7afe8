//! VerifyEmail, ResendVerification, RequestPasswordReset, ResetPassword, and the emails that
//! carry the tokens.

use crate::domain::{Email, Password, TokenKind, TokenSecret, User};
use crate::error::{IdentityError, Result};
use crate::ports::{Job, OutgoingMail, StoredToken};

use super::IdentityService;

/// How soon after the last verification link a new one may be mailed.
pub const RESEND_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The longest a queued job may take.
pub const JOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl IdentityService {
    /// Verifies the address the token was mailed to, and only while it is still the user's
    /// (a token mailed to an earlier address verifies nothing).
    pub async fn verify_email(&self, token: &str) -> Result<User> {
        let (user_id, mailed_to) = self.consume(token, TokenKind::EmailVerification).await?;
        let Some(mailed_to) = mailed_to else {
            return Err(IdentityError::InvalidToken);
        };
        let user = self
            .modify(
                user_id,
                |u| {
                    if u.email == mailed_to {
                        u.email_verified = true;
                    }
                },
                |before, after| {
                    if after.email_verified && !before.email_verified {
                        vec!["user.email_verified"]
                    } else {
                        vec![]
                    }
                },
            )
            .await?;
        if user.email != mailed_to || !user.email_verified {
            return Err(IdentityError::InvalidToken);
        }
        if self.settings.bootstrap_admin.as_ref() == Some(&user.email)
            && let Err(e) = self.bootstrap_admin().await
        {
            // Verified all the same; the start-up task keeps trying.
            tracing::error!(error = %e, "assigning the bootstrap administrator failed");
        }
        Ok(user)
    }

    /// Whether a mailed link's token would still work, without using it: the pages' GET
    /// says at once that a link is used or expired (a mail scanner's GET uses nothing).
    pub async fn link_works(&self, token: &str, kind: TokenKind) -> Result<bool> {
        if token.trim().is_empty() {
            return Ok(false);
        }
        let secret = TokenSecret::from_user(token);
        self.store
            .token_is_live(&secret.hash(), kind, self.clock.now())
            .await
    }

    /// Answers the same, in the same time, whether or not the email belongs to a user, so it
    /// cannot be used to find out who has an account: the request only queues the work
    /// ([`Job::PasswordReset`], done by [`IdentityService::run`]). A malformed email is still
    /// `invalid_argument`.
    pub async fn request_password_reset(&self, email: &str) -> Result<()> {
        let email = Email::parse(email)?;
        self.jobs.submit(Job::PasswordReset { email })
    }

    /// Like [`IdentityService::request_password_reset`]: answers alike for every address and
    /// only queues [`Job::Verification`]; a new link is mailed to an active user whose address
    /// is not verified yet (earlier links keep working until they expire).
    pub async fn resend_verification(&self, email: &str) -> Result<()> {
        let email = Email::parse(email)?;
        self.jobs.submit(Job::Verification { email })
    }

    /// Does a queued job, within [`JOB_TIMEOUT`] (a stuck mail server does not hold the
    /// queue). Failures are logged: nobody waits for the answer.
    pub async fn run(&self, job: Job) {
        let work = async {
            match job {
                Job::PasswordReset { email } => self.mail_password_reset(&email).await,
                Job::Verification { email } => self.mail_verification(&email).await,
            }
        };
        match tokio::time::timeout(JOB_TIMEOUT, work).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "a queued job failed"),
            Err(_) => {
                tracing::error!(timeout = ?JOB_TIMEOUT, "a queued job took too long and was dropped")
            }
        }
    }

    async fn mail_verification(&self, email: &Email) -> Result<()> {
        match self.store.find_by_email(email).await? {
            Some(user) if !user.email_verified && !user.disabled => {
                // At most one link a minute to an address (asking again floods nobody's
                // mailbox), and only the newest works.
                let now = self.clock.now();
                let last = self
                    .store
                    .last_token_at(user.id, TokenKind::EmailVerification)
                    .await?;
                if last.is_some_and(|at| now - at < RESEND_AFTER) {
                    tracing::info!("a new verification link was asked for within a minute");
                    return Ok(());
                }
                self.store
                    .retire_tokens(user.id, TokenKind::EmailVerification, now)
                    .await?;
                self.send_verification(&user).await
            }
            _ => {
                tracing::info!("a verification mail was asked for an unknown or verified email");
                Ok(())
            }
        }
    }

    async fn mail_password_reset(&self, email: &Email) -> Result<()> {
        let Some(user) = self.store.find_by_email(email).await? else {
            tracing::info!("password reset requested for an unknown email");
            return Ok(());
        };
        // A disabled account cannot sign in with any password: a link would only mislead.
        if user.disabled {
            tracing::info!(user = %user.id, "password reset requested for a disabled user");
            return Ok(());
        }
        let token = self.issue(&user, TokenKind::PasswordReset).await?;
        self.store
            .record(&[self.event("user.password_reset_requested", user.id)])
            .await?;
        let link = self.link("reset-password", token.as_str());
        self.mail(OutgoingMail {
            to: user.email.clone(),
            subject: "Reset your password".to_owned(),
            body: format!(
                "Someone asked to reset the password of your account.\n\n\
                 To choose a new password, open this link within {} minutes:\n\n{link}\n\n\
                 If it was not you, ignore this message; your password stays as it is.\n",
                self.settings.reset_ttl.num_minutes()
            ),
        })
        .await;
        Ok(())
    }

    /// Sets a new password. Every other outstanding reset token of the user stops working,
    /// and `password_changed_at` moves so that sessions begun before it can be ended.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<()> {
        // Check the password before burning the token, so a rejected password can be retried.
        let password = Password::parse("new_password", new_password)?;
        let (user_id, _) = self.consume(token, TokenKind::PasswordReset).await?;
        let hash = self.hasher.hash(&password).await?;
        let now = self.clock.now();
        self.modify(
            user_id,
            |u| {
                u.password_hash = hash.clone();
                u.password_changed_at = now;
            },
            |_, _| vec!["user.password_reset"],
        )
        .await?;
        self.store
            .retire_tokens(user_id, TokenKind::PasswordReset, now)
            .await?;
        // Whoever had the old password (or a session from it) is signed out everywhere.
        self.end_sessions(user_id, None).await
    }

    pub(super) async fn send_verification(&self, user: &User) -> Result<()> {
        let token = self.issue(user, TokenKind::EmailVerification).await?;
        let link = self.link("verify-email", token.as_str());
        self.mail(OutgoingMail {
            to: user.email.clone(),
            subject: "Confirm your email address".to_owned(),
            body: format!(
                "Welcome{}!\n\nTo confirm that this is your email address, open this link \
                 within {} hours:\n\n{link}\n",
                if user.display_name.as_str().is_empty() {
                    String::new()
                } else {
                    format!(", {}", user.display_name.as_str())
                },
                self.settings.verification_ttl.num_hours()
            ),
        })
        .await;
        Ok(())
    }

    async fn issue(&self, user: &User, kind: TokenKind) -> Result<TokenSecret> {
        let secret = TokenSecret::generate();
        let now = self.clock.now();
        let ttl = match kind {
            TokenKind::EmailVerification => self.settings.verification_ttl,
            TokenKind::PasswordReset => self.settings.reset_ttl,
        };
        self.store
            .insert_token(&StoredToken {
                hash: secret.hash(),
                user_id: user.id,
                kind,
                created_at: now,
                expires_at: now + ttl,
                email: Some(user.email.clone()),
            })
            .await?;
        Ok(secret)
    }

    async fn consume(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<(crate::domain::UserId, Option<crate::domain::Email>)> {
        if token.trim().is_empty() {
            return Err(IdentityError::invalid("token", "is required"));
        }
        let secret = TokenSecret::from_user(token);
        self.store
            .consume_token(&secret.hash(), kind, self.clock.now())
            .await?
            .ok_or(IdentityError::InvalidToken)
    }

    /// Mail failures do not fail the request (the change is made; the user can ask again).
    async fn mail(&self, mail: OutgoingMail) {
        let to = mail.to.to_string();
        if let Err(e) = self.mailer.send(mail).await {
            tracing::error!(error = %e, %to, "sending mail failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use platform_kernel::caller::Caller;

    use crate::domain::Email;
    use crate::error::IdentityError;
    use crate::ports::Job;
    use crate::service::testing::Harness;

    #[tokio::test]
    async fn the_link_in_the_welcome_mail_verifies_the_email_once() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        let token = h.mailer.last_token().expect("token in mail");
        let verified = h.service.verify_email(&token).await.expect("verified");
        assert!(verified.email_verified);
        assert_eq!(verified.id, user.id);
        let again = h
            .service
            .verify_email(&token)
            .await
            .expect_err("single use");
        assert!(matches!(again, IdentityError::InvalidToken));
    }

    #[tokio::test]
    async fn an_expired_verification_token_is_refused() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        let token = h.mailer.last_token().expect("token");
        h.clock.advance(Duration::hours(24) + Duration::seconds(1));
        let err = h.service.verify_email(&token).await.expect_err("expired");
        assert!(matches!(err, IdentityError::InvalidToken));
    }

    #[tokio::test]
    async fn a_reset_token_is_not_a_verification_token() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        h.request_reset("ada@example.com").await;
        let reset = h.mailer.last_token().expect("token");
        assert!(h.service.verify_email(&reset).await.is_err());
    }

    #[tokio::test]
    async fn resetting_the_password_changes_it_and_records_when() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        h.clock.advance(Duration::minutes(5));
        h.request_reset(" ADA@example.com").await;
        let first = h.mailer.last_token().expect("token");
        h.request_reset("ada@example.com").await;
        let second = h.mailer.last_token().expect("token");
        h.service
            .reset_password(&second, "a brand new passphrase")
            .await
            .expect("reset");
        let after = h
            .service
            .verify_password(
                &Caller::service("auth"),
                "ada@example.com",
                "a brand new passphrase",
            )
            .await
            .expect("new password works");
        assert!(after.password_changed_at > user.password_changed_at);
        assert!(
            h.service
                .verify_password(
                    &Caller::service("auth"),
                    "ada@example.com",
                    Harness::PASSWORD
                )
                .await
                .is_err()
        );
        // The other outstanding token died with the reset, and the used one is spent.
        for token in [first, second] {
            let err = h
                .service
                .reset_password(&token, "yet another passphrase")
                .await;
            assert!(matches!(err, Err(IdentityError::InvalidToken)));
        }
        assert!(
            h.store
                .event_kinds()
                .iter()
                .any(|k| k == "user.password_reset")
        );
    }

    #[tokio::test]
    async fn a_new_verification_link_goes_only_to_an_unverified_user_and_works() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        h.verified_user("bob@example.com").await;
        let welcome = h.mailer.last_token_to("ada@example.com").expect("welcome");
        let sent = h.mailer.count();
        // Within a minute of the welcome mail: nothing more.
        h.service
            .resend_verification("ada@example.com")
            .await
            .expect("asked");
        h.run_jobs().await;
        assert_eq!(h.mailer.count(), sent, "at most one link a minute");
        h.clock.advance(Duration::minutes(2));
        for email in ["ada@example.com", "bob@example.com", "nobody@example.com"] {
            h.service
                .resend_verification(email)
                .await
                .expect("the same answer");
        }
        assert_eq!(
            h.mailer.count(),
            sent,
            "nothing is looked up on the request path"
        );
        h.run_jobs().await;
        assert_eq!(
            h.mailer.count(),
            sent + 1,
            "only the unverified user is mailed"
        );
        let token = h
            .mailer
            .last_token_to("ada@example.com")
            .expect("a new link");
        assert!(
            matches!(
                h.service.verify_email(&welcome).await,
                Err(IdentityError::InvalidToken)
            ),
            "only the newest link works"
        );
        let user = h.service.verify_email(&token).await.expect("it verifies");
        assert!(user.email_verified);
        let err = h.service.resend_verification("not an address").await;
        assert!(
            matches!(err, Err(IdentityError::InvalidArgument { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_disabled_user_gets_no_reset_link() {
        let h = Harness::new();
        let user = h.user("ada@example.com").await;
        h.disable(&user).await;
        let sent = h.mailer.count();
        h.request_reset("ada@example.com").await;
        assert_eq!(h.mailer.count(), sent, "nothing sent, and the same answer");
    }

    #[tokio::test]
    async fn a_reset_token_expires_after_an_hour() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        h.request_reset("ada@example.com").await;
        let token = h.mailer.last_token().expect("token");
        h.clock.advance(Duration::minutes(61));
        let err = h
            .service
            .reset_password(&token, "a brand new passphrase")
            .await;
        assert!(matches!(err, Err(IdentityError::InvalidToken)));
    }

    #[tokio::test]
    async fn a_weak_new_password_keeps_the_token_usable() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        h.request_reset("ada@example.com").await;
        let token = h.mailer.last_token().expect("token");
        assert!(h.service.reset_password(&token, "short").await.is_err());
        h.service
            .reset_password(&token, "a brand new passphrase")
            .await
            .expect("token still valid");
    }

    #[tokio::test]
    async fn a_reset_request_does_the_same_work_for_unknown_emails_and_mails_only_a_user() {
        let h = Harness::new();
        h.user("ada@example.com").await;
        let sent = h.mailer.count();
        for email in ["ada@example.com", "nobody@example.com"] {
            h.service
                .request_password_reset(email)
                .await
                .expect("the same answer");
        }
        // On the request path nothing was looked up, stored or sent for either: the two
        // requests did the same (queue the address), so they take the same time.
        assert_eq!(h.mailer.count(), sent);
        assert_eq!(
            h.jobs.take(),
            ["ada@example.com", "nobody@example.com"]
                .map(|e| Job::PasswordReset {
                    email: Email::parse(e).expect("email")
                })
                .to_vec()
        );
        h.request_reset("nobody@example.com").await;
        assert_eq!(h.mailer.count(), sent, "an unknown address gets nothing");
        h.request_reset("ada@example.com").await;
        assert_eq!(h.mailer.count(), sent + 1, "a user's address gets the link");
        let err = h
            .service
            .request_password_reset("not an address")
            .await
            .expect_err("malformed");
        assert!(
            matches!(err, IdentityError::InvalidArgument { .. }),
            "{err:?}"
        );
    }
}
