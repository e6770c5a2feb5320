//! Conversations: the certificates the answers CA issued, which alias each one is for,
//! whether a submission opened it, and what the CRL lists.

use sqlx::Row;

use super::{OutboxMail, Store, StoreError};

/// A conversation a submission opens: its alias, when it ends, and the status page
/// that the notices of answers link.
#[derive(Debug, Clone, Copy)]
pub struct OpenedConversation<'a> {
    pub alias: &'a str,
    pub ends_at: u64,
    pub status_url: &'a str,
}

/// A certificate just issued, waiting for the submission that names it.
pub struct NewConversation<'a> {
    pub alias: &'a str,
    pub serial: &'a str,
    pub form_slug: &'a str,
    pub token_hash: &'a str,
    pub citizen_address: &'a str,
    pub certificate: &'a [u8],
    pub issued_at: u64,
    pub not_after: u64,
    pub pending_until: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub alias: String,
    pub form_slug: String,
    pub token_hash: String,
    pub citizen_address: String,
    pub certificate: Vec<u8>,
    pub pending_until: u64,
    pub receipt: Option<String>,
    pub ends_at: Option<u64>,
    pub revoked_at: Option<u64>,
    /// The status page of the message that opened it.
    pub status_url: Option<String>,
}

impl Conversation {
    /// Issued, not revoked, no submission yet, and still in time for one.
    pub fn is_pending(&self, now: u64) -> bool {
        self.receipt.is_none() && self.revoked_at.is_none() && now <= self.pending_until
    }
}

fn conversation(row: &sqlx::sqlite::SqliteRow) -> Result<Conversation, StoreError> {
    let optional = |name: &str| -> Result<Option<u64>, StoreError> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(|v| v as u64))
    };
    Ok(Conversation {
        alias: row.try_get("alias")?,
        form_slug: row.try_get("form_slug")?,
        token_hash: row.try_get("token_hash")?,
        citizen_address: row.try_get("citizen_address")?,
        certificate: row.try_get("certificate")?,
        pending_until: row.try_get::<i64, _>("pending_until")? as u64,
        receipt: row.try_get("receipt")?,
        ends_at: optional("ends_at")?,
        revoked_at: optional("revoked_at")?,
        status_url: row.try_get("status_url")?,
    })
}

/// A certificate the CRL lists: its serial (hex) and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub serial: String,
    pub at: u64,
}

impl Store {
    /// Records a new certificate; one still pending for the same token and form is
    /// revoked in the same transaction, so that each has at most one pending.
    pub async fn insert_conversation(&self, new: &NewConversation<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE conversations SET revoked_at = ? WHERE token_hash = ? AND form_slug = ? \
             AND receipt IS NULL AND revoked_at IS NULL",
        )
        .bind(new.issued_at as i64)
        .bind(new.token_hash)
        .bind(new.form_slug)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO conversations (alias, serial, form_slug, token_hash, citizen_address, \
             certificate, issued_at, not_after, pending_until) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.alias)
        .bind(new.serial)
        .bind(new.form_slug)
        .bind(new.token_hash)
        .bind(new.citizen_address)
        .bind(new.certificate)
        .bind(new.issued_at as i64)
        .bind(new.not_after as i64)
        .bind(new.pending_until as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn conversation(&self, alias: &str) -> Result<Option<Conversation>, StoreError> {
        sqlx::query("SELECT * FROM conversations WHERE alias = ?")
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(conversation)
            .transpose()
    }

    /// What the CRL lists at `now`: every revoked certificate, and every one whose
    /// submission never came (revoked when its time ran out), until it expires.
    pub async fn revoked_certificates(&self, now: u64) -> Result<Vec<Revoked>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, COALESCE(revoked_at, pending_until) AS at FROM conversations \
             WHERE not_after > ? \
             AND (revoked_at IS NOT NULL OR (receipt IS NULL AND pending_until < ?)) \
             ORDER BY serial",
        )
        .bind(now as i64)
        .bind(now as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Revoked {
                    serial: row.try_get("serial")?,
                    at: row.try_get::<i64, _>("at")? as u64,
                })
            })
            .collect()
    }
}

/// Opens the conversation a submission names, inside that submission's transaction:
/// false if it is no longer pending (another upload took it, or it was revoked).
pub(super) async fn open_conversation(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    conversation: &OpenedConversation<'_>,
    receipt: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE conversations SET receipt = ?, ends_at = ?, status_url = ? WHERE alias = ? \
         AND receipt IS NULL AND revoked_at IS NULL AND pending_until >= ?",
    )
    .bind(receipt)
    .bind(conversation.ends_at as i64)
    .bind(conversation.status_url)
    .bind(conversation.alias)
    .bind(now as i64)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether conversation `alias` takes answers at `now` (see [`Store::live_conversation`]).
pub(super) async fn is_live(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    alias: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let found = sqlx::query(LIVE)
        .bind(alias)
        .bind(now as i64)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

const LIVE: &str = "SELECT * FROM conversations WHERE alias = ? AND receipt IS NOT NULL \
                    AND revoked_at IS NULL AND ends_at >= ?";

/// An answer taken for a conversation, its mail already synced on disk.
pub struct NewAnswer<'a> {
    pub id: &'a str,
    pub alias: &'a str,
    pub replay_key: &'a str,
    pub bytes: u64,
    pub received_at: u64,
    pub client_ip: &'a str,
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub verified: bool,
}

/// An answer as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAnswer {
    pub id: String,
    pub alias: String,
    pub bytes: u64,
    pub received_at: u64,
    pub verified: bool,
    /// When the citizen's browser first said it decrypted it.
    pub opened_at: Option<u64>,
}

fn received_answer(row: &sqlx::sqlite::SqliteRow) -> Result<ReceivedAnswer, StoreError> {
    Ok(ReceivedAnswer {
        id: row.try_get("id")?,
        alias: row.try_get("alias")?,
        bytes: row.try_get::<i64, _>("bytes")? as u64,
        received_at: row.try_get::<i64, _>("received_at")? as u64,
        verified: row.try_get::<i64, _>("verified")? != 0,
        opened_at: row
            .try_get::<Option<i64>, _>("opened_at")?
            .map(|v| v as u64),
    })
}

impl Store {
    /// The conversation whose alias takes answers at `now`: opened by a submission, not
    /// revoked, not ended.
    pub async fn live_conversation(
        &self,
        alias: &str,
        now: u64,
    ) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(LIVE)
            .bind(alias)
            .bind(now as i64)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(conversation)
            .transpose()
    }

    /// Records an answer and queues `notice` (telling the citizen) with it; false when the
    /// conversation has one with the same replay key (the same mail again), which then is
    /// not recorded, and no notice goes.
    pub async fn insert_answer(
        &self,
        answer: &NewAnswer<'_>,
        notice: &OutboxMail,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO received_answers (id, alias, replay_key, bytes, received_at, client_ip, \
             helo, mail_from, verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (alias, replay_key) DO NOTHING",
        )
        .bind(answer.id)
        .bind(answer.alias)
        .bind(answer.replay_key)
        .bind(answer.bytes as i64)
        .bind(answer.received_at as i64)
        .bind(answer.client_ip)
        .bind(answer.helo)
        .bind(answer.mail_from)
        .bind(i64::from(answer.verified))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::insert_mail(&mut tx, notice, answer.received_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The conversation the message `receipt` opened or continued, if any.
    pub async fn conversation_of(&self, receipt: &str) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(
            "SELECT c.* FROM conversations c JOIN submissions s ON s.conversation_alias = c.alias \
             WHERE s.receipt = ?",
        )
        .bind(receipt)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(conversation)
        .transpose()
    }

    /// The Message-IDs of conversation `alias`, oldest first: the citizen's messages (as
    /// the portal sent them) and the answers that had one (in angle brackets, as kept).
    pub async fn thread_ids(&self, alias: &str) -> Result<Vec<String>, StoreError> {
        // Within one second: the opening message first, then answers, then the citizen's
        // later ones (written after reading them, most likely).
        let rows = sqlx::query(
            "SELECT s.message_id AS id, s.accepted_at AS at, \
             CASE WHEN s.receipt = c.receipt THEN 0 ELSE 2 END AS kind \
             FROM submissions s JOIN conversations c ON c.alias = s.conversation_alias \
             WHERE c.alias = ? \
             UNION ALL SELECT replay_key AS id, received_at AS at, 1 AS kind \
             FROM received_answers WHERE alias = ? AND replay_key LIKE '<%>' \
             ORDER BY at, kind, id",
        )
        .bind(alias)
        .bind(alias)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok(id.trim_start_matches('<').trim_end_matches('>').to_owned())
            })
            .collect()
    }

    /// The answers received for the conversation the message `receipt` belongs to.
    pub async fn answers_to(&self, receipt: &str) -> Result<Vec<ReceivedAnswer>, StoreError> {
        match self.conversation_of(receipt).await? {
            Some(conversation) => self.answers(&conversation.alias).await,
            None => Ok(Vec::new()),
        }
    }

    /// The answers a conversation received, oldest first.
    pub async fn answers(&self, alias: &str) -> Result<Vec<ReceivedAnswer>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM received_answers WHERE alias = ? ORDER BY received_at, id")
                .bind(alias)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(received_answer).collect()
    }

    /// Records that the citizen opened the answer `id` of conversation `alias`, the first
    /// time only; false when there is no such answer (any more).
    pub async fn mark_opened(&self, alias: &str, id: &str, now: u64) -> Result<bool, StoreError> {
        let found = sqlx::query(
            "UPDATE received_answers SET opened_at = COALESCE(opened_at, ?) \
             WHERE alias = ? AND id = ?",
        )
        .bind(now as i64)
        .bind(alias)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(found.rows_affected() == 1)
    }

    /// Closes a live conversation at the citizen's word: its certificate is revoked, it
    /// ends now, its answers and the citizen's address are forgotten (the row stays, without
    /// them, so that the CRL lists the certificate until it expires). Returns the ids of
    /// the answers whose files are to go, or None when it was not live.
    pub async fn close_conversation(
        &self,
        alias: &str,
        now: u64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let closed = sqlx::query(
            "UPDATE conversations SET revoked_at = ?, ends_at = ?, citizen_address = '' \
             WHERE alias = ? AND receipt IS NOT NULL AND revoked_at IS NULL AND ends_at >= ?",
        )
        .bind(now as i64)
        .bind(now as i64)
        .bind(alias)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
        if closed.rows_affected() != 1 {
            return Ok(None);
        }
        let ids = sqlx::query_scalar("DELETE FROM received_answers WHERE alias = ? RETURNING id")
            .bind(alias)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ids))
    }

    /// Forgets answers first opened before `opened_before`; returns their ids (their files
    /// are to go).
    pub async fn forget_opened_answers(
        &self,
        opened_before: u64,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("DELETE FROM received_answers WHERE opened_at < ? RETURNING id")
            .bind(opened_before as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)
    }

    /// Whether an answer with this id is recorded (its file is not an orphan).
    pub async fn answer_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM received_answers WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// A conversation whose end is near while answers wait unread: whom to remind, of what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub alias: String,
    pub receipt: String,
    pub citizen_address: String,
    pub status_url: String,
    pub ends_at: u64,
}

impl Store {
    /// Conversations ending before `before` with answers nobody opened and no reminder yet.
    pub async fn due_reminders(&self, before: u64) -> Result<Vec<DueReminder>, StoreError> {
        let rows = sqlx::query(
            "SELECT alias, receipt, citizen_address, status_url, ends_at FROM conversations c \
             WHERE receipt IS NOT NULL AND revoked_at IS NULL AND reminded_at IS NULL \
             AND ends_at < ? AND EXISTS (SELECT 1 FROM received_answers r \
             WHERE r.alias = c.alias AND r.opened_at IS NULL)",
        )
        .bind(before as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueReminder {
                    alias: row.try_get("alias")?,
                    receipt: row.try_get("receipt")?,
                    citizen_address: row.try_get("citizen_address")?,
                    status_url: row
                        .try_get::<Option<String>, _>("status_url")?
                        .unwrap_or_default(),
                    ends_at: row.try_get::<i64, _>("ends_at")? as u64,
                })
            })
            .collect()
    }

    /// Queues the reminder and marks the conversation reminded, in one transaction.
    pub async fn remind(
        &self,
        alias: &str,
        notice: &OutboxMail,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE conversations SET reminded_at = ? WHERE alias = ?")
            .bind(now as i64)
            .bind(alias)
            .execute(&mut *tx)
            .await?;
        super::insert_mail(&mut tx, notice, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The answers of conversations that ended before `now` (their files are to go).
    pub async fn answers_of_ended(&self, now: u64) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT r.id FROM received_answers r JOIN conversations c ON r.alias = c.alias \
             WHERE c.ends_at < ?",
        )
        .bind(now as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)
    }

    /// Forgets conversations that ended before `now` (their answers, the citizen's address,
    /// the certificate) and those whose certificate expired; the alias then takes no mail.
    /// A revoked certificate's row stays, without the address, until it expires, so that
    /// the CRL lists it. Returns how many conversations went.
    pub async fn forget_ended_conversations(&self, now: u64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM received_answers WHERE alias IN \
             (SELECT alias FROM conversations WHERE ends_at < ?)",
        )
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query(
            "DELETE FROM conversations WHERE not_after < ? \
             OR (ends_at < ? AND revoked_at IS NULL)",
        )
        .bind(now as i64)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // A certificate revoked or run out before any message named it: nobody will be
        // told anything, so the address has no reason to stay.
        sqlx::query(
            "UPDATE conversations SET citizen_address = '' WHERE receipt IS NULL \
             AND citizen_address != '' AND (revoked_at IS NOT NULL OR pending_until < ?)",
        )
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }
}
