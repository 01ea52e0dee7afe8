//! What each page says.

use super::html::{Field, form, page, para};
use crate::domain::password::{MAX_BYTES, MIN_CHARS};

/// The verify link's page: one button, which POSTs (a GET verifies nothing, so mail scanners
/// that follow links use nothing up).
pub fn confirm_email(token: &str) -> String {
    page(
        "Confirm your email address",
        &format!(
            "{}{}",
            para("Press the button to confirm that this address is yours."),
            form("/verify-email", Some(token), "", "Confirm my email")
        ),
    )
}

pub fn email_confirmed(email: &str) -> String {
    page(
        "Your email address is confirmed",
        &para(&format!(
            "Thank you: {email} is confirmed. You can close this page."
        )),
    )
}

/// An expired, used or unknown link (they are told apart to nobody), and a way to get a
/// new one.
pub fn verify_link_invalid() -> String {
    page(
        "This link no longer works",
        &format!(
            "{}{}",
            para(
                "The link is invalid, has expired, or was used already (your address may be \
                 confirmed already). Ask for a new one:"
            ),
            email_form("/verify-email/resend", "Send me a new link", None)
        ),
    )
}

pub fn ask_verify_link(error: Option<&str>) -> String {
    page(
        "Get a new confirmation link",
        &format!(
            "{}{}",
            para(
                "Enter your address; if it belongs to an account not confirmed yet, we mail it a new link."
            ),
            email_form("/verify-email/resend", "Send me a new link", error)
        ),
    )
}

/// The same answer whether or not the address belongs to anyone.
pub fn link_sent(email: &str, minutes: i64) -> String {
    page(
        "Check your mail",
        &format!(
            "{}{}",
            para(&format!(
                "If {email} belongs to an account that needs it, a link is on its way. It \
                 works for {minutes} minutes."
            )),
            para("Nothing arrived? Look in the spam folder, or ask again in a minute.")
        ),
    )
}

/// The password policy, as the form states it.
pub fn policy() -> String {
    format!(
        "At least {MIN_CHARS} characters (at most {MAX_BYTES} bytes), and not a common or \
         leaked password."
    )
}

/// Errors shown next to the reset form's fields.
#[derive(Default)]
pub struct ResetErrors<'a> {
    pub new_password: Option<&'a str>,
    pub confirm: Option<&'a str>,
}

pub fn choose_password(token: &str, errors: &ResetErrors<'_>) -> String {
    let policy = policy();
    let fields = format!(
        "{}{}",
        Field {
            name: "new_password",
            label: "New password",
            kind: "password",
            autocomplete: "new-password",
            hint: Some(&policy),
            error: errors.new_password,
        }
        .render(),
        Field {
            name: "confirm",
            label: "New password, again",
            kind: "password",
            autocomplete: "new-password",
            hint: None,
            error: errors.confirm,
        }
        .render()
    );
    page(
        "Choose a new password",
        &form(
            "/reset-password",
            Some(token),
            &fields,
            "Set my new password",
        ),
    )
}

pub fn password_changed() -> String {
    page(
        "Your password was changed",
        &format!(
            "{}{}",
            para(
                "Your new password is set. Every session signed in to your account was ended, \
                 on every device: sign in again with the new password."
            ),
            para("If you did not ask for this, ask for another reset link at once.")
        ),
    )
}

/// The password is set, but the other sessions could not be ended just now.
pub fn password_changed_sessions_left() -> String {
    page(
        "Your password was changed",
        &format!(
            "{}{}",
            para(
                "Your new password is set, but we could not sign out your other devices just \
                 now: sessions begun before the change may still be open."
            ),
            para(
                "Sign in with the new password and end your other sessions, or ask your \
                 administrator to; if you did not ask for this, do it at once."
            )
        ),
    )
}

pub fn reset_link_invalid() -> String {
    page(
        "This link no longer works",
        &format!(
            "{}{}",
            para(
                "The link is invalid, has expired, or was used already; a newer link also \
                 replaces it. Ask for a new one:"
            ),
            email_form("/reset-password/request", "Send me a reset link", None)
        ),
    )
}

pub fn ask_reset_link(error: Option<&str>) -> String {
    page(
        "Reset your password",
        &format!(
            "{}{}",
            para(
                "Enter your address; if it belongs to an account, we mail it a link to choose a new password."
            ),
            email_form("/reset-password/request", "Send me a reset link", error)
        ),
    )
}

/// A POST that came from another site's page.
pub fn cross_site() -> String {
    page(
        "This form was sent from another site",
        &para(
            "For your safety, forms on this page are only accepted from this site. Open the \
             link from your mail again.",
        ),
    )
}

/// Anything else: the service's own message (it names the problem; nothing secret).
pub fn failed(message: &str) -> String {
    page(
        "Something went wrong",
        &format!(
            "{}{}",
            para(message),
            para("Go back and try again in a moment.")
        ),
    )
}

fn email_form(action: &str, button: &str, error: Option<&str>) -> String {
    form(
        action,
        None,
        &Field {
            name: "email",
            label: "Email address",
            kind: "email",
            autocomplete: "email",
            hint: None,
            error,
        }
        .render(),
        button,
    )
}
