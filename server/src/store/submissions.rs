//! The relay's tables: verification codes, submissions, and the outbox's sending state.
//! (Apart from `store/mod.rs`, so that the directory's part stays readable on its own.)

use smime::names::Named;
use sqlx::Row;

use super::{OutboxMail, Store, StoreError};

/// A verification code as stored (HMACs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub id: String,
    pub code_hmac: String,
    pub expires_at: u64,
    pub attempts: u32,
}

/// A value kept in a text column under its name (the S/MIME core's table of names).
fn parse<T: Named>(what: &'static str, text: &str) -> Result<T, StoreError> {
    T::NAMES
        .iter()
        .find(|(_, name)| *name == text)
        .map(|(value, _)| *value)
        .ok_or_else(|| StoreError::Corrupt {
            what,
            detail: text.to_owned(),
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionState {
    Queued,
    /// Handed to the next mail server.
    Delivered,
    /// Not handed over, for good.
    Failed,
    /// Handed over, then reported undeliverable (a DSN with `Action: failed`).
    Bounced,
}

impl Named for SubmissionState {
    const NAMES: &'static [(Self, &'static str)] = &[
        (SubmissionState::Queued, "queued"),
        (SubmissionState::Delivered, "delivered"),
        (SubmissionState::Failed, "failed"),
        (SubmissionState::Bounced, "bounced"),
    ];
}

/// What a report after hand-over said, short of a bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// A DSN with `Action: delayed`: still trying.
    Delayed,
    /// An MDN with a disposition other than displayed or deleted.
    Received,
    /// An MDN `displayed`.
    Opened,
    /// An MDN `deleted`: removed unread.
    Deleted,
}

impl Named for ReportKind {
    const NAMES: &'static [(Self, &'static str)] = &[
        (ReportKind::Delayed, "delayed"),
        (ReportKind::Received, "received"),
        (ReportKind::Opened, "opened"),
        (ReportKind::Deleted, "deleted"),
    ];
}

/// A report as recorded: what it said (a bounce's words too), when, and whether DKIM or
/// SPF vouched for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// None for a bounce (the state says so).
    pub kind: Option<ReportKind>,
    pub at: u64,
    pub detail: String,
    pub verified: bool,
}

/// Why a submission failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The mail server refused it (5xx).
    Refused,
    /// Not delivered within the delivery deadline.
    TimedOut,
    /// The queued mail could not be read on the server.
    Lost,
}

impl Named for FailureKind {
    const NAMES: &'static [(Self, &'static str)] = &[
        (FailureKind::Refused, "refused"),
        (FailureKind::TimedOut, "timed_out"),
        (FailureKind::Lost, "lost"),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub receipt: String,
    pub form_slug: String,
    pub mailbox: String,
    pub message_id: String,
    pub mail_bytes: u64,
    pub citizen_address: Option<String>,
    pub state: SubmissionState,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Set once the state is `Failed`.
    pub failure: Option<FailureKind>,
    pub accepted_at: u64,
    pub finished_at: Option<u64>,
    /// The token of the mail's return address (none before the return path existed).
    pub return_token: Option<String>,
    pub receipt_requested: bool,
    /// The last report after hand-over.
    pub report: Option<StoredReport>,
}

/// An outbox mail due now, with how often it was tried and since when it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMail {
    pub mail: OutboxMail,
    pub return_token: Option<String>,
    pub attempts: u32,
    pub created_at: u64,
}

/// What acceptance records.
pub struct NewSubmission<'a> {
    pub receipt: &'a str,
    pub status_token_hash: &'a str,
    pub form_slug: &'a str,
    pub mailbox: &'a str,
    pub message_id: &'a str,
    pub mail_bytes: u64,
    pub citizen_address: Option<&'a str>,
    pub accepted_at: u64,
    pub return_token: &'a str,
    pub receipt_requested: bool,
    /// The conversation this message opens.
    pub opens: Option<super::conversations::OpenedConversation<'a>>,
    /// The live conversation this message continues (written again from its status page).
    pub continues: Option<&'a str>,
}

pub(super) fn submission(row: &sqlx::sqlite::SqliteRow) -> Result<Submission, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Submission {
        receipt: row.try_get("receipt")?,
        form_slug: row.try_get("form_slug")?,
        mailbox: row.try_get("mailbox")?,
        message_id: row.try_get("message_id")?,
        mail_bytes: row.try_get::<i64, _>("mail_bytes")? as u64,
        citizen_address: row.try_get("citizen_address")?,
        state: parse("submission state", &state)?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_error: row.try_get("last_error")?,
        failure: row
            .try_get::<Option<String>, _>("failure_kind")?
            .as_deref()
            .map(|kind| parse("failure kind", kind))
            .transpose()?,
        accepted_at: row.try_get::<i64, _>("accepted_at")? as u64,
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")?
            .map(|t| t as u64),
        return_token: row.try_get("return_token")?,
        receipt_requested: row.try_get::<i64, _>("receipt_requested")? != 0,
        report: stored_report(row)?,
    })
}

fn stored_report(row: &sqlx::sqlite::SqliteRow) -> Result<Option<StoredReport>, StoreError> {
    let Some(at) = row.try_get::<Option<i64>, _>("report_at")? else {
        return Ok(None);
    };
    Ok(Some(StoredReport {
        kind: row
            .try_get::<Option<String>, _>("report_kind")?
            .as_deref()
            .map(|kind| parse("report kind", kind))
            .transpose()?,
        at: at as u64,
        detail: row
            .try_get::<Option<String>, _>("report_detail")?
            .unwrap_or_default(),
        verified: row.try_get::<Option<i64>, _>("report_verified")? == Some(1),
    }))
}

impl Store {
    /// Records a code and the mail that carries it, together, unless the address already
    /// has `limits` codes (each a count and since when): then it answers which limit, by
    /// its index. Count and insert are one transaction that holds the write lock from its
    /// start, so simultaneous requests cannot all see room for one more.
    pub async fn insert_code_within(
        &self,
        code: &StoredCode,
        address_hmac: &str,
        form_slug: &str,
        mail: &OutboxMail,
        now: u64,
        limits: &[(u32, u64)],
    ) -> Result<Result<(), usize>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (index, &(most, since)) in limits.iter().enumerate() {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM verification_codes \
                 WHERE address_hmac = ? AND created_at >= ?",
            )
            .bind(address_hmac)
            .bind(since as i64)
            .fetch_one(&mut *tx)
            .await?;
            if row.try_get::<i64, _>("n")? >= i64::from(most) {
                return Ok(Err(index));
            }
        }
        sqlx::query(
            "INSERT INTO verification_codes (id, address_hmac, form_slug, code_hmac, created_at, \
             expires_at, attempts) VALUES (?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(&code.id)
        .bind(address_hmac)
        .bind(form_slug)
        .bind(&code.code_hmac)
        .bind(now as i64)
        .bind(code.expires_at as i64)
        .execute(&mut *tx)
        .await?;
        super::insert_mail(&mut tx, mail, now).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The newest code for this address and form.
    pub async fn latest_code(
        &self,
        address_hmac: &str,
        form_slug: &str,
    ) -> Result<Option<StoredCode>, StoreError> {
        let row = sqlx::query(
            "SELECT id, code_hmac, expires_at, attempts FROM verification_codes \
             WHERE address_hmac = ? AND form_slug = ? ORDER BY created_at DESC, id LIMIT 1",
        )
        .bind(address_hmac)
        .bind(form_slug)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredCode {
                id: row.try_get("id")?,
                code_hmac: row.try_get("code_hmac")?,
                expires_at: row.try_get::<i64, _>("expires_at")? as u64,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
            })
        })
        .transpose()
    }

    /// Takes one of a code's `most` attempts before its comparison, in one statement, so
    /// that simultaneous guesses cannot share an attempt. Answers the attempts made with
    /// this one, or none when they were all taken.
    pub async fn take_code_attempt(&self, id: &str, most: u32) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "UPDATE verification_codes SET attempts = attempts + 1 \
             WHERE id = ? AND attempts < ? RETURNING attempts",
        )
        .bind(id)
        .bind(i64::from(most))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok(row.try_get::<i64, _>("attempts")? as u32))
            .transpose()
    }

    /// Uses a code up, once: false when another request used it first. Its row stays (until
    /// retention) for the limit on codes per address.
    pub async fn spend_code(&self, id: &str, code_hmac: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE verification_codes SET code_hmac = '', attempts = 1000 \
             WHERE id = ? AND code_hmac = ?",
        )
        .bind(id)
        .bind(code_hmac)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an accepted submission (and the citizen's receipt mail, if any) in one
    /// transaction. The mail file is already synced to disk.
    pub async fn insert_submission(
        &self,
        new: &NewSubmission<'_>,
        receipt_mail: Option<&OutboxMail>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO submissions (receipt, status_token_hash, form_slug, mailbox, message_id, \
             mail_bytes, citizen_address, state, attempts, next_attempt_at, accepted_at, \
             return_token, receipt_requested, conversation_alias) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)",
        )
        .bind(new.receipt)
        .bind(new.status_token_hash)
        .bind(new.form_slug)
        .bind(new.mailbox)
        .bind(new.message_id)
        .bind(new.mail_bytes as i64)
        .bind(new.citizen_address)
        .bind(new.accepted_at as i64)
        .bind(new.accepted_at as i64)
        .bind(new.return_token)
        .bind(i64::from(new.receipt_requested))
        .bind(new.opens.map(|c| c.alias).or(new.continues))
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = receipt_mail {
            super::insert_mail(&mut tx, mail, new.accepted_at).await?;
        }
        if let Some(conversation) = new.opens {
            let opened = super::conversations::open_conversation(
                &mut tx,
                &conversation,
                new.receipt,
                new.accepted_at,
            )
            .await?;
            if !opened {
                return Err(StoreError::ConversationGone);
            }
        }
        if let Some(alias) = new.continues {
            // Closed or ended while the upload came in: its mail would come from an alias
            // that no longer takes the authority's Reply.
            if !super::conversations::is_live(&mut tx, alias, new.accepted_at).await? {
                return Err(StoreError::ConversationGone);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn submission_by_status_token(
        &self,
        status_token_hash: &str,
    ) -> Result<Option<Submission>, StoreError> {
        sqlx::query("SELECT * FROM submissions WHERE status_token_hash = ?")
            .bind(status_token_hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(submission)
            .transpose()
    }

    pub async fn submission(&self, receipt: &str) -> Result<Option<Submission>, StoreError> {
        sqlx::query("SELECT * FROM submissions WHERE receipt = ?")
            .bind(receipt)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(submission)
            .transpose()
    }

    /// Queued submissions whose next attempt is due, oldest first.
    pub async fn due_submissions(
        &self,
        now: u64,
        limit: u32,
    ) -> Result<Vec<Submission>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM submissions WHERE state = 'queued' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, accepted_at LIMIT ?",
        )
        .bind(now as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(submission).collect()
    }

    /// Makes every waiting submission due now: after a restart (the operator may have
    /// fixed what stopped delivery) nobody should wait out an old backoff.
    pub async fn retry_queued_now(&self, now: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE submissions SET next_attempt_at = ? WHERE state = 'queued'")
            .bind(now as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE outbox SET next_attempt_at = ? WHERE sent_at IS NULL")
            .bind(now as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The bytes of all mails still waiting (the queue size guard).
    pub async fn queued_bytes(&self) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(mail_bytes), 0) AS n FROM submissions WHERE state = 'queued'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }

    /// Handed over. The citizen's address stays until `address_until` for a report
    /// that may still come (a bounce notice); without a listener (none) it goes now.
    pub async fn mark_delivered(
        &self,
        receipt: &str,
        now: u64,
        address_until: Option<u64>,
    ) -> Result<(), StoreError> {
        let query = match address_until {
            Some(_) => {
                "UPDATE submissions SET state = ?, finished_at = ?, address_until = ?, \
                 last_error = NULL WHERE receipt = ?"
            }
            None => {
                "UPDATE submissions SET state = ?, finished_at = ?, address_until = ?, \
                 citizen_address = NULL, last_error = NULL WHERE receipt = ?"
            }
        };
        sqlx::query(query)
            .bind(SubmissionState::Delivered.name())
            .bind(now as i64)
            .bind(address_until.map(|t| t as i64))
            .bind(receipt)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the addresses kept for reports that did not come in time.
    pub async fn forget_report_addresses(&self, now: u64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE submissions SET citizen_address = NULL \
             WHERE citizen_address IS NOT NULL AND address_until < ?",
        )
        .bind(now as i64)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// A bounce after hand-over: the state turns `bounced`, the citizen's notice is
    /// queued and their address forgotten, in one transaction. Only a handed-over
    /// message can bounce; answers whether this one did now.
    pub async fn record_bounce(
        &self,
        receipt: &str,
        detail: &str,
        verified: bool,
        notice: Option<&OutboxMail>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE submissions SET state = ?, report_kind = NULL, report_at = ?, \
             report_detail = ?, report_verified = ?, citizen_address = NULL \
             WHERE receipt = ? AND state = ?",
        )
        .bind(SubmissionState::Bounced.name())
        .bind(now as i64)
        .bind(detail)
        .bind(i64::from(verified))
        .bind(receipt)
        .bind(SubmissionState::Delivered.name())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed && let Some(mail) = notice {
            super::insert_mail(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// A report short of a bounce on a handed-over message. A final one (an MDN) ends
    /// the wait for reports, and the citizen's address goes; a delay does not replace
    /// an MDN. Answers whether anything changed.
    pub async fn record_report(
        &self,
        receipt: &str,
        kind: ReportKind,
        detail: &str,
        verified: bool,
        now: u64,
    ) -> Result<bool, StoreError> {
        let final_report = kind != ReportKind::Delayed;
        let query = if final_report {
            "UPDATE submissions SET report_kind = ?, report_at = ?, report_detail = ?, \
             report_verified = ?, citizen_address = NULL WHERE receipt = ? AND state = ?"
        } else {
            "UPDATE submissions SET report_kind = ?, report_at = ?, report_detail = ?, \
             report_verified = ? WHERE receipt = ? AND state = ? \
             AND (report_kind IS NULL OR report_kind = 'delayed')"
        };
        let done = sqlx::query(query)
            .bind(kind.name())
            .bind(now as i64)
            .bind(detail)
            .bind(i64::from(verified))
            .bind(receipt)
            .bind(SubmissionState::Delivered.name())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A temporary failure: try again at `next_attempt_at`.
    pub async fn postpone(
        &self,
        receipt: &str,
        next_attempt_at: u64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE submissions SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? \
             WHERE receipt = ?",
        )
        .bind(next_attempt_at as i64)
        .bind(error)
        .bind(receipt)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failed for good: records why, queues the citizen's notice (if any) and forgets the
    /// citizen's address, in one transaction.
    pub async fn mark_failed(
        &self,
        receipt: &str,
        kind: FailureKind,
        error: &str,
        notice: Option<&OutboxMail>,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE submissions SET state = ?, finished_at = ?, failure_kind = ?, \
             last_error = ?, citizen_address = NULL, attempts = attempts + 1 WHERE receipt = ?",
        )
        .bind(SubmissionState::Failed.name())
        .bind(now as i64)
        .bind(kind.name())
        .bind(error)
        .bind(receipt)
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = notice {
            super::insert_mail(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Outbox mails due now, oldest first.
    pub async fn due_mails(&self, now: u64, limit: u32) -> Result<Vec<DueMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, recipient, subject, body, attempts, created_at, return_token FROM outbox \
             WHERE sent_at IS NULL AND next_attempt_at <= ? ORDER BY created_at, id LIMIT ?",
        )
        .bind(now as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueMail {
                    mail: super::outbox_mail(row)?,
                    return_token: row.try_get("return_token")?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    created_at: row.try_get::<i64, _>("created_at")? as u64,
                })
            })
            .collect()
    }

    /// Sent: the recipient and the text are not kept (they may be a citizen's).
    pub async fn mark_mail_sent(&self, id: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at = ?, recipient = '', body = '' WHERE id = ?")
            .bind(now as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Not sent: try again later, or give up (a mail that cannot be sent within two days
    /// is dropped, recipient and text with it).
    pub async fn postpone_mail(
        &self,
        id: &str,
        next_attempt_at: u64,
        give_up: bool,
    ) -> Result<(), StoreError> {
        if give_up {
            sqlx::query("UPDATE outbox SET sent_at = -1, recipient = '', body = '' WHERE id = ?")
                .bind(id)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            )
            .bind(next_attempt_at as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Forgets what the retention period allows: finished submissions, spent or old codes,
    /// sent mails. Returns how many rows went.
    pub async fn purge_before(&self, cutoff: u64) -> Result<u64, StoreError> {
        let mut gone = 0;
        for sql in [
            // A message whose conversation goes on keeps its status page.
            "DELETE FROM submissions WHERE state <> 'queued' AND finished_at < ? \
             AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.receipt = submissions.receipt \
             AND c.revoked_at IS NULL)",
            "DELETE FROM verification_codes WHERE created_at < ?",
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND created_at < ?",
            "DELETE FROM inbound WHERE processed_at IS NOT NULL AND received_at < ?",
        ] {
            gone += sqlx::query(sql)
                .bind(cutoff as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(gone)
    }
}
