//! Whom a received CMS message is encrypted to, read from BER as mail programs write it
//! (NSS and Thunderbird use indefinite lengths; Outlook and OpenSSL DER). Only the front
//! of the message is read: the content type and the recipients, never the ciphertext, so
//! a message of any size is judged from its first bytes.
//!
//! Unlike `inspect` (which takes only our own app's strict DER), this reads whatever BER
//! encodes the same structure: definite or indefinite lengths, long-form lengths; and
//! [`to_der`] writes such a message as DER for the strict decoders (the answer page's).

use x509_cert::Certificate;

/// Nesting deeper than this is refused (a Name is about 5 levels; the whole front 8).
const MAX_DEPTH: usize = 32;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
/// `[0] IMPLICIT SubjectKeyIdentifier` (an OCTET STRING), primitive or constructed.
const CONTEXT_0_PRIMITIVE: u8 = 0x80;

const ID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const ID_AUTH_ENVELOPED_DATA: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("not CMS (BER)")]
    Malformed,
    #[error("CMS, but not encrypted (EnvelopedData or AuthEnvelopedData)")]
    NotEncrypted,
}

/// What kind of encrypted message, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub authenticated: bool,
    pub recipients: Vec<RecipientId>,
}

/// How a recipient is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientId {
    /// A key transport recipient by the certificate's issuer (the Name's encoding) and
    /// serial number (the INTEGER's content bytes).
    IssuerSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// A key transport recipient by subjectKeyIdentifier.
    SubjectKeyId(Vec<u8>),
    /// Another kind of recipient (key agreement, KEK, password, other).
    Other,
}

impl RecipientId {
    /// Whether this names `certificate`: its issuer and serial, or its subject key
    /// identifier extension.
    pub fn names(&self, certificate: &Certificate) -> bool {
        let tbs = &certificate.tbs_certificate;
        match self {
            RecipientId::IssuerSerial { issuer, serial } => {
                der::Encode::to_der(&tbs.issuer).is_ok_and(|own| own == *issuer)
                    && strip_sign_byte(tbs.serial_number.as_bytes()) == strip_sign_byte(serial)
            }
            RecipientId::SubjectKeyId(id) => {
                subject_key_id(certificate).is_some_and(|own| own == id.as_slice())
            }
            RecipientId::Other => false,
        }
    }
}

fn strip_sign_byte(bytes: &[u8]) -> &[u8] {
    match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    }
}

fn subject_key_id(certificate: &Certificate) -> Option<&[u8]> {
    let extension = certificate
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)?;
    // The extension's value is an OCTET STRING holding the identifier's OCTET STRING.
    let (header, rest) = header(extension.extn_value.as_bytes()).ok()?;
    match (header.tag, header.length) {
        (0x04, Length::Definite(n)) if n == rest.len() => Some(rest),
        _ => None,
    }
}

/// The content type and recipients of `ber`, a CMS ContentInfo (from its first bytes;
/// what follows the recipients need not be there).
pub fn received(ber: &[u8]) -> Result<Received, BerError> {
    let (content_info, rest) = header(ber)?;
    expect(content_info, SEQUENCE, true)?;
    let (oid, rest) = whole(rest, 0)?;
    if oid.header.tag != OID {
        return Err(BerError::Malformed);
    }
    let authenticated = match oid.content {
        ID_ENVELOPED_DATA => false,
        ID_AUTH_ENVELOPED_DATA => true,
        _ => return Err(BerError::NotEncrypted),
    };
    let (explicit, rest) = header(rest)?;
    expect(explicit, CONTEXT_0_CONSTRUCTED, true)?;
    let (enveloped, rest) = header(rest)?;
    expect(enveloped, SEQUENCE, true)?;
    let (version, mut rest) = whole(rest, 0)?;
    if version.header.tag != INTEGER {
        return Err(BerError::Malformed);
    }
    // originatorInfo [0] IMPLICIT, optional.
    let (next, after) = whole(rest, 0)?;
    if next.header.tag == CONTEXT_0_CONSTRUCTED {
        rest = after;
    }
    let (infos, _) = whole(rest, 0)?;
    if infos.header.tag != SET {
        return Err(BerError::Malformed);
    }
    let recipients = children(&infos)?
        .iter()
        .map(recipient)
        .collect::<Result<Vec<_>, _>>()?;
    if recipients.is_empty() {
        return Err(BerError::Malformed);
    }
    Ok(Received {
        authenticated,
        recipients,
    })
}

fn recipient(info: &Tlv) -> Result<RecipientId, BerError> {
    // KeyTransRecipientInfo is the only untagged SEQUENCE among the choices.
    if info.header.tag != SEQUENCE {
        return Ok(RecipientId::Other);
    }
    let fields = children(info)?;
    let rid = fields.get(1).ok_or(BerError::Malformed)?;
    match rid.header.tag {
        SEQUENCE => {
            let parts = children(rid)?;
            let [issuer, serial] = parts.as_slice() else {
                return Err(BerError::Malformed);
            };
            if issuer.header.tag != SEQUENCE || serial.header.tag != INTEGER {
                return Err(BerError::Malformed);
            }
            Ok(RecipientId::IssuerSerial {
                issuer: issuer.encoding.to_vec(),
                serial: serial.content.to_vec(),
            })
        }
        CONTEXT_0_PRIMITIVE => Ok(RecipientId::SubjectKeyId(rid.content.to_vec())),
        CONTEXT_0_CONSTRUCTED => Ok(RecipientId::SubjectKeyId(octets(rid)?)),
        _ => Err(BerError::Malformed),
    }
}

/// The bytes of a constructed string: its primitive pieces joined.
fn octets(tlv: &Tlv) -> Result<Vec<u8>, BerError> {
    let mut out = Vec::new();
    for piece in children(tlv)? {
        if piece.header.constructed {
            out.extend(octets(&piece)?);
        } else {
            out.extend_from_slice(piece.content);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    Definite(usize),
    Indefinite,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    tag: u8,
    constructed: bool,
    length: Length,
}

/// One whole element: its header, its content (without the end-of-contents of an
/// indefinite length), and all its bytes.
struct Tlv<'a> {
    header: Header,
    content: &'a [u8],
    encoding: &'a [u8],
}

fn expect(header: Header, tag: u8, constructed: bool) -> Result<(), BerError> {
    if header.tag == tag && header.constructed == constructed {
        Ok(())
    } else {
        Err(BerError::Malformed)
    }
}

/// The header at the start of `input`, and what follows it.
fn header(input: &[u8]) -> Result<(Header, &[u8]), BerError> {
    let (&tag, rest) = input.split_first().ok_or(BerError::Malformed)?;
    if tag & 0x1f == 0x1f {
        // High tag numbers do not occur in the structures read here.
        return Err(BerError::Malformed);
    }
    let (&first, mut rest) = rest.split_first().ok_or(BerError::Malformed)?;
    let length = match first {
        0x80 => Length::Indefinite,
        n if n < 0x80 => Length::Definite(n as usize),
        n => {
            let count = (n & 0x7f) as usize;
            if count > std::mem::size_of::<usize>() || rest.len() < count {
                return Err(BerError::Malformed);
            }
            let mut value = 0usize;
            for &byte in &rest[..count] {
                value = value.checked_mul(256).ok_or(BerError::Malformed)? | byte as usize;
            }
            rest = &rest[count..];
            Length::Definite(value)
        }
    };
    let constructed = tag & 0x20 != 0;
    if length == Length::Indefinite && !constructed {
        return Err(BerError::Malformed);
    }
    Ok((
        Header {
            tag,
            constructed,
            length,
        },
        rest,
    ))
}

/// The whole element at the start of `input`, and what follows it.
fn whole(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::Malformed);
    }
    let (header, rest) = header(input)?;
    let header_len = input.len() - rest.len();
    match header.length {
        Length::Definite(n) => {
            if rest.len() < n {
                return Err(BerError::Malformed);
            }
            let tlv = Tlv {
                header,
                content: &rest[..n],
                encoding: &input[..header_len + n],
            };
            Ok((tlv, &rest[n..]))
        }
        Length::Indefinite => {
            let mut inner = rest;
            loop {
                if let [0, 0, after @ ..] = inner {
                    let content_len = rest.len() - inner.len();
                    let tlv = Tlv {
                        header,
                        content: &rest[..content_len],
                        encoding: &input[..header_len + content_len + 2],
                    };
                    return Ok((tlv, after));
                }
                inner = whole(inner, depth + 1)?.1;
            }
        }
    }
}

/// The elements inside a constructed one.
fn children<'a>(tlv: &Tlv<'a>) -> Result<Vec<Tlv<'a>>, BerError> {
    if !tlv.header.constructed {
        return Err(BerError::Malformed);
    }
    let mut out = Vec::new();
    let mut rest = tlv.content;
    while !rest.is_empty() {
        let (child, after) = whole(rest, 1)?;
        out.push(child);
        rest = after;
    }
    Ok(out)
}

/// The same structure in DER, so that the strict decoders can read a message a mail program
/// wrote in BER: definite, shortest lengths; a constructed string (an OCTET STRING, or an
/// IMPLICIT-tagged one, such as `encryptedContent`, whose pieces are all OCTET STRINGs)
/// joined into one primitive; the elements of a SET in DER's order.
#[cfg(feature = "answers")]
pub fn to_der(ber: &[u8]) -> Result<Vec<u8>, BerError> {
    let (tlv, rest) = whole(ber, 0)?;
    if !rest.is_empty() {
        return Err(BerError::Malformed);
    }
    let mut out = Vec::with_capacity(ber.len());
    normalise(&tlv, &mut out, 0)?;
    Ok(out)
}

#[cfg(feature = "answers")]
const OCTET_STRING: u8 = 0x04;

#[cfg(feature = "answers")]
fn normalise(tlv: &Tlv, out: &mut Vec<u8>, depth: usize) -> Result<(), BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError::Malformed);
    }
    let header = tlv.header;
    if !header.constructed {
        write_header(out, header.tag, tlv.content.len());
        out.extend_from_slice(tlv.content);
        return Ok(());
    }
    let parts = children(tlv)?;
    let string_pieces = !parts.is_empty()
        && parts.iter().all(|p| p.header.tag & !0x20 == OCTET_STRING)
        && (header.tag == OCTET_STRING | 0x20 || header.tag & 0xc0 == 0x80);
    if string_pieces {
        let bytes = octets(tlv)?;
        write_header(out, header.tag & !0x20, bytes.len());
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    let mut encoded = Vec::with_capacity(parts.len());
    for part in &parts {
        let mut one = Vec::new();
        normalise(part, &mut one, depth + 1)?;
        encoded.push(one);
    }
    if header.tag == SET {
        encoded.sort();
    }
    write_header(out, header.tag, encoded.iter().map(Vec::len).sum());
    for one in encoded {
        out.extend_from_slice(&one);
    }
    Ok(())
}

#[cfg(feature = "answers")]
fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_nested_garbage_is_refused_without_panicking() {
        assert_eq!(received(&[]), Err(BerError::Malformed));
        assert_eq!(received(&[0x30, 0x80]), Err(BerError::Malformed));
        assert_eq!(
            received(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(BerError::Malformed)
        );
        let mut deep = vec![0x30, 0x80, 0x06, 0x09];
        deep.extend_from_slice(ID_ENVELOPED_DATA);
        deep.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x00]);
        deep.extend(std::iter::repeat_n([0x31, 0x80], 1000).flatten());
        assert_eq!(received(&deep), Err(BerError::Malformed));
        #[cfg(feature = "answers")]
        for garbage in [
            &[][..],
            &[0x30, 0x80],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &deep,
        ] {
            assert_eq!(to_der(garbage), Err(BerError::Malformed));
        }
    }

    #[test]
    #[cfg(feature = "answers")]
    fn indefinite_lengths_and_pieces_become_der() {
        // SEQUENCE (indefinite) { [0] constructed { OCTET STRING "ab", OCTET STRING "c" },
        // SET { INTEGER 2, INTEGER 1 } }
        let ber = [
            0x30, 0x80, 0xa0, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x31,
            0x06, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01, 0x00, 0x00,
        ];
        assert_eq!(
            to_der(&ber).unwrap(),
            [
                0x30, 0x0d, 0x80, 0x03, b'a', b'b', b'c', 0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01,
                0x02
            ]
        );
    }

    #[test]
    fn signed_data_is_not_encrypted() {
        let mut signed = vec![0x30, 0x80, 0x06, 0x09];
        signed.extend_from_slice(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]);
        assert_eq!(received(&signed), Err(BerError::NotEncrypted));
    }
}
