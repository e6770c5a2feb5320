//! An answer: the mail the portal received, fetched with the status token, decrypted with
//! the conversation's kept key and taken apart into its text and attachments. Then the
//! portal is told, signed with the same key, that it was opened (it is deleted 30 days on).

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use rsa::pkcs8::DecodePrivateKey;

use crate::key;
use crate::portal::fetch;
use crate::sender::{self, Sender};

/// Why an answer cannot be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// No key for this conversation in this browser (another device, cleared storage).
    NoKey,
    /// The portal could not be reached or no longer has the answer.
    Unreachable,
    /// It does not decrypt with the key (not encrypted to it, damaged, changed).
    Undecryptable,
}

/// An answer as the citizen reads it.
#[derive(Clone)]
pub struct Answer {
    /// The Date its sender's mail program wrote, if any.
    pub date: Option<String>,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// The authority, if its signature verified (see `sender`).
    pub sender: Sender,
}

#[derive(Clone)]
pub struct Attachment {
    pub name: String,
    /// By content, not by the sender's label (`application/octet-stream` if unknown).
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// What the citizen should know before opening it: the resource key of a warning.
    pub caution: Option<&'static str>,
}

impl Attachment {
    /// The form's file checks, as a courtesy: a program, macros or scripts are named
    /// before the citizen opens what the authority (or whoever wrote) sent.
    fn checked(name: String, bytes: Vec<u8>) -> Attachment {
        use smime::files::FileRefusal;
        let (media_type, caution) = match smime::files::identify(&bytes) {
            Ok(kind) => (kind.media_type(), None),
            Err(refusal) => (
                "application/octet-stream",
                match refusal {
                    FileRefusal::Executable => Some("attachment_program"),
                    FileRefusal::MacroEnabled => Some("attachment_macro"),
                    FileRefusal::ActivePdf => Some("attachment_active_pdf"),
                    FileRefusal::EncryptedPdf | FileRefusal::EncryptedOffice => {
                        Some("attachment_protected")
                    }
                    FileRefusal::Unknown => Some("attachment_unknown"),
                    _ => None,
                },
            ),
        };
        Attachment {
            name,
            media_type: media_type.to_owned(),
            bytes,
            caution,
        }
    }
}

/// Fetches, decrypts and reads answer `id` of the message with status `token` in
/// `conversation`, checks who signed it; then says that it was opened.
pub async fn open(
    token: &str,
    conversation: &wire::ConversationState,
    id: &str,
) -> Result<Answer, Unreadable> {
    let alias = conversation.alias.as_str();
    // A store that cannot be read holds no key either, as far as the citizen can tell.
    let kept = key::kept(alias).await.map_err(|_| Unreadable::NoKey)?;
    let mail = fetch(&format!("/api/status/{token}/answers/{id}"), None, &[])
        .await
        .map_err(|_| Unreadable::Unreachable)?;
    let private_key =
        rsa::RsaPrivateKey::from_pkcs8_der(&kept.pkcs8).map_err(|_| Unreadable::Undecryptable)?;
    let cms = encrypted_body(&mail).ok_or(Unreadable::Undecryptable)?;
    let entity = decrypt(&cms, &kept.certificate, &private_key)
        .await
        .ok_or(Unreadable::Undecryptable)?;
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let (content, sender) = sender::checked(&entity, &conversation.form, now).await;
    let answer = read(&mail, &content, sender).ok_or(Unreadable::Undecryptable)?;
    // Best effort: the answer is shown either way; unrecorded, it is kept until its
    // first date.
    let statement = wire::opened_statement(alias, id);
    if let Ok(signature) = key::sign_kept(&kept.pkcs8, statement.as_bytes()).await {
        let body = serde_json::to_string(&wire::SignedRequest {
            signature: base64::engine::general_purpose::STANDARD.encode(signature),
        })
        .expect("plain data serialises");
        let _ = fetch(
            &format!("/api/conversations/{alias}/answers/{id}/opened"),
            Some(("POST", &body)),
            &[],
        )
        .await;
    }
    Ok(answer)
}

/// WebCrypto's AES-CBC over this many bytes per call (all in flight at once).
const DECRYPT_PIECE: usize = 4 << 20;

/// The answer's MIME entity: the content key unwrapped in Rust (WebCrypto has no RSA
/// PKCS#1 v1.5 decryption), AES-CBC's bulk by WebCrypto, AES-GCM in Rust (its tag first).
async fn decrypt(
    cms: &[u8],
    certificate: &smime::Certificate,
    key: &rsa::RsaPrivateKey,
) -> Option<Vec<u8>> {
    match smime::open::unwrap(cms, certificate, key).ok()? {
        smime::open::Unwrapped::Cbc {
            key,
            iv,
            ciphertext,
        } => smime::webcrypto::decrypt_cbc(&key, &iv, &ciphertext, DECRYPT_PIECE)
            .await
            .ok(),
        gcm => gcm.decrypt().ok(),
    }
}

/// The CMS message of an S/MIME mail: its `application/pkcs7-mime` body (or the
/// `x-` form older clients write), base64 decoded.
fn encrypted_body(mail: &[u8]) -> Option<Vec<u8>> {
    let message = MessageParser::default().parse(mail)?;
    message.parts.iter().find_map(|part| {
        let content_type = part.content_type()?;
        let subtype = content_type.subtype()?;
        let smime = content_type.ctype().eq_ignore_ascii_case("application")
            && (subtype.eq_ignore_ascii_case("pkcs7-mime")
                || subtype.eq_ignore_ascii_case("x-pkcs7-mime"));
        match (&part.body, smime) {
            (PartType::Binary(bytes) | PartType::InlineBinary(bytes), true) => Some(bytes.to_vec()),
            _ => None,
        }
    })
}

/// The decrypted entity's text and attachments; the date from the outer mail.
fn read(mail: &[u8], entity: &[u8], sender: Sender) -> Option<Answer> {
    let outer = MessageParser::default().parse(mail)?;
    let inner = MessageParser::default().parse(entity)?;
    let is_signature = |media_type: &str| {
        media_type.eq_ignore_ascii_case("application/pkcs7-signature")
            || media_type.eq_ignore_ascii_case("application/x-pkcs7-signature")
    };
    let mut attachments = Vec::new();
    for part in inner.attachments() {
        let media_type = part
            .content_type()
            .map(|t| match t.subtype() {
                Some(sub) => format!("{}/{sub}", t.ctype()),
                None => t.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        if is_signature(&media_type) {
            continue;
        }
        let name = part
            .attachment_name()
            .map(smime::mime::clean_file_name)
            .unwrap_or_else(|| "anhang".to_owned());
        attachments.push(Attachment::checked(name, part.contents().to_vec()));
    }
    Some(Answer {
        date: outer.date().or(inner.date()).map(|d| d.to_rfc3339()),
        text: inner
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        attachments,
        sender,
    })
}
