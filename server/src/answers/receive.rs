//! Whether a mail to a conversation's alias is an answer the portal keeps: S/MIME,
//! encrypted (EnvelopedData or AuthEnvelopedData, BER as any mail program writes it) with
//! a recipient that names the conversation's certificate. Anything else is refused with
//! words that the sender's own mail server passes on to the sender.

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use smime::Certificate;

/// Why a mail to an alias is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an S/MIME encrypted mail at all (plain text, signed only, anything else).
    NotEncrypted,
    /// Encrypted, but not to this conversation's certificate.
    WrongCertificate,
}

impl Refusal {
    /// The SMTP reply, US-ASCII, pointing the authority to `help_url`.
    pub fn reply(self, help_url: &str) -> String {
        let what = match self {
            Refusal::NotEncrypted => "Answers are taken only S/MIME encrypted",
            Refusal::WrongCertificate => "Not encrypted to this conversation's certificate",
        };
        format!(
            "550 5.7.1 {what}: answer encrypted, press Reply on the citizen's signed message; \
             see {help_url}\r\n"
        )
    }
}

/// An answer that may be kept: under which key a replay would be recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub replay_key: String,
    pub authenticated: bool,
}

/// Judges `raw`, the whole mail, for the conversation whose certificate is `certificate`.
pub fn judge(raw: &[u8], certificate: &Certificate) -> Result<Answer, Refusal> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Refusal::NotEncrypted)?;
    let root = message.root_part();
    let is_smime = root.content_type().is_some_and(|ct| {
        ct.c_type.eq_ignore_ascii_case("application")
            && ct.c_subtype.as_deref().is_some_and(|s| {
                s.eq_ignore_ascii_case("pkcs7-mime") || s.eq_ignore_ascii_case("x-pkcs7-mime")
            })
    });
    if !is_smime {
        return Err(Refusal::NotEncrypted);
    }
    let received = smime::ber::received(root.contents()).map_err(|_| Refusal::NotEncrypted)?;
    if !received.recipients.iter().any(|r| r.names(certificate)) {
        return Err(Refusal::WrongCertificate);
    }
    let replay_key = match message.message_id() {
        Some(id) => format!("<{}>", id.trim()),
        None => Sha256::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    Ok(Answer {
        replay_key,
        authenticated: received.authenticated,
    })
}
