use anyhow::Context as _;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use crate::ports::{Mailer, OutgoingMail};

/// Sends through an SMTP relay given as a URL, e.g. `smtps://user:pass@smtp.example.com` or
/// `smtp://localhost:1025` (lettre's URL syntax; `?tls=required` for STARTTLS).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: Mailbox) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("mail.smtp_url is not a valid SMTP URL")?
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()> {
        let message = super::message(&self.from, &mail)?;
        self.transport
            .send(message)
            .await
            .with_context(|| format!("SMTP delivery to {}", mail.to))?;
        Ok(())
    }
}
