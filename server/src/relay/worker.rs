//! The delivery worker: sends queued submissions and outbox mails (verification codes,
//! receipts, failure notices, expiry warnings), retries temporary failures with backoff,
//! and forgets what the retention period allows.
//!
//! Delivery is at least once: a mail is marked delivered only after the SMTP server took
//! it, and its file is deleted only after that mark. A crash in between sends it again,
//! with the same Message-ID, so the mailbox (or a human) can tell the copies apart.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, Message, header::ContentType};

use super::queue_folder::{QueueFile, QueueFolder};
use super::transport::{SendError, Transport};
use crate::clock::unix_now;
use crate::notices;
use crate::store::submissions::{DueMail, FailureKind, Submission, SubmissionState};
use crate::store::{OutboxMail, Store, StoreError};

pub struct Worker {
    pub store: Store,
    pub transport: Transport,
    pub folder: QueueFolder,
    pub mail_from: String,
    /// The domain of the return addresses, when the portal's listener takes reports;
    /// none: mails go out from `mail_from`, and nothing comes back to the portal.
    pub return_domain: Option<String>,
    /// How long the citizen's address is kept after hand-over for a late bounce.
    pub report_days: u64,
    pub delivery_hours: u64,
    pub retention_days: u64,
    pub wake: Arc<tokio::sync::Notify>,
    /// Answers, when on: their reminders and their end.
    pub answers: Option<Arc<crate::answers::Answers>>,
}

/// A mail server's words without the addresses in them: an outbox mail goes to a citizen,
/// and the log never names one.
fn redacted(reason: &str) -> String {
    reason
        .split(' ')
        .map(|word| {
            if word.contains('@') {
                "<address>"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 1, 2, 4 … minutes, at most an hour.
pub fn backoff_seconds(attempts: u32) -> u64 {
    (60u64 << attempts.min(6)).min(3600)
}

impl Worker {
    /// Runs until the process ends: whenever woken, and every few seconds.
    pub async fn run(self) {
        let start = unix_now();
        if let Err(error) = self.store.retry_queued_now(start).await {
            tracing::error!(%error, "making the queue due failed");
        }
        let mut last_purge = 0;
        loop {
            let now = unix_now();
            if let Err(error) = self.work(now).await {
                tracing::error!(%error, "the delivery worker failed; retrying");
            }
            if now >= last_purge + 3600 {
                match self.purge(now).await {
                    Ok(gone) => tracing::debug!(gone, "retention applied"),
                    Err(error) => tracing::error!(%error, "applying the retention failed"),
                }
                last_purge = now;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// One pass: every mail, then every submission due at `now`. Mails that deliveries
    /// create (failure notices) wait for the next pass, seconds later.
    pub async fn work(&self, now: u64) -> Result<(), StoreError> {
        loop {
            let mails = self.store.due_mails(now, 50).await?;
            if mails.is_empty() {
                break;
            }
            for due in &mails {
                self.send_outbox_mail(due, now).await?;
            }
        }
        loop {
            let submissions = self.store.due_submissions(now, 20).await?;
            if submissions.is_empty() {
                return Ok(());
            }
            for submission in &submissions {
                self.deliver(submission, now).await?;
            }
        }
    }

    async fn deliver(&self, submission: &Submission, now: u64) -> Result<(), StoreError> {
        let path = self.folder.mail(&submission.receipt);
        let mail = match tokio::fs::read(&path).await {
            Ok(mail) => mail,
            Err(e) => {
                tracing::error!(receipt = %submission.receipt, "the queued mail is unreadable: {e}");
                return self
                    .fail(
                        submission,
                        FailureKind::Lost,
                        "the queued mail was lost on the server",
                        now,
                    )
                    .await;
            }
        };
        let sender = self.envelope_sender(submission.return_token.as_deref());
        let result = self
            .transport
            .send(&sender, &submission.mailbox, &submission.receipt, &mail)
            .await;
        match result {
            Ok(()) => {
                let address_until = self
                    .return_domain
                    .as_ref()
                    .map(|_| now + self.report_days * 86_400);
                self.store
                    .mark_delivered(&submission.receipt, now, address_until)
                    .await?;
                let _ = tokio::fs::remove_file(&path).await;
                tracing::info!(receipt = %submission.receipt, "delivered");
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(receipt = %submission.receipt, "refused for good: {reason}");
                self.fail(submission, FailureKind::Refused, &reason, now)
                    .await?;
                let _ = tokio::fs::remove_file(&path).await;
            }
            Err(SendError::Temporary(reason)) => {
                let next = now + backoff_seconds(submission.attempts);
                let deadline = submission.accepted_at + self.delivery_hours * 3600;
                if next > deadline {
                    tracing::warn!(receipt = %submission.receipt, "not delivered in time: {reason}");
                    let reason = format!(
                        "not delivered within {} hours; last answer: {reason}",
                        self.delivery_hours
                    );
                    self.fail(submission, FailureKind::TimedOut, &reason, now)
                        .await?;
                    let _ = tokio::fs::remove_file(&path).await;
                } else {
                    tracing::info!(receipt = %submission.receipt, "delivery postponed: {reason}");
                    self.store
                        .postpone(&submission.receipt, next, &reason)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Failed for good; the citizen (if verified) hears of it, then their address goes.
    async fn fail(
        &self,
        submission: &Submission,
        kind: FailureKind,
        reason: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let notice = submission
            .citizen_address
            .as_ref()
            .map(|address| notices::delivery_failed(&submission.receipt, address));
        self.store
            .mark_failed(&submission.receipt, kind, reason, notice.as_ref(), now)
            .await
    }

    /// Sends an outbox mail; a temporary failure is tried again with the submissions'
    /// backoff until the same deadline, then given up (logged): every mail has a last try.
    async fn send_outbox_mail(&self, due: &DueMail, now: u64) -> Result<(), StoreError> {
        let mail = &due.mail;
        let bytes = match self.text_mail(mail) {
            Ok(bytes) => bytes,
            Err(reason) => {
                tracing::warn!(id = %mail.id, "an outbox mail cannot be built: {}", redacted(&reason));
                return self.store.postpone_mail(&mail.id, now, true).await;
            }
        };
        let name = mail.id.replace([':', '/'], "-");
        let sender = self.envelope_sender(due.return_token.as_deref());
        match self
            .transport
            .send(&sender, &mail.recipient, &name, &bytes)
            .await
        {
            Ok(()) => self.store.mark_mail_sent(&mail.id, now).await,
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(id = %mail.id, "an outbox mail was refused: {}", redacted(&reason));
                self.store.postpone_mail(&mail.id, now, true).await
            }
            Err(SendError::Temporary(reason)) => {
                let next = now + backoff_seconds(due.attempts);
                let last = next > due.created_at + self.delivery_hours * 3600;
                if last {
                    tracing::warn!(id = %mail.id, "an outbox mail was given up: {}", redacted(&reason));
                }
                self.store.postpone_mail(&mail.id, next, last).await
            }
        }
    }

    /// The mail's own return address, or the portal's sender.
    fn envelope_sender(&self, return_token: Option<&str>) -> String {
        match (&self.return_domain, return_token) {
            (Some(domain), Some(token)) => crate::mail::return_address(token, domain),
            _ => super::transport::envelope_address(&self.mail_from).to_owned(),
        }
    }

    fn text_mail(&self, mail: &OutboxMail) -> Result<Vec<u8>, String> {
        let from: Mailbox = self.mail_from.parse().map_err(|e| format!("{e}"))?;
        let to: Mailbox = mail.recipient.parse().map_err(|e| format!("{e}"))?;
        let message = Message::builder()
            .message_id(Some(format!(
                "<{}>",
                crate::mail::notice_message_id(&mail.id, &self.mail_from)
            )))
            .from(from)
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        Ok(message.formatted())
    }

    /// Forgets finished submissions, codes and sent mails older than the retention, and
    /// removes mail files nobody waits for.
    pub async fn purge(&self, now: u64) -> Result<u64, StoreError> {
        let gone = self
            .store
            .purge_before(now.saturating_sub(self.retention_days * 86_400))
            .await?
            + self.store.forget_report_addresses(now).await?;
        let gone = match &self.answers {
            Some(answers) => gone + answers.sweep(now).await?,
            None => gone,
        };
        for file in self.folder.files() {
            let QueueFile::Mail {
                receipt,
                path,
                modified,
            } = file
            else {
                continue;
            };
            // A file younger than an hour may belong to an upload being recorded now.
            let young = modified
                .is_some_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(3600));
            let waiting = self
                .store
                .submission(&receipt)
                .await?
                .is_some_and(|s| s.state == SubmissionState::Queued);
            if !waiting && !young {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(gone)
    }
}
