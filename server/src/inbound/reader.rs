//! Reads the mails the listener took and applies what they report. A report counts only
//! when it came to the return address of the very mail it names by Message-ID: the
//! token says which mail, the Message-ID that the report is about it. Anything else is
//! dropped and counted by its outcome; nothing is ever answered (no backscatter), and a
//! bounce of the portal's own notices never causes another notice.

use std::sync::Arc;
use std::time::Duration;

use super::InboundFolder;
use super::authenticity::{Authenticity, Envelope};
use super::report::{self, Disposition, Reading, Verdict};
use crate::clock::unix_now;
use crate::notices;
use crate::store::inbound::{InboundMail, ReturnTarget};
use crate::store::submissions::{ReportKind, Submission};
use crate::store::{Store, StoreError};

pub struct Reader {
    pub store: Store,
    pub folder: InboundFolder,
    /// DKIM and SPF of the reports; none when no resolver could be set up (every report
    /// is then an unverified one).
    pub authenticity: Option<std::sync::Arc<Authenticity>>,
    /// The domain of the mail server the portal hands its mail to (a bounce from there
    /// counts as the authority's side), when the SMTP host is a name.
    pub relay_domain: Option<String>,
    /// The portal's sender, whose domain the notices' Message-IDs carry.
    pub mail_from: String,
    pub wake: Arc<tokio::sync::Notify>,
    /// Wakes the delivery worker when a notice was queued.
    pub worker: Arc<tokio::sync::Notify>,
}

/// What became of one mail; recorded (and counted) by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A relayed message bounced: failed after hand-over, the citizen told.
    Bounced,
    /// A delay report, noted on the status.
    Delayed,
    /// A confirmation of receipt, shown on the status.
    Confirmed,
    /// A verification code bounced: the form says so.
    CodeBounced,
    /// A bounce of another notice of the portal's: nothing more is sent.
    NoticeBounced,
    /// It names no Message-ID the portal sent with this return address.
    Unmatched,
    /// A report about a message that was not (or no longer) handed over, or one that
    /// changes nothing (a delay after a confirmation, a success report).
    Stale,
    /// An automatic reply, or no report at all.
    NotAReport,
    /// Its file was gone.
    Lost,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Bounced => "bounced",
            Outcome::Delayed => "delayed",
            Outcome::Confirmed => "confirmed",
            Outcome::CodeBounced => "code_bounced",
            Outcome::NoticeBounced => "notice_bounced",
            Outcome::Unmatched => "dropped_unmatched",
            Outcome::Stale => "dropped_stale",
            Outcome::NotAReport => "dropped_not_a_report",
            Outcome::Lost => "lost",
        }
    }
}

impl Reader {
    pub async fn run(self) {
        loop {
            if let Err(error) = self.read_all(unix_now()).await {
                tracing::error!(%error, "reading received mail failed; retrying");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// Reads every mail waiting.
    pub async fn read_all(&self, now: u64) -> Result<(), StoreError> {
        loop {
            let mails = self.store.unread_inbound(50).await?;
            if mails.is_empty() {
                return Ok(());
            }
            for mail in &mails {
                let outcome = self.read_one(mail, now).await?;
                self.store
                    .finish_inbound(&mail.id, outcome.name(), now)
                    .await?;
                let _ = std::fs::remove_file(self.folder.mail(&mail.id));
                tracing::info!(inbound = %mail.id, outcome = outcome.name(), "a received mail was read");
            }
        }
    }

    async fn read_one(&self, mail: &InboundMail, now: u64) -> Result<Outcome, StoreError> {
        let Ok(raw) = std::fs::read(self.folder.mail(&mail.id)) else {
            return Ok(Outcome::Lost);
        };
        let reading = report::read(&raw);
        let Some(target) = self.store.return_target(&mail.return_token).await? else {
            // The mail it answers is past the retention.
            return Ok(Outcome::Unmatched);
        };
        match target {
            ReturnTarget::Submission(submission) => {
                if !names(&reading, &submission.message_id) {
                    return Ok(Outcome::Unmatched);
                }
                let bounce = matches!(reading.verdict, Verdict::Failed { .. });
                let verified = self.vouched(&raw, mail, &submission.mailbox, bounce).await;
                self.apply(&submission, &reading.verdict, verified, now)
                    .await
            }
            ReturnTarget::Mail { id } => {
                let message_id = crate::mail::notice_message_id(&id, &self.mail_from);
                if !names(&reading, &message_id) {
                    return Ok(Outcome::Unmatched);
                }
                if !matches!(reading.verdict, Verdict::Failed { .. }) {
                    return Ok(Outcome::NotAReport);
                }
                match id.strip_prefix("code:") {
                    Some(code_id) => {
                        self.store.mark_code_bounced(code_id, now).await?;
                        Ok(Outcome::CodeBounced)
                    }
                    None => Ok(Outcome::NoticeBounced),
                }
            }
        }
    }

    /// Whether DKIM or SPF vouches for the report as the authority's (its mailbox's
    /// domain), or for a bounce as that of the server the mail was handed to.
    async fn vouched(&self, raw: &[u8], mail: &InboundMail, mailbox: &str, bounce: bool) -> bool {
        let Some(authenticity) = &self.authenticity else {
            return false;
        };
        let Ok(client_ip) = mail.client_ip.parse() else {
            return false;
        };
        let mut domains: Vec<&str> = mailbox
            .rsplit_once('@')
            .map(|(_, d)| d)
            .into_iter()
            .collect();
        if bounce && let Some(relay) = &self.relay_domain {
            domains.push(relay);
        }
        let envelope = Envelope {
            client_ip,
            helo: &mail.helo,
            mail_from: &mail.mail_from,
        };
        authenticity.vouches(raw, &envelope, &domains).await
    }

    async fn apply(
        &self,
        submission: &Submission,
        verdict: &Verdict,
        verified: bool,
        now: u64,
    ) -> Result<Outcome, StoreError> {
        let receipt = &submission.receipt;
        let (kind, detail) = match verdict {
            Verdict::Failed { detail } => {
                let notice = submission
                    .citizen_address
                    .as_deref()
                    .map(|address| notices::bounced(receipt, address));
                let bounced = self
                    .store
                    .record_bounce(receipt, detail, verified, notice.as_ref(), now)
                    .await?;
                if !bounced {
                    return Ok(Outcome::Stale);
                }
                self.worker.notify_one();
                return Ok(Outcome::Bounced);
            }
            Verdict::Delayed { detail } => (ReportKind::Delayed, detail),
            Verdict::Disposition {
                disposition,
                detail,
            } => match disposition {
                Disposition::Displayed => (ReportKind::Opened, detail),
                Disposition::Deleted => (ReportKind::Deleted, detail),
                Disposition::Other => (ReportKind::Received, detail),
            },
            Verdict::Delivered => return Ok(Outcome::Stale),
            Verdict::AutoReply | Verdict::Unknown => return Ok(Outcome::NotAReport),
        };
        let recorded = self
            .store
            .record_report(receipt, kind, detail, verified, now)
            .await?;
        Ok(match (recorded, kind) {
            (false, _) => Outcome::Stale,
            (true, ReportKind::Delayed) => Outcome::Delayed,
            (true, _) => Outcome::Confirmed,
        })
    }
}

/// Whether the report names `message_id` (as sent, without angle brackets).
fn names(reading: &Reading, message_id: &str) -> bool {
    let wanted = message_id.to_ascii_lowercase();
    reading.message_ids.contains(&wanted)
}
