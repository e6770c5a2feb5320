//! Answers: the certificate a conversation's key gets from the portal's answers CA.

use serde::{Deserialize, Serialize};

/// The request header by which an upload names the conversation it opens: the alias of
/// the certificate the browser asked for (`ConversationCertificate::alias`).
pub const CONVERSATION_HEADER: &str = "x-postsiegel-conversation";

/// The request header that carries a follow-up's signature (base64, see [`SignedRequest`])
/// over [`message_statement`]: the upload to `/api/conversations/{alias}/messages`.
pub const SIGNATURE_HEADER: &str = "x-postsiegel-signature";

/// Asks the answers CA for a conversation's certificate. Sent with the verification
/// token (`X-Postsiegel-Verification`): only verified addresses get answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateRequest {
    /// The form's slug (`authority` or `authority/unit`).
    pub form: String,
    /// A PKCS#10 request (PEM) for an RSA key of 2048 to 4096 bits, signed with SHA-256:
    /// the proof that the browser holds the key. Only the key is taken from it.
    pub csr: String,
}

/// A conversation's certificate: its only address is a fresh alias on the answer domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationCertificate {
    /// The alias, e.g. `antwort-…@antwort.portal.example`; the upload names it in
    /// `X-Postsiegel-Conversation`, and the message's inner From and Reply-To are it.
    pub alias: String,
    /// The certificate (PEM), for the message's signature.
    pub certificate: String,
    /// The answers CA's certificate (PEM), which goes into the signature too.
    pub ca_certificate: String,
    /// The certificate is revoked unless a submission naming it is accepted by then
    /// (seconds since the Unix epoch). A new request replaces it before that.
    pub pending_until: u64,
    /// Days the conversation lasts after the submission is accepted.
    pub conversation_days: u64,
}

/// The portal's answers CA, as the authority needs it to trust it once: where to fetch
/// its certificate and CRL, and the fingerprint to compare with the one published out of
/// band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswersInfo {
    /// The answer domain: the aliases' domain, the only one the CA certifies.
    pub domain: String,
    /// The CA's certificate (PEM), e.g. `https://portal.example/answers/ca.pem`.
    pub ca_certificate_url: String,
    /// The CA's CRL (DER), as named in every certificate it issues.
    pub crl_url: String,
    /// The SHA-256 fingerprint of the CA's certificate, `AB:CD:…` as mail programs show it.
    pub fingerprint_sha256: String,
    /// Days a conversation lasts after its first message.
    pub conversation_days: u64,
}

/// A request only the holder of the conversation's key can make: `signature` is base64 of
/// an RSASSA-PKCS1-v1_5 SHA-256 signature (WebCrypto's, `openssl dgst -sha256 -sign`) over
/// the UTF-8 bytes of the request's statement ([`opened_statement`], [`close_statement`]).
/// The statements name what they do and for which conversation, so that a signature for one
/// is worth nothing for another; both requests may be repeated without harm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRequest {
    pub signature: String,
}

/// What the browser signs to say that it decrypted answer `answer` of conversation `alias`:
/// the answer is deleted 30 days later.
pub fn opened_statement(alias: &str, answer: &str) -> String {
    format!("Postsiegel: answer opened\nconversation: {alias}\nanswer: {answer}\n")
}

/// What the browser signs to write again in conversation `alias`: the upload whose bytes
/// (the ciphertext, as sent) have the SHA-256 `sha256_hex` (lower-case hex). Bound to the
/// bytes, a signature cannot carry another message.
pub fn message_statement(alias: &str, sha256_hex: &str) -> String {
    format!(
        "Postsiegel: a message in the conversation\nconversation: {alias}\nsha256: {sha256_hex}\n"
    )
}

/// What the browser signs to close conversation `alias` early: its answers are deleted
/// and its certificate revoked.
pub fn close_statement(alias: &str) -> String {
    format!("Postsiegel: close the conversation\nconversation: {alias}\n")
}
