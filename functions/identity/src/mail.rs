//! Mailer adapters: SMTP for production (lettre), and as the embedded default a folder of
//! `.eml` files (`<data dir>/mail/`) that a developer (or a test) can open to click the link.

mod file;
mod smtp;

pub use file::FileMailer;
pub use smtp::SmtpMailer;

use anyhow::Context as _;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};

use crate::ports::OutgoingMail;

/// The RFC 5322 message both adapters send.
fn message(from: &Mailbox, mail: &OutgoingMail) -> anyhow::Result<Message> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .with_context(|| format!("recipient {}", mail.to))?;
    // Plain 7bit keeps links on one line, so they can be clicked in the .eml file; lettre
    // would pick quoted-printable for lines over 76 characters and break them. RFC 5322
    // allows 998; anything else (non-ASCII names) gets lettre's own choice.
    let text = mail.body.replace("\r\n", "\n");
    let body = if text.is_ascii() && text.lines().all(|l| l.len() <= 998) {
        Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(text)
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(body),
        )
        .context("building the message")
}
