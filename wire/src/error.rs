//! The body of every refusal, and the stable codes in it.

use serde::{Deserialize, Serialize};

/// The body of every error answer of the API: `{code, field, params}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable; the app words it in the citizen's language.
    pub code: ErrorCode,
    /// The request field the error is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Details for the wording; `{}` when the code needs none.
    #[serde(default)]
    pub params: ErrorParams,
}

/// What some codes come with. Each is absent unless its code sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorParams {
    /// `code_wrong`: attempts left with this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// `rate_limited`, `too_many_codes`: seconds to wait (also in `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// `upload_too_large`: the form's largest upload, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload_bytes: Option<u64>,
    /// `search_query_too_long`: the longest query, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// `request_too_large`: the largest body, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

crate::named::named_enum! {
    /// Every code an error answer can carry. The names are part of the API: never rename
    /// one.
    pub enum ErrorCode {
        // The request itself.
        /// No such path.
        NotFound = "not_found",
        /// The path exists, but not for this method.
        MethodNotAllowed = "method_not_allowed",
        /// The body is not JSON at all.
        JsonMalformed = "json_malformed",
        /// A field (`field`) holds a value of the wrong type.
        JsonWrongType = "json_wrong_type",
        /// A required field (`field`) is missing.
        JsonMissingField = "json_missing_field",
        /// A JSON endpoint was sent another content type.
        JsonWrongContentType = "json_wrong_content_type",
        /// The request body is larger than the endpoint takes.
        RequestTooLarge = "request_too_large",
        /// The request took too long.
        RequestTimeout = "request_timeout",
        /// The request is malformed in a way no other code names (a broken request line, a
        /// path that is not UTF-8).
        RequestInvalid = "request_invalid",
        /// The request's URI is longer than the portal reads.
        UriTooLong = "uri_too_long",
        /// The request's header block is larger than the portal reads.
        HeadersTooLarge = "headers_too_large",
        /// This client holds as many connections as it may; close one and try again.
        TooManyConnections = "too_many_connections",
        /// Too many requests from this client; `retry_after_seconds`.
        RateLimited = "rate_limited",
        /// Something failed on the server; nothing was accepted.
        InternalError = "internal_error",
        /// The relay does not run on this server.
        RelayUnavailable = "relay_unavailable",

        // Search and forms.
        SearchQueryEmpty = "search_query_empty",
        SearchQueryTooLong = "search_query_too_long",
        SearchQueryInvalid = "search_query_invalid",
        FormNotFound = "form_not_found",
        FormNotAvailable = "form_not_available",

        // Verification.
        EmailInvalid = "email_invalid",
        /// `retry_after_seconds`.
        TooManyCodes = "too_many_codes",
        CodeExpired = "code_expired",
        /// `attempts_left`.
        CodeWrong = "code_wrong",
        CodeAttemptsExhausted = "code_attempts_exhausted",

        // Uploads.
        NotVerified = "not_verified",
        UploadWrongContentType = "upload_wrong_content_type",
        /// `max_upload_bytes`.
        UploadTooLarge = "upload_too_large",
        UploadEmpty = "upload_empty",
        UploadInterrupted = "upload_interrupted",
        UploadTruncated = "upload_truncated",
        UploadTrailingBytes = "upload_trailing_bytes",
        UploadNotCms = "upload_not_cms",
        UploadNotDer = "upload_not_der",
        UploadSignedOnly = "upload_signed_only",
        UploadNotEncrypted = "upload_not_encrypted",
        /// Not the form's content encryption or key transport.
        UploadWrongAlgorithm = "upload_wrong_algorithm",
        /// A recipient named like the form's certificate, with a content key that the
        /// certificate's key cannot have made.
        UploadWrongRecipient = "upload_wrong_recipient",
        /// The form's certificates changed: fetch the form and encrypt again.
        CertificateChanged = "certificate_changed",
        QueueFull = "queue_full",

        // Status.
        StatusNotFound = "status_not_found",

        // Answers.
        /// This form offers no answers (the portal has none configured, or the form does
        /// not verify addresses).
        AnswersNotOffered = "answers_not_offered",
        /// The certificate request (`csr`) is not a PKCS#10 request signed by its own key.
        CsrInvalid = "csr_invalid",
        /// The request's key is not an RSA key of 2048 to 4096 bits.
        CsrKeyUnsuitable = "csr_key_unsuitable",
        /// The upload names a conversation that is not pending for this token and form
        /// (another message opened it, it was replaced, or its time ran out).
        ConversationUnknown = "conversation_unknown",
        /// No such answer: unknown, or deleted (30 days after it was first opened, or
        /// with its conversation).
        AnswerNotFound = "answer_not_found",
        /// The request's `signature` is not the conversation key's over its statement.
        SignatureInvalid = "signature_invalid",
    }
}
