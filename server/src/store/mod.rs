//! The database. Only this module speaks SQL; it keeps the SQL portable (SQLite is the
//! embedded default, PostgreSQL is to follow for several server instances).

use std::path::Path;
use std::str::FromStr;

use der::{Decode, Encode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite, Transaction};

use crate::model::{Authority, Directory, Imprint, StoredCertificate, Unit};

pub mod conversations;
pub mod inbound;
pub mod submissions;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("creating the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored {what} is unreadable: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A submission named a conversation that another one opened meanwhile, or that was
    /// revoked or ran out: nothing was recorded.
    #[error("the conversation is no longer pending")]
    ConversationGone,
}

/// Where a certificate came from; each source replaces only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Import,
    Ldap,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Import => "import",
            Source::Ldap => "ldap",
        }
    }
}

/// A mail the server owes someone; `id` names what it is about, so it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) `postsiegel.sqlite3` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("postsiegel.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        Self::with_options(options, 4).await
    }

    /// A private database in memory, for tests.
    pub async fn in_memory() -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::with_options(options, 1).await
    }

    async fn with_options(
        options: SqliteConnectOptions,
        connections: u32,
    ) -> Result<Store, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    pub async fn directory(&self) -> Result<Directory, StoreError> {
        let mut authorities = Vec::new();
        for row in sqlx::query("SELECT * FROM authorities ORDER BY slug")
            .fetch_all(&self.pool)
            .await?
        {
            let policy: String = row.try_get("policy")?;
            authorities.push(Authority {
                slug: row.try_get("slug")?,
                name: row.try_get("name")?,
                street: row.try_get("street")?,
                postal_code: row.try_get("postal_code")?,
                place: row.try_get("place")?,
                website: row.try_get("website")?,
                phone: row.try_get("phone")?,
                central_mailbox: row.try_get("central_mailbox")?,
                imprint: Imprint {
                    representative: row.try_get("representative")?,
                    content_responsible: row.try_get("content_responsible")?,
                    data_protection_officer: row.try_get("data_protection_officer")?,
                    vat_id: row.try_get("vat_id")?,
                },
                activated: row.try_get("activated")?,
                policy: serde_json::from_str(&policy).map_err(|e| StoreError::Corrupt {
                    what: "form policy",
                    detail: e.to_string(),
                })?,
                units: Vec::new(),
            });
        }
        for row in sqlx::query("SELECT * FROM units ORDER BY authority_slug, position")
            .fetch_all(&self.pool)
            .await?
        {
            let authority_slug: String = row.try_get("authority_slug")?;
            let kind: String = row.try_get("kind")?;
            let unit = Unit {
                slug: row.try_get("slug")?,
                name: row.try_get("name")?,
                kind: serde_json::from_value(serde_json::Value::String(kind.clone())).map_err(
                    |_| StoreError::Corrupt {
                        what: "unit kind",
                        detail: kind,
                    },
                )?,
                mailbox: row.try_get("mailbox")?,
                phone: row.try_get("phone")?,
            };
            if let Some(authority) = authorities.iter_mut().find(|a| a.slug == authority_slug) {
                authority.units.push(unit);
            }
        }
        let mut certificates = Vec::new();
        for row in sqlx::query("SELECT mailbox, der FROM certificates ORDER BY mailbox, not_after")
            .fetch_all(&self.pool)
            .await?
        {
            let der: Vec<u8> = row.try_get("der")?;
            certificates.push(StoredCertificate {
                mailbox: row.try_get("mailbox")?,
                certificate: smime::Certificate::from_der(&der).map_err(|e| {
                    StoreError::Corrupt {
                        what: "certificate",
                        detail: e.to_string(),
                    }
                })?,
            });
        }
        Ok(Directory {
            authorities,
            certificates,
        })
    }

    /// Replaces all authorities and units, and the certificates that came from `source`,
    /// in one transaction: readers see the old directory or the new one, never a mix.
    pub async fn replace_directory(
        &self,
        directory: &Directory,
        source: Source,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM units").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM authorities")
            .execute(&mut *tx)
            .await?;
        for authority in &directory.authorities {
            insert_authority(&mut tx, authority).await?;
        }
        replace_certificates(&mut tx, &directory.certificates, source).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the certificates that came from `source` (an LDAP refresh), leaving the
    /// authorities and the other sources' certificates alone.
    pub async fn replace_certificates(
        &self,
        certificates: &[StoredCertificate],
        source: Source,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        replace_certificates(&mut tx, certificates, source).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn replace_certificates(
    tx: &mut Transaction<'_, Sqlite>,
    certificates: &[StoredCertificate],
    source: Source,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM certificates WHERE source = ?")
        .bind(source.as_str())
        .execute(&mut **tx)
        .await?;
    for stored in certificates {
        let der = stored
            .certificate
            .to_der()
            .map_err(|e| StoreError::Corrupt {
                what: "certificate",
                detail: e.to_string(),
            })?;
        let fingerprint = smime::certificate::fingerprint_hex(
            &smime::certificate::fingerprint_sha256(&stored.certificate),
        );
        sqlx::query(
            "INSERT INTO certificates (mailbox, fingerprint, der, not_after, source) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, fingerprint) DO NOTHING",
        )
        .bind(stored.mailbox.to_ascii_lowercase())
        .bind(fingerprint)
        .bind(der)
        .bind(smime::certificate::not_after(&stored.certificate) as i64)
        .bind(source.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Records `mails` in the outbox, each once: an id already there is left alone.
    /// Returns how many were new.
    pub async fn queue_mails(&self, mails: &[OutboxMail], now: u64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut new = 0;
        for mail in mails {
            new += insert_mail(&mut tx, mail, now).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// The mails not yet sent, oldest first.
    pub async fn unsent_mails(&self) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, recipient, subject, body FROM outbox WHERE sent_at IS NULL \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_mail).collect()
    }
}

fn outbox_mail(row: &sqlx::sqlite::SqliteRow) -> Result<OutboxMail, StoreError> {
    Ok(OutboxMail {
        id: row.try_get("id")?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
    })
}

/// Records `mail` unless its id is there already; returns 1 if it was new.
/// A fresh return token (see `mail::return_token`).
pub fn new_return_token() -> String {
    let mut random = [0u8; 17];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
    crate::mail::return_token(&random)
}

async fn insert_mail(
    tx: &mut Transaction<'_, Sqlite>,
    mail: &OutboxMail,
    now: u64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO outbox (id, recipient, subject, body, created_at, return_token) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&mail.id)
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(now as i64)
    .bind(new_return_token())
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

async fn insert_authority(
    tx: &mut Transaction<'_, Sqlite>,
    a: &Authority,
) -> Result<(), StoreError> {
    let policy = serde_json::to_string(&a.policy).expect("a policy serialises");
    sqlx::query(
        "INSERT INTO authorities (slug, name, street, postal_code, place, website, phone, \
         central_mailbox, representative, content_responsible, data_protection_officer, vat_id, \
         activated, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.slug)
    .bind(&a.name)
    .bind(&a.street)
    .bind(&a.postal_code)
    .bind(&a.place)
    .bind(&a.website)
    .bind(&a.phone)
    .bind(&a.central_mailbox)
    .bind(&a.imprint.representative)
    .bind(&a.imprint.content_responsible)
    .bind(&a.imprint.data_protection_officer)
    .bind(&a.imprint.vat_id)
    .bind(a.activated)
    .bind(policy)
    .execute(&mut **tx)
    .await?;
    for (position, unit) in a.units.iter().enumerate() {
        let kind = serde_json::to_value(unit.kind).expect("a kind serialises");
        sqlx::query(
            "INSERT INTO units (authority_slug, slug, position, name, kind, mailbox, phone) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.slug)
        .bind(&unit.slug)
        .bind(position as i64)
        .bind(&unit.name)
        .bind(kind.as_str().unwrap_or("other"))
        .bind(&unit.mailbox)
        .bind(&unit.phone)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
