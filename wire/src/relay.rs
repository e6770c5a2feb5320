//! Verification, uploads and their status.

use serde::{Deserialize, Serialize};

/// Asks for a code to the citizen's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    /// The form's slug (`authority` or `authority/unit`).
    pub form: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeSent {
    /// How long the code is valid.
    pub valid_seconds: u64,
    /// Asks whether the code's mail came back: `GET /api/verification/delivery/{delivery}`.
    pub delivery: String,
}

/// Whether the mail with a code came back undeliverable (where the portal takes reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeDelivery {
    /// A mail server reported the code's mail undeliverable: the address is likely wrong.
    pub bounced: bool,
}

/// The code the citizen typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeConfirmation {
    pub form: String,
    pub address: String,
    pub code: String,
    /// Remember the address for 30 days (off unless the citizen ticks it).
    #[serde(default)]
    pub remember: bool,
}

/// Proof that the citizen confirmed the address, for one form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    /// Send it in the `X-Postsiegel-Verification` header with the submission.
    pub token: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
    pub address: String,
}

/// The answer to an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// e.g. `2026-7K3M-Q9TX`: what the citizen quotes.
    pub receipt: String,
    /// Opens the status page; at least 128 random bits. Only its hash is stored.
    pub status_token: String,
    pub status_url: String,
}

/// Where a message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub receipt: String,
    pub state: DeliveryState,
    /// RFC 3339.
    pub accepted_at: String,
    /// When it was handed to the mailbox, or when it failed.
    pub finished_at: Option<String>,
    pub failure: Option<Failure>,
    /// The last report after hand-over (a bounce, a delay, a confirmation of receipt).
    pub report: Option<Report>,
    /// Whether the citizen asked for a confirmation of receipt.
    #[serde(default)]
    pub confirmation_requested: bool,
    /// The encrypted answers that arrived for this message's conversation, oldest first
    /// (none without answers).
    #[serde(default)]
    pub answers: Vec<AnswerArrived>,
    /// The conversation this message opened, if it opened one.
    #[serde(default)]
    pub conversation: Option<ConversationState>,
}

/// A conversation as its status page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationState {
    /// The alias the authority answers to (the signed requests name it).
    pub alias: String,
    /// The form the message was sent with (`GET /api/forms/{form}`): whose mailbox signs
    /// the authority's answers, against which anchors, and where the citizen writes again.
    pub form: String,
    /// RFC 3339: when it ends, with whatever answers it still keeps.
    pub ends_at: String,
    /// RFC 3339: when the citizen closed it early, if they did.
    pub closed_at: Option<String>,
    /// What a message written again now answers, for its In-Reply-To and References (the
    /// portal puts the same into the mail's own header).
    pub thread: Thread,
}

/// Where a message stands in its conversation's thread: Message-IDs without angle
/// brackets, as mail programs thread by them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thread {
    /// The latest message of the conversation: the authority's latest answer, or else the
    /// citizen's latest message.
    pub in_reply_to: String,
    /// The conversation's first message, then its latest ones, oldest first.
    pub references: Vec<String>,
}

/// An answer the authority sent, as the status page shows it (it stays encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerArrived {
    /// Fetch it (the whole mail, still encrypted) at `/api/status/{token}/answers/{id}`.
    pub id: String,
    /// RFC 3339: when the portal received it.
    pub received_at: String,
    /// DKIM or SPF vouched for it as coming from the authority mailbox's domain.
    pub verified: bool,
    /// RFC 3339: when the citizen's browser first decrypted it, if it did.
    pub opened_at: Option<String>,
    /// RFC 3339: when it is deleted (30 days after it was first opened, at the latest
    /// when the conversation ends).
    pub kept_until: String,
}

/// What came back after hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// RFC 3339: when the portal received it.
    pub received_at: String,
    /// DKIM or SPF of the reporting server aligned with the authority's mail domain (or,
    /// for a bounce, with the server the mail was handed to): "confirmed". Otherwise an
    /// "unverified report": any server on the way could have written it.
    pub verified: bool,
    /// The reporting server's status code and words (a bounce, a delay), or the
    /// disposition an MDN named.
    pub detail: String,
}

crate::named::named_enum! {
    /// Where a message is.
    pub enum DeliveryState {
        /// Waiting for delivery.
        Queued = "queued",
        /// Handed to the authority's mail server (never "read"); no report since.
        Delivered = "delivered",
        /// Handed over; a server further on reports that it is still trying.
        Delayed = "delayed",
        /// Handed over, then reported undeliverable by a server further on.
        FailedAfterHandover = "failed_after_handover",
        /// The authority's mail program confirmed receipt (an MDN that is neither
        /// `displayed` nor `deleted`).
        ConfirmedReceived = "confirmed_received",
        /// The authority's mail program reported it displayed (MDN `displayed`).
        Opened = "opened",
        /// The authority's mail program reported it deleted without displaying it.
        DeletedUnread = "deleted_unread",
        /// Not handed over, for good.
        Failed = "failed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Failure {
    pub code: FailureCode,
    /// The mail server's answer, for the authority's IT.
    pub detail: String,
}

crate::named::named_enum! {
    /// Why a message was not delivered.
    pub enum FailureCode {
        /// The mail server refused it for good.
        DeliveryRefused = "delivery_refused",
        /// Not delivered within the delivery deadline (48 hours by default).
        DeliveryTimedOut = "delivery_timed_out",
        /// The queued mail could not be read on the server.
        DeliveryLost = "delivery_lost",
    }
}
