//! The JSON that the app and the server exchange, defined once (lldap's way): the server
//! serialises these types, the app and the tests deserialise the very same ones. No I/O,
//! no HTTP client or server; it builds for wasm32 and natively.
//!
//! With the feature `openapi` every type also describes itself for `/api/openapi.json`.

mod answers;
mod error;
mod forms;
mod named;
mod relay;

pub use answers::{
    AnswersInfo, CONVERSATION_HEADER, CertificateRequest, ConversationCertificate,
    SIGNATURE_HEADER, SignedRequest, close_statement, message_statement, opened_statement,
};
pub use error::{ErrorBody, ErrorCode, ErrorParams};
pub use forms::{
    AuthorityInfo, Contact, Delivery, Embed, FormKind, FormPage, Health, PolicyInfo, Portal,
    Privacy, PublishedCertificate, Reason, ReasonParams, RejectedCertificate, SearchHit,
    SearchResult, UnitInfo, UnitKind, ViaAuthority,
};
pub use relay::{
    Accepted, AnswerArrived, CodeConfirmation, CodeDelivery, CodeRequest, CodeSent,
    ConversationState, DeliveryState, Failure, FailureCode, Report, Status, Thread, Token,
};

/// The request header that carries the verification token with an upload (a header, not a
/// cookie, so that embedded forms work).
pub const TOKEN_HEADER: &str = "x-postsiegel-verification";

/// The request header by which an upload asks for a confirmation of receipt (`1`): the
/// mail then carries `Disposition-Notification-To`, and the status page shows the MDN.
pub const CONFIRMATION_HEADER: &str = "x-postsiegel-confirmation";

/// The media type of an upload: the DER bytes of the encrypted message.
pub const UPLOAD_CONTENT_TYPE: &str = "application/pkcs7-mime";
