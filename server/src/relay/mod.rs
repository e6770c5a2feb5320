//! The relay: e-mail verification, accepting ciphertext uploads, and delivering them as
//! S/MIME mail through a durable queue.
//!
//! [`Relay`] is the one door the HTTP layer knocks on: each of its methods takes what the
//! request carried, decides everything that decides whether a message is taken (the form
//! offered, the content type, the verification, the limits, the upload itself), and
//! answers the wire type or a [`RelayError`] with a stable code. It knows nothing of HTTP.

pub mod limits;
pub mod queue_folder;
pub mod secret;
pub mod signing;
pub mod submission;
pub mod transport;
pub mod verification;
pub mod worker;

use std::net::IpAddr;

use bytes::Bytes;
use futures_util::Stream;
use wire::{
    Accepted, AnswerArrived, AnswersInfo, CertificateRequest, CodeConfirmation, CodeDelivery,
    CodeRequest, CodeSent, ConversationCertificate, ConversationState, DeliveryState, ErrorCode,
    Failure, FailureCode, Report, SignedRequest, Status, Thread, Token,
};

use crate::answers::{Answers, AnswersError, Requester};
use crate::clock::unix_now;
use crate::directory::catalog::{FormError, OfferedForm, SharedCatalog};
use crate::store::StoreError;
use crate::store::submissions::{FailureKind, ReportKind, SubmissionState};
use limits::ClientLimiter;
use submission::{Continuing, Conversing, Opening, Queue, Sender, UploadError};
use verification::{Verifier, VerifyError};

/// Verification, acceptance and status, over the catalog in use.
pub struct Relay {
    pub catalog: SharedCatalog,
    pub verifier: Verifier,
    pub queue: Queue,
    /// Uploads to forms without verification, per client.
    pub unverified: ClientLimiter,
    /// Answers, when configured: the answers CA and the conversations.
    pub answers: Option<std::sync::Arc<Answers>>,
}

/// Why the relay refused a request.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Form(#[from] FormError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("an upload must be application/pkcs7-mime")]
    WrongContentType,
    #[error("the form wants a verified address")]
    NotVerified,
    #[error("too many uploads without verification; wait {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("no such status (unknown, or past the retention)")]
    StatusNotFound,
    #[error(transparent)]
    Answers(#[from] AnswersError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RelayError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RelayError::Form(e) => e.code(),
            RelayError::Verify(e) => e.code(),
            RelayError::Upload(e) => e.code(),
            RelayError::WrongContentType => ErrorCode::UploadWrongContentType,
            RelayError::NotVerified => ErrorCode::NotVerified,
            RelayError::RateLimited { .. } => ErrorCode::RateLimited,
            RelayError::StatusNotFound => ErrorCode::StatusNotFound,
            RelayError::Answers(e) => e.code(),
            RelayError::Store(_) => ErrorCode::InternalError,
        }
    }
}

/// A message written again in a conversation, as it arrives (its form is the
/// conversation's).
pub struct FollowUp<S> {
    /// The conversation's alias.
    pub alias: String,
    /// base64, by the conversation's key over [`wire::message_statement`] with the body's
    /// SHA-256.
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub declared_len: Option<u64>,
    pub receipt_requested: bool,
    pub body: S,
}

/// An upload as it arrives: for which form, with what the request said of itself.
pub struct Upload<S> {
    /// The form's slug.
    pub form: String,
    /// The request's content type, as sent.
    pub content_type: Option<String>,
    /// The verification token, if any.
    pub token: Option<String>,
    /// The client's address (for the limit on unverified uploads).
    pub client: IpAddr,
    /// The length the request declared, if it did.
    pub declared_len: Option<u64>,
    /// The citizen asked for a confirmation of receipt (an MDN).
    pub receipt_requested: bool,
    /// The alias of the conversation this message opens, if it opens one.
    pub conversation: Option<String>,
    /// The ciphertext, as it streams in.
    pub body: S,
}

impl Relay {
    /// Mails a code to the citizen's address, for an offered form.
    pub async fn request_code(&self, request: &CodeRequest) -> Result<CodeSent, RelayError> {
        let slug = self.catalog.get().offered_form(&request.form)?.slug.clone();
        let delivery = self
            .verifier
            .request_code(&request.address, &slug, unix_now())
            .await?;
        self.queue.wake.notify_one();
        Ok(CodeSent {
            valid_seconds: verification::CODE_VALID_SECONDS,
            delivery,
        })
    }

    /// Whether the mail with the code `delivery` names bounced.
    pub async fn code_delivery(&self, delivery: &str) -> Result<CodeDelivery, RelayError> {
        let bounced = self
            .queue
            .store
            .code_bounced(delivery)
            .await?
            .ok_or(RelayError::StatusNotFound)?;
        Ok(CodeDelivery { bounced })
    }

    /// Checks the code; a token bound to the address and the form.
    pub async fn confirm_code(&self, request: &CodeConfirmation) -> Result<Token, RelayError> {
        let slug = self.catalog.get().offered_form(&request.form)?.slug.clone();
        let (token, verified) = self
            .verifier
            .confirm(
                &request.address,
                &slug,
                &request.code,
                request.remember,
                unix_now(),
            )
            .await?;
        Ok(Token {
            token,
            expires_at: verified.expires_at,
            address: verified.address,
        })
    }

    /// Takes an upload, or refuses it with nothing queued.
    pub async fn submit<S, E>(&self, upload: Upload<S>) -> Result<Accepted, RelayError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let catalog = self.catalog.get();
        let form = catalog.offered_form(&upload.form)?;
        check_content_type(upload.content_type.as_deref())?;
        let now = unix_now();
        let verified = upload
            .token
            .as_deref()
            .and_then(|token| self.verifier.check_token(token, &form.slug, now));
        if form.policy.verify_email {
            if verified.is_none() {
                return Err(RelayError::NotVerified);
            }
        } else {
            self.unverified
                .check(upload.client)
                .map_err(|retry_after| RelayError::RateLimited { retry_after })?;
        }
        let conversation = match (&upload.conversation, &verified, &upload.token) {
            (None, _, _) => None,
            (Some(alias), Some(verified), Some(token)) => {
                let answers = self.answers_for(form)?;
                let token_hash = submission::token_hash(token.trim());
                let requester = Requester {
                    address: &verified.address,
                    form: &form.slug,
                    token_hash: &token_hash,
                };
                let conversation = answers.pending(alias, &requester, now).await?;
                Some(Conversing::Opens(Opening {
                    alias: conversation.alias,
                    ends_at: answers.ends_at(now),
                }))
            }
            (Some(_), _, _) => return Err(RelayError::NotVerified),
        };
        let sender = Sender {
            verified: verified.as_ref(),
            receipt_requested: upload.receipt_requested,
            conversation,
        };
        Ok(self
            .queue
            .accept(form, sender, upload.declared_len, upload.body, now)
            .await?)
    }

    /// Takes a message the citizen writes again in a live conversation: no verification
    /// (the conversation's key signs it), the conversation's form as it is now, its mail
    /// from the alias and naming what it answers. Refused with nothing queued otherwise.
    pub async fn continue_conversation<S, E>(
        &self,
        follow_up: FollowUp<S>,
    ) -> Result<Accepted, RelayError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        // Unsigned, a request is refused before anything is looked up.
        let signature = follow_up.signature.ok_or(AnswersError::SignatureInvalid)?;
        self.answers_on()?;
        check_content_type(follow_up.content_type.as_deref())?;
        let now = unix_now();
        let conversation = self
            .queue
            .store
            .live_conversation(follow_up.alias.trim(), now)
            .await?
            .ok_or(AnswersError::ConversationUnknown)?;
        let catalog = self.catalog.get();
        let form = catalog.offered_form(&conversation.form_slug)?;
        self.answers_for(form)?;
        let ids = self.queue.store.thread_ids(&conversation.alias).await?;
        let thread = crate::answers::thread(&ids).ok_or(AnswersError::ConversationUnknown)?;
        let sender = Sender {
            verified: None,
            receipt_requested: follow_up.receipt_requested,
            conversation: Some(Conversing::Continues(Continuing {
                alias: conversation.alias,
                citizen_address: conversation.citizen_address,
                certificate: conversation.certificate,
                signature,
                thread,
            })),
        };
        Ok(self
            .queue
            .accept(form, sender, follow_up.declared_len, follow_up.body, now)
            .await?)
    }

    /// Answers, where this form offers them: configured, and the form verifies addresses.
    fn answers_for(&self, form: &OfferedForm) -> Result<&Answers, RelayError> {
        match &self.answers {
            Some(answers) if form.policy.verify_email => Ok(answers),
            _ => Err(AnswersError::NotOffered.into()),
        }
    }

    /// Answers, where the portal takes them at all (`answers_not_offered` otherwise).
    fn answers_on(&self) -> Result<&Answers, RelayError> {
        Ok(self.answers.as_deref().ok_or(AnswersError::NotOffered)?)
    }

    /// The answers CA, for the authorities that trust it.
    pub fn answers_info(&self) -> Result<AnswersInfo, RelayError> {
        let answers = self.answers_on()?;
        Ok(AnswersInfo {
            domain: answers.config.domain.clone(),
            ca_certificate_url: format!("{}{}", self.queue.public_url, crate::answers::CA_PATH),
            crl_url: answers.crl_url.clone(),
            fingerprint_sha256: answers.ca.fingerprint(),
            conversation_days: answers.config.conversation_days,
        })
    }

    /// Answers, when on: the edge serves the CA's certificate and CRL from it.
    pub fn answers(&self) -> Option<&Answers> {
        self.answers.as_deref()
    }

    /// A conversation's certificate for the key in the request, for the address the
    /// token verified for this form.
    pub async fn request_certificate(
        &self,
        token: Option<&str>,
        request: &CertificateRequest,
    ) -> Result<ConversationCertificate, RelayError> {
        let catalog = self.catalog.get();
        let form = catalog.offered_form(&request.form)?;
        let answers = self.answers_for(form)?;
        let now = unix_now();
        let token = token.map(str::trim).ok_or(RelayError::NotVerified)?;
        let verified = self
            .verifier
            .check_token(token, &form.slug, now)
            .ok_or(RelayError::NotVerified)?;
        let token_hash = submission::token_hash(token);
        let issued = answers
            .issue(
                &Requester {
                    address: &verified.address,
                    form: &form.slug,
                    token_hash: &token_hash,
                },
                request.csr.as_bytes(),
                now,
            )
            .await?;
        Ok(ConversationCertificate {
            alias: issued.alias,
            certificate: issued.certificate_pem,
            ca_certificate: answers.ca.pem(),
            pending_until: issued.pending_until,
            conversation_days: answers.config.conversation_days,
        })
    }

    async fn submission_by_status_token(
        &self,
        token: &str,
    ) -> Result<crate::store::submissions::Submission, RelayError> {
        self.queue
            .store
            .submission_by_status_token(&submission::token_hash(token))
            .await?
            .ok_or(RelayError::StatusNotFound)
    }

    /// Where a message is, by the status token from its receipt.
    pub async fn status(&self, token: &str) -> Result<Status, RelayError> {
        let submission = self.submission_by_status_token(token).await?;
        let time = smime::mime::rfc3339;
        let conversation = self
            .queue
            .store
            .conversation_of(&submission.receipt)
            .await?;
        let answers = match &conversation {
            Some(conversation) => self.queue.store.answers(&conversation.alias).await?,
            None => Vec::new(),
        };
        let ends_at = conversation.as_ref().and_then(|c| c.ends_at).unwrap_or(0);
        let answers = answers
            .into_iter()
            .map(|answer| AnswerArrived {
                kept_until: time(Answers::kept_until(answer.opened_at, ends_at)),
                id: answer.id,
                received_at: time(answer.received_at),
                verified: answer.verified,
                opened_at: answer.opened_at.map(time),
            })
            .collect();
        let conversation = match conversation {
            Some(c) => {
                let ids = self.queue.store.thread_ids(&c.alias).await?;
                let thread = crate::answers::thread(&ids).unwrap_or_else(|| Thread {
                    in_reply_to: submission.message_id.clone(),
                    references: vec![submission.message_id.clone()],
                });
                Some(ConversationState {
                    alias: c.alias,
                    form: c.form_slug,
                    ends_at: time(ends_at),
                    closed_at: c.revoked_at.map(time),
                    thread,
                })
            }
            None => None,
        };
        let report_kind = submission.report.as_ref().and_then(|r| r.kind);
        Ok(Status {
            state: match (submission.state, report_kind) {
                (SubmissionState::Queued, _) => DeliveryState::Queued,
                (SubmissionState::Delivered, None) => DeliveryState::Delivered,
                (SubmissionState::Delivered, Some(ReportKind::Delayed)) => DeliveryState::Delayed,
                (SubmissionState::Delivered, Some(ReportKind::Received)) => {
                    DeliveryState::ConfirmedReceived
                }
                (SubmissionState::Delivered, Some(ReportKind::Opened)) => DeliveryState::Opened,
                (SubmissionState::Delivered, Some(ReportKind::Deleted)) => {
                    DeliveryState::DeletedUnread
                }
                (SubmissionState::Bounced, _) => DeliveryState::FailedAfterHandover,
                (SubmissionState::Failed, _) => DeliveryState::Failed,
            },
            report: submission.report.as_ref().map(|report| Report {
                received_at: time(report.at),
                verified: report.verified,
                detail: report.detail.clone(),
            }),
            confirmation_requested: submission.receipt_requested,
            answers,
            conversation,
            accepted_at: time(submission.accepted_at),
            finished_at: submission.finished_at.map(time),
            failure: submission.failure.map(|kind| Failure {
                code: match kind {
                    FailureKind::Refused => FailureCode::DeliveryRefused,
                    FailureKind::TimedOut => FailureCode::DeliveryTimedOut,
                    FailureKind::Lost => FailureCode::DeliveryLost,
                },
                detail: submission.last_error.clone().unwrap_or_default(),
            }),
            receipt: submission.receipt,
        })
    }

    /// An answer's mail, still encrypted, by the status token of the message whose
    /// conversation it answers.
    pub async fn answer_mail(&self, token: &str, id: &str) -> Result<Vec<u8>, RelayError> {
        let answers = self.answers_on()?;
        let submission = self.submission_by_status_token(token).await?;
        let theirs = self.queue.store.answers_to(&submission.receipt).await?;
        if !theirs.iter().any(|answer| answer.id == id) {
            return Err(AnswersError::AnswerNotFound.into());
        }
        Ok(answers.answer_mail(id)?)
    }

    /// The citizen's browser decrypted an answer (signed by the conversation's key).
    pub async fn answer_opened(
        &self,
        alias: &str,
        id: &str,
        request: &SignedRequest,
    ) -> Result<(), RelayError> {
        let answers = self.answers_on()?;
        Ok(answers
            .opened(alias, id, &request.signature, unix_now())
            .await?)
    }

    /// The citizen closes a conversation (signed by its key).
    pub async fn close_conversation(
        &self,
        alias: &str,
        request: &SignedRequest,
    ) -> Result<(), RelayError> {
        let answers = self.answers_on()?;
        Ok(answers.close(alias, &request.signature, unix_now()).await?)
    }
}

/// An upload is DER of CMS: `application/pkcs7-mime`, whatever parameters follow.
fn check_content_type(content_type: Option<&str>) -> Result<(), RelayError> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim();
    if media_type.eq_ignore_ascii_case(wire::UPLOAD_CONTENT_TYPE) {
        Ok(())
    } else {
        Err(RelayError::WrongContentType)
    }
}
