//! Answers, the portal's side: the answers CA, a certificate per conversation for a key
//! born in the citizen's browser, and the alias on the answer domain that the authority's
//! Reply goes to.
//!
//! [`Answers`] is what the relay asks: it issues a conversation's certificate against a
//! verified address and form, says whether an upload may open a conversation, and makes
//! the CRL. It knows nothing of HTTP; its errors carry stable codes.

pub mod ca;
pub mod csr;
pub mod receive;
pub mod signed;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use wire::ErrorCode;

use crate::dkim::DkimConfig;
use crate::store::conversations::{Conversation, NewConversation, Revoked};
use crate::store::{Store, StoreError};
use ca::{AnswersCa, CaError, CaFiles, LeafRequest};
use csr::CsrError;

const DAY: u64 = 86_400;
/// Unread answers are announced this long before their conversation ends and they go.
const REMINDER_DAYS: u64 = 7;
/// An answer is kept this long after the citizen's browser first decrypted it.
pub const OPENED_ANSWER_DAYS: u64 = 30;

/// Where the portal serves the CA's certificate (PEM) and its CRL (DER).
pub const CA_PATH: &str = "/answers/ca.pem";
pub const CRL_PATH: &str = "/answers/ca.crl";
/// How long a CRL is valid; it is made again when a certificate is revoked, and daily.
const CRL_DAYS: u64 = 7;

/// `[answers]`: answers on, for forms that verify the citizen's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswersConfig {
    /// The answer domain: the aliases live there (`antwort-…@<domain>`), its MX is the
    /// portal's mail listener, and the answers CA may certify nothing else.
    pub domain: String,
    /// Days a conversation lasts after its first message was accepted.
    #[serde(default = "conversation_days")]
    pub conversation_days: u64,
    /// Hours a certificate waits for the submission naming it before it is revoked.
    #[serde(default = "pending_hours")]
    pub pending_hours: u64,
    /// The answers CA's certificate; default `<data_dir>/answers/ca.pem`.
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
    /// The answers CA's private key (PKCS#8 PEM); default `<data_dir>/answers/ca.key.pem`.
    /// Made there on first start unless a file is already where this points.
    #[serde(default)]
    pub ca_key: Option<PathBuf>,
    /// DKIM for the mails that go out from an alias; its domain must be the answer
    /// domain (strict DMARC alignment).
    #[serde(default)]
    pub dkim: Option<DkimConfig>,
}

fn conversation_days() -> u64 {
    180
}
fn pending_hours() -> u64 {
    6
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum AnswersConfigError {
    #[error("answers need the mail listener: configure [inbound] too")]
    NoListener,
    #[error(
        "answers.dkim signs for {dkim}, not for the answer domain {domain}: DMARC would not align"
    )]
    DkimDomain { dkim: String, domain: String },
}

impl AnswersConfig {
    /// Answers arrive through the listener, and a DKIM key signs for the answer domain.
    pub fn check(&self, listener: bool) -> Result<(), AnswersConfigError> {
        if !listener {
            return Err(AnswersConfigError::NoListener);
        }
        match &self.dkim {
            Some(dkim) if !dkim.domain.eq_ignore_ascii_case(&self.domain) => {
                Err(AnswersConfigError::DkimDomain {
                    dkim: dkim.domain.clone(),
                    domain: self.domain.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    pub fn ca_files(&self, data_dir: &Path) -> CaFiles {
        CaFiles {
            certificate: self
                .ca_certificate
                .clone()
                .unwrap_or_else(|| data_dir.join("answers").join("ca.pem")),
            key: self
                .ca_key
                .clone()
                .unwrap_or_else(|| data_dir.join("answers").join("ca.key.pem")),
        }
    }
}

/// Why no certificate was issued, or why an upload may not open the conversation it names.
#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    #[error("this form offers no answers")]
    NotOffered,
    #[error("the certificate request: {0}")]
    Csr(#[from] CsrError),
    #[error("the conversation is not pending for this token and form, or not live")]
    ConversationUnknown,
    #[error("no such answer (any more)")]
    AnswerNotFound,
    #[error("the signature is not the conversation key's over the statement")]
    SignatureInvalid,
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AnswersError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AnswersError::NotOffered => ErrorCode::AnswersNotOffered,
            AnswersError::Csr(CsrError::NotRsa | CsrError::KeySize { .. }) => {
                ErrorCode::CsrKeyUnsuitable
            }
            AnswersError::Csr(_) => ErrorCode::CsrInvalid,
            AnswersError::ConversationUnknown => ErrorCode::ConversationUnknown,
            AnswersError::AnswerNotFound => ErrorCode::AnswerNotFound,
            AnswersError::SignatureInvalid => ErrorCode::SignatureInvalid,
            AnswersError::Ca(_) | AnswersError::Store(_) => ErrorCode::InternalError,
        }
    }
}

/// A certificate just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub alias: String,
    pub certificate_pem: String,
    pub pending_until: u64,
}

/// For whom a certificate is issued: an address verified for a form, by its token.
pub struct Requester<'a> {
    pub address: &'a str,
    pub form: &'a str,
    /// The SHA-256 of the verification token (hex).
    pub token_hash: &'a str,
}

pub struct Answers {
    pub config: AnswersConfig,
    pub ca: AnswersCa,
    pub store: Store,
    /// The CRL's address, as the certificates name it.
    pub crl_url: String,
    /// Where received answers wait: `<data_dir>/answers/received/<id>.eml`.
    pub received: PathBuf,
    crl: Mutex<Option<CachedCrl>>,
}

struct CachedCrl {
    made_at: u64,
    revoked: Vec<Revoked>,
    der: Vec<u8>,
}

/// The local part of every alias starts so: `antwort-<26 base32 characters>`.
const ALIAS_PREFIX: &str = "antwort-";

impl Answers {
    /// The answers CA of `config` (made on first start, see [`AnswersCa::load_or_create`]),
    /// its CRL at `<public_url>/answers/ca.crl`.
    pub fn load(
        config: AnswersConfig,
        data_dir: &Path,
        public_url: &str,
        store: Store,
        now: u64,
    ) -> Result<Answers, CaError> {
        let crl_url = format!("{public_url}{CRL_PATH}");
        let ca =
            AnswersCa::load_or_create(&config.ca_files(data_dir), &config.domain, &crl_url, now)?;
        Ok(Answers {
            config,
            ca,
            store,
            crl_url,
            received: received_folder(data_dir),
            crl: Mutex::new(None),
        })
    }

    /// A fresh alias address on the answer domain.
    fn new_alias(&self) -> String {
        format!(
            "{ALIAS_PREFIX}{}@{}",
            crate::store::new_return_token(),
            self.config.domain
        )
    }

    /// The longest alias address there is (they all have one length).
    pub fn alias_len(domain: &str) -> usize {
        ALIAS_PREFIX.len() + crate::mail::RETURN_TOKEN_LEN + 1 + domain.len()
    }

    /// Issues a conversation's certificate for the key in `csr` (its signature checked).
    /// One stays pending per token and form: a new one revokes the one before.
    pub async fn issue(
        &self,
        requester: &Requester<'_>,
        csr: &[u8],
        now: u64,
    ) -> Result<Issued, AnswersError> {
        let public_key = csr::verified_key(csr)?;
        let alias = self.new_alias();
        let serial = crate::pkix::random_serial();
        let not_after =
            now + self.config.conversation_days * DAY + self.config.pending_hours * 3600;
        let certificate = self.ca.issue(&LeafRequest {
            public_key: &public_key,
            address: &alias,
            serial: &serial,
            not_before: now.saturating_sub(300),
            not_after,
        })?;
        let der = der::Encode::to_der(&certificate)
            .map_err(|e| CaError::Pkix(crate::pkix::pkix_error(e)))?;
        let pending_until = now + self.config.pending_hours * 3600;
        self.store
            .insert_conversation(&NewConversation {
                alias: &alias,
                serial: &hex(&serial),
                form_slug: requester.form,
                token_hash: requester.token_hash,
                citizen_address: requester.address,
                certificate: &der,
                issued_at: now,
                not_after,
                pending_until,
            })
            .await?;
        tracing::info!("issued a conversation certificate");
        Ok(Issued {
            alias,
            certificate_pem: der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
                .map_err(|e| CaError::Pkix(crate::pkix::pkix_error(e)))?,
            pending_until,
        })
    }

    /// The conversation an upload may open: pending, for this token and form.
    pub async fn pending(
        &self,
        alias: &str,
        requester: &Requester<'_>,
        now: u64,
    ) -> Result<Conversation, AnswersError> {
        let conversation = self
            .store
            .conversation(alias.trim())
            .await?
            .filter(|c| {
                c.is_pending(now)
                    && c.token_hash == requester.token_hash
                    && c.form_slug == requester.form
                    && c.citizen_address == requester.address
            })
            .ok_or(AnswersError::ConversationUnknown)?;
        Ok(conversation)
    }

    /// When a conversation opened at `now` ends.
    pub fn ends_at(&self, now: u64) -> u64 {
        now + self.config.conversation_days * DAY
    }

    /// When an answer goes: 30 days after it was first opened, at the latest when its
    /// conversation ends.
    pub fn kept_until(opened_at: Option<u64>, conversation_ends_at: u64) -> u64 {
        opened_at.map_or(conversation_ends_at, |opened| {
            conversation_ends_at.min(opened + OPENED_ANSWER_DAYS * DAY)
        })
    }

    /// The stored mail of answer `id`, still encrypted; the caller checked whose it is.
    pub fn answer_mail(&self, id: &str) -> Result<Vec<u8>, AnswersError> {
        // Ids are base64url: nothing in one leaves the folder.
        let well_formed = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(AnswersError::AnswerNotFound);
        }
        std::fs::read(self.received.join(format!("{id}.eml")))
            .map_err(|_| AnswersError::AnswerNotFound)
    }

    /// The live conversation `alias`, if `signature` over `statement` is its key's.
    async fn signed_by(
        &self,
        alias: &str,
        statement: &str,
        signature: &str,
        now: u64,
    ) -> Result<Conversation, AnswersError> {
        let conversation = self
            .store
            .live_conversation(alias, now)
            .await?
            .ok_or(AnswersError::ConversationUnknown)?;
        if !signed::verifies(&conversation.certificate, statement, signature) {
            return Err(AnswersError::SignatureInvalid);
        }
        Ok(conversation)
    }

    /// The citizen's browser decrypted answer `id`: from the first time, it is kept
    /// [`OPENED_ANSWER_DAYS`] more.
    pub async fn opened(
        &self,
        alias: &str,
        id: &str,
        signature: &str,
        now: u64,
    ) -> Result<(), AnswersError> {
        let statement = wire::opened_statement(alias, id);
        self.signed_by(alias, &statement, signature, now).await?;
        if !self.store.mark_opened(alias, id, now).await? {
            return Err(AnswersError::AnswerNotFound);
        }
        Ok(())
    }

    /// The citizen closes the conversation: its answers go now, its certificate is revoked
    /// (the CRL lists it), its alias refuses mail.
    pub async fn close(&self, alias: &str, signature: &str, now: u64) -> Result<(), AnswersError> {
        let statement = wire::close_statement(alias);
        self.signed_by(alias, &statement, signature, now).await?;
        let ids = self
            .store
            .close_conversation(alias, now)
            .await?
            .ok_or(AnswersError::ConversationUnknown)?;
        self.remove_files(&ids);
        tracing::info!(
            answers = ids.len(),
            "a conversation was closed by its citizen"
        );
        Ok(())
    }

    fn remove_files(&self, ids: &[String]) {
        for id in ids {
            let _ = std::fs::remove_file(self.received.join(format!("{id}.eml")));
        }
    }

    /// Reminds citizens of unread answers whose conversation ends within a week, forgets
    /// answers opened 30 days ago, then ended conversations with their answers (rows, then
    /// files), and files no row names (left by a crash between the two). Returns how many
    /// conversations went.
    pub async fn sweep(&self, now: u64) -> Result<u64, StoreError> {
        for due in self.store.due_reminders(now + REMINDER_DAYS * DAY).await? {
            let date = smime::mime::rfc3339(due.ends_at);
            let notice = crate::notices::answers_expire(
                &due.alias,
                &due.receipt,
                &due.status_url,
                &date[..10],
                &due.citizen_address,
            );
            self.store.remind(&due.alias, &notice, now).await?;
        }
        let opened = self
            .store
            .forget_opened_answers(now.saturating_sub(OPENED_ANSWER_DAYS * DAY))
            .await?;
        self.remove_files(&opened);
        let files = self.store.answers_of_ended(now).await?;
        let gone = self.store.forget_ended_conversations(now).await?;
        self.remove_files(&files);
        self.remove_orphans(now).await?;
        Ok(gone)
    }

    /// Removes answer files older than an hour that no row names. A younger one may be an
    /// answer whose row is being written.
    async fn remove_orphans(&self, now: u64) -> Result<(), StoreError> {
        let Ok(entries) = std::fs::read_dir(&self.received) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".eml"))
            else {
                continue;
            };
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(now, |d| d.as_secs());
            if modified + 3600 < now && !self.store.answer_exists(id).await? {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }

    /// The CA's current CRL (DER), made again when a certificate was revoked since, or
    /// once a day.
    pub async fn crl(&self, now: u64) -> Result<Vec<u8>, AnswersError> {
        let revoked = self.store.revoked_certificates(now).await?;
        if let Some(cached) = self.crl.lock().expect("the CRL cache").as_ref()
            && cached.revoked == revoked
            && now < cached.made_at + DAY
        {
            return Ok(cached.der.clone());
        }
        let entries = revoked
            .iter()
            .map(|r| Ok((crate::pkix::serial(&unhex(&r.serial))?, r.at)))
            .collect::<Result<Vec<_>, crate::pkix::PkixError>>()
            .map_err(CaError::Pkix)?;
        let der = self.ca.crl(entries, now, CRL_DAYS)?;
        *self.crl.lock().expect("the CRL cache") = Some(CachedCrl {
            made_at: now,
            revoked,
            der: der.clone(),
        });
        Ok(der)
    }
}

/// What a message written now in a conversation answers, from its Message-IDs oldest
/// first ([`Store::thread_ids`]): In-Reply-To the latest, References the first and the
/// latest ones (RFC 5322 lets a long thread drop the middle). Ids that could not go into a
/// header as they are (an answer's, from anywhere) are left out.
pub fn thread(ids: &[String]) -> Option<wire::Thread> {
    let ids: Vec<&String> = ids
        .iter()
        .filter(|id| smime::mime::is_message_id(id))
        .collect();
    let latest = (*ids.last()?).clone();
    let tail = ids
        .len()
        .saturating_sub(crate::mail::MAX_REFERENCES - 1)
        .max(1);
    let references = std::iter::once(ids[0])
        .chain(ids[tail..].iter().copied())
        .cloned()
        .collect();
    Some(wire::Thread {
        in_reply_to: latest,
        references,
    })
}

/// Where received answers wait, under the data folder.
pub fn received_folder(data_dir: &Path) -> PathBuf {
    data_dir.join("answers").join("received")
}

/// Lower-case hex, as serials and digests are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}@portal.example")).collect()
    }

    #[test]
    fn a_thread_answers_the_latest_message_and_references_the_first_and_the_latest() {
        let short = thread(&ids(3)).unwrap();
        assert_eq!(short.in_reply_to, "m2@portal.example");
        assert_eq!(short.references, ids(3));
        let long = thread(&ids(20)).unwrap();
        assert_eq!(long.in_reply_to, "m19@portal.example");
        assert_eq!(long.references.len(), crate::mail::MAX_REFERENCES);
        assert_eq!(long.references[0], "m0@portal.example");
        assert_eq!(long.references[1], "m13@portal.example");
        assert_eq!(long.references.last().unwrap(), "m19@portal.example");
    }

    #[test]
    fn ids_that_would_break_a_header_stay_out_of_the_thread() {
        let mut all = ids(2);
        all.push("evil@x\r\nBcc: someone@example.org".to_owned());
        all.push("no-at-sign".to_owned());
        all.push(format!("{}@long.example", "x".repeat(300)));
        let thread = thread(&all).unwrap();
        assert_eq!(thread.in_reply_to, "m1@portal.example");
        assert_eq!(thread.references, ids(2));
        assert!(super::thread(&["bad id@x".to_owned()]).is_none());
    }
}
