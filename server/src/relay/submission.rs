//! Accepting an upload: ciphertext only, streamed to disk, inspected from its first bytes,
//! addressed exactly to the form's current certificates, ending exactly where it says; then
//! wrapped as the S/MIME mail, synced, recorded, and only then answered.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine;
use futures_util::StreamExt;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use smime::envelope::ContentEncryption;
use smime::inspect::{EnvelopeKind, INSPECT_LIMIT, InspectError, Inspection, inspect};

use super::dkim::{BodyHash, Dkim};
use super::signing::PortalSigner;
use super::verification::{Verified, random_id};
use crate::api::ApiError;
use crate::directory::catalog::FormPage;
use crate::mail;
use crate::store::{NewSubmission, OutboxMail, Store};

/// What the relay needs to accept and queue.
#[derive(Clone)]
pub struct Queue {
    pub store: Store,
    /// `<data_dir>/queue`: finished mails by receipt number, and `incoming/` uploads.
    pub folder: PathBuf,
    pub mail_from: String,
    pub public_url: String,
    pub max_queue_bytes: u64,
    /// Wakes the worker when something new waits.
    pub wake: Arc<tokio::sync::Notify>,
    /// Signs each mail when configured.
    pub dkim: Option<Arc<Dkim>>,
    /// The portal's S/MIME signature over each mail, when configured.
    pub signer: Option<Arc<PortalSigner>>,
}

/// The answer to an accepted upload.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// e.g. `2026-7K3M-Q9TX`: what the citizen quotes.
    pub receipt: String,
    /// Opens the status page; at least 128 random bits. Only its hash is stored.
    pub status_token: String,
    pub status_url: String,
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
    verified: Option<Verified>,
    now: u64,
}

fn refuse(status: StatusCode, code: &'static str) -> ApiError {
    ApiError::new(status, code)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("accepting a submission failed: {e}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
}

fn inspection_refusal(error: &InspectError) -> ApiError {
    let code = match error {
        InspectError::SignedOnly => "upload_signed_only",
        InspectError::NotEncrypted(_) => "upload_not_encrypted",
        InspectError::Incomplete => "upload_truncated",
        InspectError::IndefiniteLength => "upload_not_der",
        InspectError::NotCms | InspectError::HeaderTooLarge | InspectError::Malformed(_) => {
            "upload_not_cms"
        }
    };
    refuse(StatusCode::UNPROCESSABLE_ENTITY, code)
}

impl Queue {
    /// Receives `body` for `form`. Nothing is queued unless everything holds.
    pub async fn accept(
        &self,
        form: &FormPage,
        verified: Option<&Verified>,
        declared_len: Option<u64>,
        body: Body,
        now: u64,
    ) -> Result<Accepted, ApiError> {
        let (Some(delivery), Some(policy), Some(max)) =
            (&form.delivery, &form.policy, form.max_upload_bytes)
        else {
            return Err(refuse(StatusCode::CONFLICT, "form_not_available"));
        };
        let too_large = || {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large")
                .param("max_upload_bytes", max.into())
        };
        if declared_len.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let queued = self.store.queued_bytes().await.map_err(internal)?;
        if queued + declared_len.unwrap_or(0) > self.max_queue_bytes {
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "queue_full"));
        }

        let incoming_dir = self.folder.join("incoming");
        std::fs::create_dir_all(&incoming_dir).map_err(internal)?;
        let incoming = Transient(incoming_dir.join(format!("{}.der", random_id())));
        let mut file = std::fs::File::create(&incoming.0).map_err(internal)?;
        let mut prefix: Vec<u8> = Vec::new();
        let mut inspection: Option<Inspection> = None;
        let mut received: u64 = 0;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| refuse(StatusCode::BAD_REQUEST, "upload_interrupted"))?;
            received += chunk.len() as u64;
            if received > max {
                return Err(too_large());
            }
            if let Some(found) = &inspection
                && received > found.total_len
            {
                return Err(refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "upload_trailing_bytes",
                ));
            }
            if inspection.is_none() {
                let wanted = INSPECT_LIMIT - prefix.len();
                prefix.extend_from_slice(&chunk[..chunk.len().min(wanted)]);
                match inspect(&prefix) {
                    Ok(found) => {
                        self.check_addressing(&found, delivery, policy.content_encryption)?;
                        if received > found.total_len {
                            return Err(refuse(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "upload_trailing_bytes",
                            ));
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
            None if received == 0 => {
                return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "upload_empty"));
            }
            None => return Err(inspection_refusal(&inspect(&prefix).unwrap_err())),
        };
        if received < inspection.total_len {
            return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "upload_truncated"));
        }
        file.flush().map_err(internal)?;
        drop(file);
        check_trailer(&incoming.0, &inspection)?;

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
            mailbox: delivery.mailbox.clone(),
            reply_to: verified
                .filter(|_| policy.reply_to_verified)
                .map(|v| v.address.clone()),
            verified: verified.cloned(),
            now,
        };
        tokio::spawn(async move { queue.commit(commit).await })
            .await
            .map_err(internal)?
    }

    /// Makes the mail, syncs it, records it: accepted.
    async fn commit(&self, commit: Commit) -> Result<Accepted, ApiError> {
        let Commit {
            incoming,
            kind,
            received,
            form_slug,
            mailbox,
            reply_to,
            verified,
            now,
        } = commit;
        let receipt = receipt_number(now);
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let message_id = mail::message_id(&receipt, &random, &self.mail_from);
        let mail_path = self.folder.join(format!("{receipt}.eml"));
        let mail_bytes = {
            let (mail_path, receipt, message_id, to) = (
                mail_path.clone(),
                receipt.clone(),
                message_id.clone(),
                mailbox.clone(),
            );
            let queue = self.clone();
            // Reading and writing up to twice the upload, and syncing: not on the runtime.
            tokio::task::spawn_blocking(move || {
                let envelope = mail::Envelope {
                    from: &queue.mail_from,
                    to: &to,
                    reply_to: reply_to.as_deref(),
                    receipt: &receipt,
                    date: now,
                    message_id: &message_id,
                    authenticated: kind == EnvelopeKind::AuthEnvelopedData,
                };
                write_mail_file(
                    &incoming.0,
                    &mail_path,
                    &envelope,
                    queue.dkim.as_deref(),
                    queue.signer.as_deref(),
                    now,
                )
            })
            .await
            .map_err(internal)?
            .map_err(internal)?
        };
        let status_token = random_id();
        let receipt_mail = verified
            .as_ref()
            .map(|v| self.receipt_mail(&receipt, &status_token, v));
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
                    citizen_address: verified.as_ref().map(|v| v.address.as_str()),
                    accepted_at: now,
                },
                receipt_mail.as_ref(),
            )
            .await;
        if let Err(e) = recorded {
            let _ = std::fs::remove_file(&mail_path);
            return Err(internal(e));
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
        let listing = |folder: &Path| match std::fs::read_dir(folder) {
            Ok(entries) => entries.flatten().collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::error!(folder = %folder.display(), "cannot read the queue folder: {e}");
                Vec::new()
            }
        };
        for upload in listing(&self.folder.join("incoming")) {
            remove(&upload.path());
        }
        for entry in listing(&self.folder) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".eml.partial") {
                remove(&path);
            } else if let Some(receipt) = name.strip_suffix(".eml") {
                let queued = self
                    .store
                    .submission(receipt)
                    .await?
                    .is_some_and(|s| s.state == crate::store::SubmissionState::Queued);
                if !queued {
                    tracing::warn!(receipt, "removing a queued mail without a queued record");
                    remove(&path);
                }
            }
        }
        Ok(removed)
    }

    fn status_url(&self, status_token: &str) -> String {
        format!("{}/status/{status_token}", self.public_url)
    }

    fn check_addressing(
        &self,
        inspection: &Inspection,
        delivery: &crate::directory::catalog::Delivery,
        content: ContentEncryption,
    ) -> Result<(), ApiError> {
        let expected = match content {
            ContentEncryption::Aes256Cbc => EnvelopeKind::EnvelopedData,
            ContentEncryption::Aes256Gcm => EnvelopeKind::AuthEnvelopedData,
        };
        if inspection.kind != expected {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "upload_wrong_algorithm",
            ));
        }
        let certificates: Vec<smime::Certificate> = delivery
            .certificates
            .iter()
            .filter_map(|c| {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(&c.der)
                    .ok()?;
                der::Decode::from_der(&der).ok()
            })
            .collect();
        if !inspection.addressed_exactly_to(&certificates) {
            return Err(refuse(StatusCode::CONFLICT, "certificate_changed"));
        }
        Ok(())
    }

    /// The citizen's receipt: neutral, no authority named (the mailbox may be shared).
    fn receipt_mail(&self, receipt: &str, status_token: &str, verified: &Verified) -> OutboxMail {
        OutboxMail {
            id: format!("receipt:{receipt}"),
            recipient: verified.address.clone(),
            subject: format!("Eingangsbestätigung {receipt}"),
            body: format!(
                "Ihre verschlüsselte Nachricht ist bei uns eingegangen.\n\n\
                 Eingangsnummer: {receipt}\n\
                 Stand der Zustellung: {}\n\n\
                 Wir leiten sie an das Postfach der Behörde weiter. Wenn das nicht gelingt, \
                 erhalten Sie eine weitere Nachricht.\n\n---\n\n\
                 Your encrypted message has been received. Receipt number: {receipt}. \
                 Delivery status: {}\n",
                self.status_url(status_token),
                self.status_url(status_token)
            ),
        }
    }
}

/// The hash under which a status token is stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_trailer(path: &Path, inspection: &Inspection) -> Result<(), ApiError> {
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
        .map_err(|_| refuse(StatusCode::UNPROCESSABLE_ENTITY, "upload_not_cms"))
}

/// Writes the mail for the ciphertext in `ciphertext` to `path` (via a partial file),
/// synced with its folder, signed by the portal and with DKIM when configured. Returns its
/// size. Each signature needs a hash of what follows it: one pass over the ciphertext per
/// signature, then one to write.
fn write_mail_file(
    ciphertext: &Path,
    path: &Path,
    envelope: &mail::Envelope,
    dkim: Option<&Dkim>,
    signer: Option<&PortalSigner>,
    now: u64,
) -> std::io::Result<u64> {
    let partial = Transient(path.with_extension("eml.partial"));
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
    std::fs::rename(&partial.0, path)?;
    std::fs::File::open(path.parent().expect("the queue folder"))?.sync_all()?;
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
