use std::path::PathBuf;

use anyhow::Context as _;
use lettre::message::Mailbox;

use crate::ports::{Mailer, OutgoingMail};

/// Writes each message as `<folder>/<uuid v7>.eml` (names sort by time of sending).
pub struct FileMailer {
    folder: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    pub fn new(folder: PathBuf, from: Mailbox) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating mail folder {}", folder.display()))?;
        Ok(Self { folder, from })
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()> {
        let bytes = super::message(&self.from, &mail)?.formatted();
        let path = self.folder.join(format!("{}.eml", uuid::Uuid::now_v7()));
        // Write then rename, so a reader never sees half a message.
        let partial = path.with_extension("eml.partial");
        tokio::fs::write(&partial, bytes)
            .await
            .with_context(|| format!("writing {}", partial.display()))?;
        tokio::fs::rename(&partial, &path)
            .await
            .with_context(|| format!("renaming to {}", path.display()))?;
        tracing::info!(to = %mail.to, path = %path.display(), "mail written");
        Ok(())
    }
}
