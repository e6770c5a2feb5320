//! Accepting an upload: ciphertext only, streamed to disk, inspected from its first bytes,
//! addressed exactly to the form's current certificates, ending exactly where it says; then
//! wrapped as the S/MIME mail, synced, recorded, and only then answered.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use smime::inspect::{EnvelopeKind, INSPECT_LIMIT, InspectError, Inspection, Mismatch, inspect};
use wire::{Accepted, ErrorCode};

use super::queue_folder::{QueueFile, QueueFolder};
use super::signing::PortalSigner;
use super::verification::{Verified, random_id};
use crate::directory::catalog::OfferedForm;
use crate::dkim::{BodyHash, Dkim};
use crate::mail;
use crate::notices;
use crate::store::Store;
use crate::store::conversations::OpenedConversation;
use crate::store::submissions::{NewSubmission, SubmissionState};

/// What the relay needs to accept and queue.
#[derive(Clone)]
pub struct Queue {
    pub store: Store,
    pub folder: QueueFolder,
    pub mail_from: String,
    pub public_url: String,
    pub max_queue_bytes: u64,
    /// Wakes the worker when something new waits.
    pub wake: Arc<tokio::sync::Notify>,
    /// Signs each mail when configured.
    pub dkim: Option<Arc<Dkim>>,
    /// The portal's S/MIME signature over each mail, when configured.
    pub signer: Option<Arc<PortalSigner>>,
    /// The domain of the return addresses, when the listener takes reports.
    pub return_domain: Option<String>,
    /// Signs the mails that go out from a conversation's alias, when configured.
    pub answer_dkim: Option<Arc<Dkim>>,
}

/// What the upload's request said about its sender.
pub struct Sender<'a> {
    /// The verified address, when the citizen confirmed one.
    pub verified: Option<&'a Verified>,
    /// The citizen asked for a confirmation of receipt (an MDN).
    pub receipt_requested: bool,
    /// The conversation this message opens or continues.
    pub conversation: Option<Conversing>,
}

/// A message in a conversation: its From and Reply-To are the alias, so that the
/// authority's Reply goes to the citizen's key, and its mail is signed for the answer
/// domain.
#[derive(Debug, Clone)]
pub enum Conversing {
    Opens(Opening),
    Continues(Continuing),
}

impl Conversing {
    fn alias(&self) -> &str {
        match self {
            Conversing::Opens(opening) => &opening.alias,
            Conversing::Continues(continuing) => &continuing.alias,
        }
    }

    fn opens(&self) -> Option<&Opening> {
        match self {
            Conversing::Opens(opening) => Some(opening),
            Conversing::Continues(_) => None,
        }
    }

    fn continues(&self) -> Option<&Continuing> {
        match self {
            Conversing::Continues(continuing) => Some(continuing),
            Conversing::Opens(_) => None,
        }
    }
}

/// A conversation a message opens.
#[derive(Debug, Clone)]
pub struct Opening {
    pub alias: String,
    pub ends_at: u64,
}

/// A live conversation a message is written again in, from its status page.
#[derive(Debug, Clone)]
pub struct Continuing {
    pub alias: String,
    /// Where its receipt goes: the address verified when the conversation opened.
    pub citizen_address: String,
    /// The conversation's certificate (DER), whose key signed the upload.
    pub certificate: Vec<u8>,
    /// base64, over [`wire::message_statement`] with the upload's SHA-256.
    pub signature: String,
    /// What it answers: the mail's In-Reply-To and References.
    pub thread: wire::Thread,
}

/// Why an upload was refused. Nothing refused is queued.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("larger than the form's limit of {max_upload_bytes} bytes")]
    TooLarge { max_upload_bytes: u64 },
    #[error("the queue is full")]
    QueueFull,
    #[error("the upload broke off")]
    Interrupted,
    #[error("the upload is empty")]
    Empty,
    #[error("the upload ends before its length says")]
    Truncated,
    #[error("bytes after the end of the message")]
    TrailingBytes,
    #[error("not CMS")]
    NotCms,
    #[error("not DER")]
    NotDer,
    #[error("signed but not encrypted")]
    SignedOnly,
    #[error("not an encrypted CMS type")]
    NotEncrypted,
    #[error("not the form's content encryption")]
    WrongAlgorithm,
    #[error("not addressed exactly to the form's current certificates")]
    CertificateChanged,
    #[error("a content key that does not fit the named certificate's key")]
    WrongRecipient,
    #[error("the conversation was opened by another message, or closed, meanwhile")]
    ConversationGone,
    #[error("the signature is not the conversation key's over this upload")]
    SignatureInvalid,
    /// Logged where it happens; the client hears only that it failed.
    #[error("the server failed: {0}")]
    Internal(String),
}

impl UploadError {
    pub fn code(&self) -> ErrorCode {
        match self {
            UploadError::TooLarge { .. } => ErrorCode::UploadTooLarge,
            UploadError::QueueFull => ErrorCode::QueueFull,
            UploadError::Interrupted => ErrorCode::UploadInterrupted,
            UploadError::Empty => ErrorCode::UploadEmpty,
            UploadError::Truncated => ErrorCode::UploadTruncated,
            UploadError::TrailingBytes => ErrorCode::UploadTrailingBytes,
            UploadError::NotCms => ErrorCode::UploadNotCms,
            UploadError::NotDer => ErrorCode::UploadNotDer,
            UploadError::SignedOnly => ErrorCode::UploadSignedOnly,
            UploadError::NotEncrypted => ErrorCode::UploadNotEncrypted,
            UploadError::WrongAlgorithm => ErrorCode::UploadWrongAlgorithm,
            UploadError::CertificateChanged => ErrorCode::CertificateChanged,
            UploadError::WrongRecipient => ErrorCode::UploadWrongRecipient,
            UploadError::ConversationGone => ErrorCode::ConversationUnknown,
            UploadError::SignatureInvalid => ErrorCode::SignatureInvalid,
            UploadError::Internal(_) => ErrorCode::InternalError,
        }
    }
}

/// A working file, removed however the work on it ends: an upload coming in, a mail being
/// written (once renamed into place, there is nothing left to remove).
struct Transient(PathBuf);

impl Drop for Transient {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What acceptance needs once the upload is complete; owned, for a task of its own.
struct Commit {
    incoming: Transient,
    kind: EnvelopeKind,
    received: u64,
    form_slug: String,
    mailbox: String,
    reply_to: Option<String>,
    /// Where the receipt goes: the verified address, or the conversation's.
    citizen_address: Option<String>,
    receipt_requested: bool,
    conversation: Option<Conversing>,
    now: u64,
}

fn internal(e: impl std::fmt::Display) -> UploadError {
    tracing::error!("accepting a submission failed: {e}");
    UploadError::Internal(e.to_string())
}

fn inspection_refusal(error: &InspectError) -> UploadError {
    match error {
        InspectError::SignedOnly => UploadError::SignedOnly,
        InspectError::NotEncrypted(_) => UploadError::NotEncrypted,
        InspectError::Incomplete => UploadError::Truncated,
        InspectError::IndefiniteLength => UploadError::NotDer,
        InspectError::NotCms | InspectError::HeaderTooLarge | InspectError::Malformed(_) => {
            UploadError::NotCms
        }
    }
}

impl Queue {
    /// Receives `body` for `form`, whose length the client declared as `declared_len`.
    /// Nothing is queued unless everything holds.
    pub async fn accept<E>(
        &self,
        form: &OfferedForm,
        sender: Sender<'_>,
        declared_len: Option<u64>,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        now: u64,
    ) -> Result<Accepted, UploadError> {
        let max = form.max_upload_bytes;
        let too_large = || UploadError::TooLarge {
            max_upload_bytes: max,
        };
        if declared_len.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let queued = self.store.queued_bytes().await.map_err(internal)?;
        if queued + declared_len.unwrap_or(0) > self.max_queue_bytes {
            return Err(UploadError::QueueFull);
        }

        let incoming = Transient(self.folder.new_upload(&random_id()).map_err(internal)?);
        let mut file = std::fs::File::create(&incoming.0).map_err(internal)?;
        let mut prefix: Vec<u8> = Vec::new();
        let mut inspection: Option<Inspection> = None;
        let mut received: u64 = 0;
        // A message written again is signed over its bytes: hashed as they come.
        let continuing = sender.conversation.as_ref().and_then(Conversing::continues);
        let mut digest = continuing.map(|_| Sha256::new());
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| UploadError::Interrupted)?;
            received = received.saturating_add(chunk.len() as u64);
            if let Some(digest) = &mut digest {
                digest.update(&chunk);
            }
            if received > max {
                return Err(too_large());
            }
            if let Some(found) = &inspection
                && received > found.total_len
            {
                return Err(UploadError::TrailingBytes);
            }
            if inspection.is_none() {
                let wanted = INSPECT_LIMIT - prefix.len();
                prefix.extend_from_slice(&chunk[..chunk.len().min(wanted)]);
                match inspect(&prefix) {
                    Ok(found) => {
                        check_addressing(&found, form)?;
                        if received > found.total_len {
                            return Err(UploadError::TrailingBytes);
                        }
                        inspection = Some(found);
                        prefix = Vec::new();
                    }
                    Err(InspectError::Incomplete) => {}
                    Err(error) => return Err(inspection_refusal(&error)),
                }
            }
            file.write_all(&chunk).map_err(internal)?;
        }
        let inspection = match inspection {
            Some(found) => found,
            None if received == 0 => return Err(UploadError::Empty),
            None => return Err(inspection_refusal(&inspect(&prefix).unwrap_err())),
        };
        if received < inspection.total_len {
            return Err(UploadError::Truncated);
        }
        file.flush().map_err(internal)?;
        drop(file);
        check_trailer(&incoming.0, &inspection)?;
        if let (Some(continuing), Some(digest)) = (continuing, digest) {
            check_signature(continuing, &digest.finalize())?;
        }

        // The whole upload is here. What follows runs to its end even if the client hangs
        // up meanwhile (the request's future is then dropped): a mail file without its
        // record would never be delivered nor deleted. A citizen who misses the answer gets
        // the receipt by mail.
        let queue = self.clone();
        let commit = Commit {
            incoming,
            kind: inspection.kind,
            received,
            form_slug: form.slug.clone(),
            mailbox: form.mailbox.clone(),
            reply_to: sender
                .verified
                .filter(|_| form.policy.reply_to_verified)
                .map(|v| v.address.clone()),
            citizen_address: match continuing {
                Some(continuing) => Some(continuing.citizen_address.clone()),
                None => sender.verified.map(|v| v.address.clone()),
            },
            receipt_requested: sender.receipt_requested && self.return_domain.is_some(),
            conversation: sender.conversation,
            now,
        };
        tokio::spawn(async move { queue.commit(commit).await })
            .await
            .map_err(internal)?
    }

    /// Makes the mail, syncs it, records it: accepted.
    async fn commit(&self, commit: Commit) -> Result<Accepted, UploadError> {
        let Commit {
            incoming,
            kind,
            received,
            form_slug,
            mailbox,
            reply_to,
            citizen_address,
            receipt_requested,
            conversation,
            now,
        } = commit;
        // A conversation's mail comes from its alias, and the Reply goes there: the
        // citizen's own address stays inside the ciphertext.
        let (from, reply_to, dkim) = match &conversation {
            Some(conversing) => (
                mail::from_address(&self.mail_from, conversing.alias()),
                Some(conversing.alias().to_owned()),
                self.answer_dkim.clone(),
            ),
            None => (self.mail_from.clone(), reply_to, self.dkim.clone()),
        };
        let receipt = receipt_number(now);
        let return_token = crate::store::new_return_token();
        let notification_to = self
            .return_domain
            .as_deref()
            .filter(|_| receipt_requested)
            .map(|domain| mail::return_address(&return_token, domain));
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let message_id = mail::message_id(&receipt, &random, &from);
        let thread = conversation
            .as_ref()
            .and_then(Conversing::continues)
            .map(|continuing| continuing.thread.clone());
        let mail_bytes = {
            let (receipt, message_id, to) = (receipt.clone(), message_id.clone(), mailbox.clone());
            let notification_to = notification_to.clone();
            let queue = self.clone();
            // Reading and writing up to twice the upload, and syncing: not on the runtime.
            tokio::task::spawn_blocking(move || {
                let envelope = mail::Envelope {
                    from: &from,
                    to: &to,
                    reply_to: reply_to.as_deref(),
                    notification_to: notification_to.as_deref(),
                    receipt: &receipt,
                    date: now,
                    message_id: &message_id,
                    authenticated: kind == EnvelopeKind::AuthEnvelopedData,
                    thread: thread.as_ref(),
                };
                write_mail_file(
                    &incoming.0,
                    &queue.folder,
                    &receipt,
                    &envelope,
                    dkim.as_deref(),
                    queue.signer.as_deref(),
                    now,
                )
            })
            .await
            .map_err(internal)?
            .map_err(internal)?
        };
        let status_token = random_id();
        let status_url = self.status_url(&status_token);
        let receipt_mail = citizen_address
            .as_deref()
            .map(|address| notices::receipt(&receipt, &status_url, address));
        let recorded = self
            .store
            .insert_submission(
                &NewSubmission {
                    receipt: &receipt,
                    status_token_hash: &token_hash(&status_token),
                    form_slug: &form_slug,
                    mailbox: &mailbox,
                    message_id: &message_id,
                    mail_bytes,
                    citizen_address: citizen_address.as_deref(),
                    accepted_at: now,
                    return_token: &return_token,
                    receipt_requested,
                    opens: conversation
                        .as_ref()
                        .and_then(Conversing::opens)
                        .map(|opening| OpenedConversation {
                            alias: &opening.alias,
                            ends_at: opening.ends_at,
                            status_url: &status_url,
                        }),
                    continues: conversation
                        .as_ref()
                        .and_then(Conversing::continues)
                        .map(|continuing| continuing.alias.as_str()),
                },
                receipt_mail.as_ref(),
            )
            .await;
        if let Err(e) = recorded {
            let _ = std::fs::remove_file(self.folder.mail(&receipt));
            return Err(match e {
                crate::store::StoreError::ConversationGone => UploadError::ConversationGone,
                e => internal(e),
            });
        }
        tracing::info!(receipt = %receipt, bytes = received, "accepted");
        self.wake.notify_one();
        Ok(Accepted {
            status_url: self.status_url(&status_token),
            receipt,
            status_token,
        })
    }

    /// Run at start, before any upload: removes what an interrupted acceptance or delivery
    /// left in the queue folder (uploads, partial mails, mails without a queued record), so
    /// that nothing stays there longer than the retention allows. Returns how many files.
    pub async fn sweep(&self) -> Result<usize, crate::store::StoreError> {
        let mut removed = 0;
        let mut remove = |path: &Path| match std::fs::remove_file(path) {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!(file = %path.display(), "cannot remove a leftover: {e}"),
        };
        for file in self.folder.files() {
            match file {
                QueueFile::Upload(path) | QueueFile::PartialMail(path) => remove(&path),
                QueueFile::Mail { receipt, path, .. } => {
                    let queued = self
                        .store
                        .submission(&receipt)
                        .await?
                        .is_some_and(|s| s.state == SubmissionState::Queued);
                    if !queued {
                        tracing::warn!(receipt, "removing a queued mail without a queued record");
                        remove(&path);
                    }
                }
            }
        }
        Ok(removed)
    }

    fn status_url(&self, status_token: &str) -> String {
        format!("{}/status/{status_token}", self.public_url)
    }
}

/// The upload is what the form expects: its algorithms, exactly its certificates, and
/// content keys that fit those certificates' keys.
fn check_addressing(inspection: &Inspection, form: &OfferedForm) -> Result<(), UploadError> {
    inspection
        .check_policy(form.policy.algorithms, &form.certificates)
        .map_err(|mismatch| match mismatch {
            Mismatch::ContentEncryption | Mismatch::KeyTransport | Mismatch::RecipientId => {
                UploadError::WrongAlgorithm
            }
            Mismatch::Recipients => UploadError::CertificateChanged,
            Mismatch::KeyLength => UploadError::WrongRecipient,
        })
}

/// The upload whose SHA-256 is `digest` was signed by the conversation's key.
fn check_signature(continuing: &Continuing, digest: &[u8]) -> Result<(), UploadError> {
    let statement = wire::message_statement(&continuing.alias, &crate::answers::hex(digest));
    if crate::answers::signed::verifies(&continuing.certificate, &statement, &continuing.signature)
    {
        Ok(())
    } else {
        Err(UploadError::SignatureInvalid)
    }
}

/// The hash under which a status token is stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_trailer(path: &Path, inspection: &Inspection) -> Result<(), UploadError> {
    let mut file = std::fs::File::open(path).map_err(internal)?;
    let trailer_len = inspection.trailer_len();
    std::io::Seek::seek(
        &mut file,
        std::io::SeekFrom::Start(inspection.total_len - trailer_len),
    )
    .map_err(internal)?;
    let mut trailer = Vec::with_capacity(trailer_len as usize);
    file.take(trailer_len)
        .read_to_end(&mut trailer)
        .map_err(internal)?;
    inspection
        .check_trailer(&trailer)
        .map_err(|_| UploadError::NotCms)
}

/// Writes the mail of `receipt` for the ciphertext in `ciphertext` into the queue folder
/// (via a partial file), synced with its folder, signed by the portal and with DKIM when
/// configured. Returns its size. Each signature needs a hash of what follows it: one pass
/// over the ciphertext per signature, then one to write.
fn write_mail_file(
    ciphertext: &Path,
    folder: &QueueFolder,
    receipt: &str,
    envelope: &mail::Envelope,
    dkim: Option<&Dkim>,
    signer: Option<&PortalSigner>,
    now: u64,
) -> std::io::Result<u64> {
    envelope.check().map_err(std::io::Error::other)?;
    let partial = Transient(folder.partial_mail(receipt));
    let open = || -> std::io::Result<_> {
        Ok(std::io::BufReader::with_capacity(
            57 * 1024,
            std::fs::File::open(ciphertext)?,
        ))
    };
    let part_header = mail::encrypted_part_header(envelope.authenticated);
    let signature = match signer {
        Some(signer) => {
            let mut content = BodyHash::new();
            content.write_all(&part_header)?;
            mail::write_body_from(&mut content, &mut open()?)?;
            Some(
                signer
                    .sign(&content.finish())
                    .map_err(std::io::Error::other)?,
            )
        }
        None => None,
    };
    let header = mail::outer_header(envelope, signature.is_some());
    let write_body = |out: &mut dyn Write| -> std::io::Result<()> {
        match &signature {
            Some(signature) => {
                out.write_all(&mail::signed_body_start())?;
                out.write_all(&part_header)?;
                mail::write_body_from(&mut *out, &mut open()?)?;
                out.write_all(&mail::signed_body_end(signature))
            }
            None => mail::write_body_from(&mut *out, &mut open()?),
        }
    };
    let dkim_line = match dkim {
        Some(dkim) => {
            let mut hash = BodyHash::new();
            write_body(&mut hash)?;
            dkim.signature_header(&header, &hash.finish(), now)
        }
        None => Vec::new(),
    };
    let output = std::fs::File::create(&partial.0)?;
    let mut writer = std::io::BufWriter::with_capacity(78 * 1024, &output);
    writer.write_all(&dkim_line)?;
    writer.write_all(&header)?;
    write_body(&mut writer)?;
    writer.flush()?;
    drop(writer);
    output.sync_all()?;
    let size = output.metadata()?.len();
    std::fs::rename(&partial.0, folder.mail(receipt))?;
    folder.sync()?;
    Ok(size)
}

/// `2026-7K3M-Q9TX`: the year and eight characters that cannot be misread (no 0/O, 1/I/L,
/// U), about 39 bits.
pub fn receipt_number(now: u64) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
    let year = der::DateTime::from_unix_duration(std::time::Duration::from_secs(now))
        .map_or(2026, |t| t.year());
    let mut out = format!("{year}-");
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    for (i, byte) in bytes.iter().enumerate() {
        if i == 4 {
            out.push('-');
        }
        // 256 % 30 = 16: a slight bias, harmless for a reference number.
        out.push(ALPHABET[*byte as usize % ALPHABET.len()] as char);
    }
    out
}
