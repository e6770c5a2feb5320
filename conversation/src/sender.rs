//! Who sent an answer. A signed answer (multipart/signed, or opaque signed-data) shows as
//! the authority's only when `smime::signed` verifies it: signed by a certificate for the
//! form's mailbox that chains to the portal's trust anchors. Anything else, unsigned
//! included, shows as "sender not verified", its text still readable.

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};
use smime::Certificate;
use smime::certificate::{CheckContext, parse_certificates};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// Signed by a checked certificate of this mailbox.
    Authority(String),
    NotVerified,
}

/// The entity to read (inside its signature, if signed) and who sent it.
pub async fn checked(entity: &[u8], form: &str, now: u64) -> (Vec<u8>, Sender) {
    let Some(signed) = split(entity) else {
        return (entity.to_vec(), Sender::NotVerified);
    };
    let content = match &signed.detached {
        Some(content) => content.clone(),
        None => match smime::signed::opaque_content(&signed.signature) {
            Ok(content) => content,
            Err(_) => return (entity.to_vec(), Sender::NotVerified),
        },
    };
    let Some(trust) = trust(form).await else {
        return (content, Sender::NotVerified);
    };
    let context = CheckContext {
        now,
        mailbox: &trust.mailbox,
        anchors: &trust.anchors,
        intermediates: &trust.intermediates,
        verified_elsewhere: &[],
    };
    match smime::signed::verify(&signed.signature, signed.detached.as_deref(), &context) {
        Ok(_) => (content, Sender::Authority(trust.mailbox)),
        Err(_) => (content, Sender::NotVerified),
    }
}

struct Signed {
    /// CMS SignedData (DER or BER).
    signature: Vec<u8>,
    /// The signed part of a multipart/signed, exactly as it stands.
    detached: Option<Vec<u8>>,
}

fn split(entity: &[u8]) -> Option<Signed> {
    let message = MessageParser::default().parse(entity)?;
    let root = message.parts.first()?;
    let media = root.content_type()?;
    let is = |ctype: &str, subtype: &str| {
        media.ctype().eq_ignore_ascii_case(ctype)
            && media
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
    };
    if is("multipart", "signed") {
        let parts = root.sub_parts()?;
        let (content, signature) = (
            message.parts.get(*parts.first()? as usize)?,
            message.parts.get(*parts.get(1)? as usize)?,
        );
        let raw =
            entity.get(content.raw_header_offset() as usize..content.raw_end_offset() as usize)?;
        return Some(Signed {
            signature: signature.contents().to_vec(),
            detached: Some(raw.to_vec()),
        });
    }
    let smime_type = media.attribute("smime-type").unwrap_or_default();
    if (is("application", "pkcs7-mime") || is("application", "x-pkcs7-mime"))
        && smime_type.eq_ignore_ascii_case("signed-data")
    {
        return Some(Signed {
            signature: root.contents().to_vec(),
            detached: None,
        });
    }
    None
}

struct Trust {
    mailbox: String,
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
}

/// The form's mailbox and the anchors its certificates are checked against, as the portal
/// publishes them now.
async fn trust(form: &str) -> Option<Trust> {
    let page = crate::portal::fetch(&format!("/api/forms/{form}"), None, &[])
        .await
        .ok()?;
    let page: wire::FormPage = serde_json::from_slice(&page).ok()?;
    let delivery = page.delivery?;
    let anchors = crate::portal::fetch(&delivery.trust_anchors, None, &[])
        .await
        .ok()?;
    let intermediates = delivery
        .intermediates
        .iter()
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .filter_map(|der| parse_certificates(&der).ok())
        .flatten()
        .collect();
    Some(Trust {
        mailbox: delivery.mailbox,
        anchors: parse_certificates(&anchors).ok()?,
        intermediates,
    })
}
