//! Looking at an upload without decrypting it: what kind of CMS message it is, whom it is
//! addressed to and how long it says it is, from its first bytes only, so that a relay can
//! stream the rest to disk and check that it ends exactly there.

use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::{RecipientIdentifier, RecipientInfo, RecipientInfos};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911;
use der::Decode;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::envelope::{
    Algorithms, ContentEncryption, content_encryption_oid, key_transport_algorithm,
};

/// The relay never needs more than this to inspect an upload.
pub const INSPECT_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind {
    EnvelopedData,
    AuthEnvelopedData,
}

/// How a message names one of its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientId {
    IssuerAndSerialNumber(IssuerAndSerialNumber),
    SubjectKeyIdentifier(Vec<u8>),
    /// Key agreement, KEK or password recipients: never made by Postsiegel.
    Other,
}

impl RecipientId {
    /// Whether this names `certificate`.
    pub fn names(&self, certificate: &Certificate) -> bool {
        match self {
            RecipientId::IssuerAndSerialNumber(id) => {
                id.issuer == certificate.tbs_certificate.issuer
                    && id.serial_number == certificate.tbs_certificate.serial_number
            }
            RecipientId::SubjectKeyIdentifier(ski) => certificate
                .tbs_certificate
                .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, own)| own.0.as_bytes() == ski.as_slice()),
            RecipientId::Other => false,
        }
    }
}

/// One recipient of an upload: who, and how its content key was encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub id: RecipientId,
    /// The key transport algorithm (absent for recipients that are not key transport).
    pub key_transport: Option<AlgorithmIdentifierOwned>,
    /// How long the encrypted content key is: an RSA key's modulus length.
    pub encrypted_key_len: usize,
}

/// How an upload differs from what a form expects, seen without any private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("encrypted with another content encryption than the form's")]
    ContentEncryption,
    #[error("a content key transported with another algorithm than the form's")]
    KeyTransport,
    /// gpgsm cannot find its key by a subject key identifier (`../shared/INTEROP.md`).
    #[error("a recipient named by another means than issuer and serial number")]
    RecipientId,
    #[error("not addressed exactly to the form's certificates")]
    Recipients,
    #[error("an encrypted content key that no key of the named certificate can have made")]
    KeyLength,
}

/// What an upload's first bytes say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub kind: EnvelopeKind,
    pub recipients: Vec<Addressee>,
    /// The content encryption algorithm (AES-256-CBC or AES-256-GCM for Postsiegel's own).
    pub content_algorithm: ObjectIdentifier,
    /// The whole message's length as its outer DER header declares it.
    pub total_len: u64,
    /// Where the ciphertext starts and how long it is.
    pub ciphertext_offset: u64,
    pub ciphertext_len: u64,
}

impl Inspection {
    /// Whether the recipients are exactly `certificates` (no more, no fewer).
    pub fn addressed_exactly_to(&self, certificates: &[Certificate]) -> bool {
        self.recipients
            .iter()
            .all(|r| certificates.iter().any(|c| r.id.names(c)))
            && certificates
                .iter()
                .all(|c| self.recipients.iter().any(|r| r.id.names(c)))
    }

    /// Whether the upload is what a form with `algorithms` and `certificates` expects:
    /// its content encryption, each recipient's key transport (parameters included) and
    /// identifier (issuer and serial number, which every client reads), the recipients
    /// exactly, and for each an encrypted key as long as the named certificate's RSA
    /// modulus (a key made for another key of the same name differs).
    pub fn check_policy(
        &self,
        algorithms: Algorithms,
        certificates: &[Certificate],
    ) -> Result<(), Mismatch> {
        let kind = match algorithms.content {
            ContentEncryption::Aes256Cbc => EnvelopeKind::EnvelopedData,
            ContentEncryption::Aes256Gcm => EnvelopeKind::AuthEnvelopedData,
        };
        if self.kind != kind || self.content_algorithm != content_encryption_oid(algorithms.content)
        {
            return Err(Mismatch::ContentEncryption);
        }
        let transport = key_transport_algorithm(algorithms.key_transport)
            .map_err(|_| Mismatch::KeyTransport)?;
        if self.recipients.iter().any(|r| {
            !r.key_transport
                .as_ref()
                .is_some_and(|a| same_algorithm(a, &transport))
        }) {
            return Err(Mismatch::KeyTransport);
        }
        if self
            .recipients
            .iter()
            .any(|r| !matches!(r.id, RecipientId::IssuerAndSerialNumber(_)))
        {
            return Err(Mismatch::RecipientId);
        }
        if !self.addressed_exactly_to(certificates) {
            return Err(Mismatch::Recipients);
        }
        for recipient in &self.recipients {
            let fits = certificates
                .iter()
                .filter(|c| recipient.id.names(c))
                .all(|c| {
                    crate::certificate::rsa_modulus_len(c) == Some(recipient.encrypted_key_len)
                });
            if !fits {
                return Err(Mismatch::KeyLength);
            }
        }
        Ok(())
    }

    /// The bytes after the ciphertext, as many as the header announced.
    pub fn trailer_len(&self) -> u64 {
        self.total_len - self.ciphertext_offset - self.ciphertext_len
    }

    /// Checks what follows the ciphertext: for EnvelopedData at most unprotected attributes;
    /// for AuthEnvelopedData optional authenticated attributes, the MAC, optional
    /// unauthenticated attributes.
    pub fn check_trailer(&self, trailer: &[u8]) -> Result<(), InspectError> {
        if trailer.len() as u64 != self.trailer_len() {
            return Err(InspectError::Malformed(
                "the end of the message has the wrong length",
            ));
        }
        let malformed = |_| InspectError::Malformed("the end of the message is unreadable");
        let mut cursor = Cursor::new(trailer);
        cursor.optional_tlv(0xA1).map_err(malformed)?;
        if self.kind == EnvelopeKind::AuthEnvelopedData {
            let (tag, _mac) = cursor.tlv().map_err(malformed)?;
            if tag != 0x04 {
                return Err(InspectError::Malformed(
                    "the message authentication code is missing",
                ));
            }
            cursor.optional_tlv(0xA2).map_err(malformed)?;
        }
        if !cursor.at_end() {
            return Err(InspectError::Malformed(
                "unexpected data after the encrypted content",
            ));
        }
        Ok(())
    }
}

/// Equal algorithms; absent parameters and NULL ones count alike, as RFC 3370 allows for
/// rsaEncryption; RSA-OAEP's parameters are compared by what they say (hash, mask
/// generation and label), not by how they were encoded.
fn same_algorithm(a: &AlgorithmIdentifierOwned, b: &AlgorithmIdentifierOwned) -> bool {
    if a.oid != b.oid {
        return false;
    }
    if a.oid == const_oid::db::rfc5912::ID_RSAES_OAEP {
        return match (oaep_parameters(a), oaep_parameters(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
    }
    nothing(&a.parameters) && nothing(&b.parameters) || a.parameters == b.parameters
}

fn nothing(parameters: &Option<der::Any>) -> bool {
    parameters
        .as_ref()
        .is_none_or(|p| der::Tagged::tag(p) == der::Tag::Null)
}

/// What RSA-OAEP's parameters say: the hash, the mask generation function and its hash,
/// the label's source and value.
#[derive(PartialEq, Eq)]
struct Oaep {
    hash: ObjectIdentifier,
    mask: ObjectIdentifier,
    mask_hash: Option<ObjectIdentifier>,
    label_source: ObjectIdentifier,
    label: Vec<u8>,
}

fn oaep_parameters(algorithm: &AlgorithmIdentifierOwned) -> Option<Oaep> {
    let der = der::Encode::to_der(algorithm.parameters.as_ref()?).ok()?;
    let params = rsa::pkcs1::RsaOaepParams::from_der(&der).ok()?;
    Some(Oaep {
        hash: params.hash.oid,
        mask: params.mask_gen.oid,
        mask_hash: params.mask_gen.parameters.as_ref().map(|hash| hash.oid),
        label_source: params.p_source.oid,
        label: params
            .p_source
            .parameters
            .as_ref()
            .map(|value| value.value().to_vec())
            .unwrap_or_default(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("more bytes are needed to inspect the message")]
    Incomplete,
    #[error("the recipients do not fit in the first 64 KiB")]
    HeaderTooLarge,
    #[error("not a CMS message")]
    NotCms,
    #[error("signed but not encrypted")]
    SignedOnly,
    #[error("a CMS message of type {0}, which is not encrypted")]
    NotEncrypted(ObjectIdentifier),
    #[error("BER with indefinite lengths, not DER")]
    IndefiniteLength,
    #[error("malformed CMS: {0}")]
    Malformed(&'static str),
}

/// Inspects the first bytes of an upload (all of it, or at least up to the ciphertext;
/// never more than [`INSPECT_LIMIT`] are needed). [`InspectError::Incomplete`] asks for
/// more bytes; once `prefix` holds [`INSPECT_LIMIT`] bytes it becomes `HeaderTooLarge`.
pub fn inspect(prefix: &[u8]) -> Result<Inspection, InspectError> {
    let prefix = &prefix[..prefix.len().min(INSPECT_LIMIT)];
    match inspect_prefix(prefix) {
        Err(InspectError::Incomplete) if prefix.len() >= INSPECT_LIMIT => {
            Err(InspectError::HeaderTooLarge)
        }
        other => other,
    }
}

fn inspect_prefix(prefix: &[u8]) -> Result<Inspection, InspectError> {
    let mut cursor = Cursor::new(prefix);
    let (tag, content_info_len) = cursor.header()?;
    if tag != 0x30 {
        return Err(InspectError::NotCms);
    }
    let total_len = end_of(cursor.pos, content_info_len)?;
    let (tag, oid_bytes) = cursor.tlv()?;
    if tag != 0x06 {
        return Err(InspectError::NotCms);
    }
    let oid = ObjectIdentifier::from_bytes(oid_bytes).map_err(|_| InspectError::NotCms)?;
    let kind = match oid {
        rfc5911::ID_ENVELOPED_DATA => EnvelopeKind::EnvelopedData,
        rfc5911::ID_CT_AUTH_ENVELOPED_DATA => EnvelopeKind::AuthEnvelopedData,
        rfc5911::ID_SIGNED_DATA => return Err(InspectError::SignedOnly),
        other => return Err(InspectError::NotEncrypted(other)),
    };
    let (tag, explicit_len) = cursor.header()?;
    if tag != 0xA0 || end_of(cursor.pos, explicit_len)? != total_len {
        return Err(InspectError::Malformed(
            "content is not the rest of the message",
        ));
    }
    let (tag, inner_len) = cursor.header()?;
    if tag != 0x30 || end_of(cursor.pos, inner_len)? != total_len {
        return Err(InspectError::Malformed("content is not one SEQUENCE"));
    }
    let (tag, _version) = cursor.tlv()?;
    if tag != 0x02 {
        return Err(InspectError::Malformed("version missing"));
    }
    cursor.optional_tlv(0xA0)?; // originatorInfo
    let start = cursor.pos;
    let (tag, _) = cursor.tlv()?;
    if tag != 0x31 {
        return Err(InspectError::Malformed("recipient infos missing"));
    }
    let infos = RecipientInfos::from_der(&prefix[start..cursor.pos])
        .map_err(|_| InspectError::Malformed("recipient infos unreadable"))?;
    let recipients = infos
        .0
        .iter()
        .map(|info| match info {
            RecipientInfo::Ktri(ktri) => Addressee {
                id: match &ktri.rid {
                    RecipientIdentifier::IssuerAndSerialNumber(id) => {
                        RecipientId::IssuerAndSerialNumber(id.clone())
                    }
                    RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                        RecipientId::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
                    }
                },
                key_transport: Some(ktri.key_enc_alg.clone()),
                encrypted_key_len: ktri.enc_key.as_bytes().len(),
            },
            _ => Addressee {
                id: RecipientId::Other,
                key_transport: None,
                encrypted_key_len: 0,
            },
        })
        .collect();

    // EncryptedContentInfo: contentType, contentEncryptionAlgorithm, [0] ciphertext.
    let (tag, eci_len) = cursor.header()?;
    if tag != 0x30 {
        return Err(InspectError::Malformed("encrypted content info missing"));
    }
    let eci_end = end_of(cursor.pos, eci_len)?;
    if eci_end > total_len {
        return Err(InspectError::Malformed(
            "encrypted content overruns the message",
        ));
    }
    let (tag, inner_type) = cursor.tlv()?;
    if tag != 0x06 || inner_type != rfc5911::ID_DATA.as_bytes() {
        return Err(InspectError::Malformed("encrypted content is not id-data"));
    }
    let start = cursor.pos;
    cursor.tlv()?;
    let algorithm = AlgorithmIdentifierOwned::from_der(&prefix[start..cursor.pos])
        .map_err(|_| InspectError::Malformed("content encryption algorithm unreadable"))?;
    let (tag, ciphertext_len) = cursor.header()?;
    if tag != 0x80 {
        // 0xA0 would be a constructed (BER-style, chunked) OCTET STRING.
        return Err(InspectError::Malformed(
            "encrypted content is not one primitive OCTET STRING",
        ));
    }
    let ciphertext_offset = cursor.pos as u64;
    if end_of(cursor.pos, ciphertext_len)? != eci_end {
        return Err(InspectError::Malformed(
            "encrypted content length is inconsistent",
        ));
    }
    let inspection = Inspection {
        kind,
        recipients,
        content_algorithm: algorithm.oid,
        total_len,
        ciphertext_offset,
        ciphertext_len,
    };
    // What follows the ciphertext is small (attributes, a MAC): never more than the relay
    // reads to inspect, so that checking it never needs more memory than that.
    if inspection.trailer_len() > INSPECT_LIMIT as u64
        || kind == EnvelopeKind::AuthEnvelopedData && inspection.trailer_len() < 18
    {
        return Err(InspectError::Malformed(
            "the end of the message has the wrong length",
        ));
    }
    Ok(inspection)
}

/// Where a value of `len` bytes that starts at `pos` ends. Lengths come from the wire:
/// an end past what any upload can be is malformed, never an overflow.
fn end_of(pos: usize, len: u64) -> Result<u64, InspectError> {
    (pos as u64)
        .checked_add(len)
        .filter(|&end| end <= MAX_MESSAGE_LEN)
        .ok_or(InspectError::Malformed("a length beyond any upload"))
}

/// No message is longer than this (1 TB); every length is checked against it first.
const MAX_MESSAGE_LEN: u64 = 1 << 40;

/// A reader of DER headers over a prefix that may stop anywhere.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, InspectError> {
        let byte = *self.bytes.get(self.pos).ok_or(InspectError::Incomplete)?;
        self.pos += 1;
        Ok(byte)
    }

    /// Reads a tag (low-tag-number form only) and a definite length.
    fn header(&mut self) -> Result<(u8, u64), InspectError> {
        let tag = self.byte()?;
        if tag & 0x1F == 0x1F {
            return Err(InspectError::Malformed(
                "high tag numbers are not used in CMS",
            ));
        }
        let first = self.byte()?;
        let len = match first {
            0x00..=0x7F => u64::from(first),
            0x80 => return Err(InspectError::IndefiniteLength),
            0x81..=0x88 => {
                let mut len = 0u64;
                for _ in 0..(first & 0x7F) {
                    len = (len << 8) | u64::from(self.byte()?);
                }
                if len < 0x80 {
                    return Err(InspectError::Malformed("length not in its shortest form"));
                }
                len
            }
            _ => return Err(InspectError::Malformed("length too long")),
        };
        Ok((tag, len))
    }

    /// Reads a whole TLV that must lie inside the prefix; returns its tag and value.
    fn tlv(&mut self) -> Result<(u8, &'a [u8]), InspectError> {
        let (tag, len) = self.header()?;
        let end = self
            .pos
            .checked_add(usize::try_from(len).map_err(|_| InspectError::Incomplete)?);
        let end = end
            .filter(|&end| end <= self.bytes.len())
            .ok_or(InspectError::Incomplete)?;
        let value = &self.bytes[self.pos..end];
        self.pos = end;
        Ok((tag, value))
    }

    /// Reads a TLV if the next tag is `tag`.
    fn optional_tlv(&mut self, tag: u8) -> Result<Option<&'a [u8]>, InspectError> {
        match self.bytes.get(self.pos) {
            Some(&next) if next == tag => Ok(Some(self.tlv()?.1)),
            _ => Ok(None),
        }
    }
}
