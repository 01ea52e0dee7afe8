//! Mailer adapters: SMTP for production (lettre), and as the embedded default a folder of
//! `.eml` files (`<data dir>/mail/`) that a developer (or a test) can open to click the link.

mod file;
mod smtp;

pub use file::FileMailer;
pub use smtp::SmtpMailer;

use anyhow::Context as _;
use lettre::Message;
use lettre::message::Mailbox;

use crate::ports::OutgoingMail;

/// The RFC 5322 message both adapters send.
fn message(from: &Mailbox, mail: &OutgoingMail) -> anyhow::Result<Message> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .with_context(|| format!("recipient {}", mail.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .context("building the message")
}
