//! The mail listener's tables: which return addresses exist, and the mail taken for them
//! until it is read.

use sqlx::Row;

use super::submissions::Submission;
use super::{Store, StoreError};

/// Whom a return token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTarget {
    /// A relayed message.
    Submission(Box<Submission>),
    /// A mail of the portal's own (code, receipt, notice), by its outbox id.
    Mail { id: String },
}

/// A mail the listener took, as recorded before its `250`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Also the name of its file.
    pub id: String,
    pub return_token: String,
    /// The SMTP client's address and its HELO name, for SPF.
    pub client_ip: String,
    pub helo: String,
    /// The reverse path; empty for the null sender of a bounce.
    pub mail_from: String,
    pub received_at: u64,
}

fn inbound_mail(row: &sqlx::sqlite::SqliteRow) -> Result<InboundMail, StoreError> {
    Ok(InboundMail {
        id: row.try_get("id")?,
        return_token: row.try_get("return_token")?,
        client_ip: row.try_get("client_ip")?,
        helo: row.try_get("helo")?,
        mail_from: row.try_get("mail_from")?,
        received_at: row.try_get::<i64, _>("received_at")? as u64,
    })
}

impl Store {
    /// The message or mail that went out with this return token.
    pub async fn return_target(&self, token: &str) -> Result<Option<ReturnTarget>, StoreError> {
        let row = sqlx::query("SELECT * FROM submissions WHERE return_token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return Ok(Some(ReturnTarget::Submission(Box::new(
                super::submissions::submission(&row)?,
            ))));
        }
        let row = sqlx::query("SELECT id FROM outbox WHERE return_token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(ReturnTarget::Mail {
                id: row.try_get("id")?,
            })
        })
        .transpose()
    }

    /// Records a mail the listener took; its file is already synced.
    pub async fn insert_inbound(&self, mail: &InboundMail) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inbound (id, return_token, client_ip, helo, mail_from, received_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&mail.id)
        .bind(&mail.return_token)
        .bind(&mail.client_ip)
        .bind(&mail.helo)
        .bind(&mail.mail_from)
        .bind(mail.received_at as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mails taken but not yet read, oldest first.
    pub async fn unread_inbound(&self, limit: u32) -> Result<Vec<InboundMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM inbound WHERE processed_at IS NULL ORDER BY received_at, id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(inbound_mail).collect()
    }

    /// Read: only the outcome stays (the sender's address goes).
    pub async fn finish_inbound(
        &self,
        id: &str,
        outcome: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE inbound SET outcome = ?, processed_at = ?, mail_from = '', helo = '' \
             WHERE id = ?",
        )
        .bind(outcome)
        .bind(now as i64)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many read mails had each outcome (within the retention).
    pub async fn inbound_outcomes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM inbound WHERE outcome IS NOT NULL \
             GROUP BY outcome ORDER BY outcome",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("outcome")?, row.try_get::<i64, _>("n")? as u64)))
            .collect()
    }

    /// The code carried by the outbox mail `code:<id>` bounced.
    pub async fn mark_code_bounced(&self, code_id: &str, now: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE verification_codes SET bounced_at = ? WHERE id = ? AND bounced_at IS NULL",
        )
        .bind(now as i64)
        .bind(code_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the mail of code `code_id` bounced; none for an unknown code.
    pub async fn code_bounced(&self, code_id: &str) -> Result<Option<bool>, StoreError> {
        let row = sqlx::query("SELECT bounced_at FROM verification_codes WHERE id = ?")
            .bind(code_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(row.try_get::<Option<i64>, _>("bounced_at")?.is_some()))
            .transpose()
    }
}
