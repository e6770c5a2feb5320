//! S/MIME encryption: CMS EnvelopedData (RFC 5652) and AuthEnvelopedData (RFC 5083/5084).
//!
//! The DER is built from lengths alone: [`Envelope::new`] wraps a fresh content key for each
//! recipient and returns the bytes that precede the ciphertext; the ciphertext itself is made
//! by a [`ContentCipher`] (RustCrypto here, WebCrypto in the browser) and may be produced and
//! sent in pieces; [`Envelope::trailer`] gives what follows it. Nothing here needs the whole
//! ciphertext in one buffer.
//!
//! The default (AES-256-CBC, RSA PKCS#1 v1.5, recipients by issuer and serial number) is the
//! only combination that OpenSSL, gpgsm and NSS all decrypt; OAEP and GCM are opt-in.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, OctetString, SetOfVec};
use der::referenced::OwnedToRef;
use der::{Encode, Header, Length, Sequence, Tag, TagNumber};
use rand_core::CryptoRngCore;
use rsa::RsaPublicKey;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// How the content is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentEncryption {
    /// AES-256-CBC in EnvelopedData: read by every S/MIME client.
    #[default]
    #[serde(rename = "aes256-cbc")]
    Aes256Cbc,
    /// AES-256-GCM in AuthEnvelopedData: authenticated, but only OpenSSL reads it today.
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
}

/// How the content key reaches each recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum KeyTransport {
    /// RSA PKCS#1 v1.5: read by every S/MIME client.
    #[default]
    #[serde(rename = "rsa-pkcs1v15")]
    RsaPkcs1v15,
    /// RSA-OAEP with SHA-256 and MGF1-SHA-256: only OpenSSL reads it today.
    #[serde(rename = "rsa-oaep-sha256")]
    RsaOaepSha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Algorithms {
    pub content: ContentEncryption,
    pub key_transport: KeyTransport,
}

/// Length of the GCM authentication tag we write (and the only one we accept).
pub const GCM_TAG_LEN: usize = 16;
const GCM_NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("a message needs at least one recipient")]
    NoRecipients,
    #[error("the recipient certificate has no RSA public key")]
    NotRsa,
    #[error("the content key could not be encrypted to the recipient: {0}")]
    KeyTransport(rsa::Error),
    #[error("the content is too large for one message")]
    TooLarge,
    #[error("the ciphertext has {actual} bytes where {expected} were announced")]
    CiphertextLength { expected: u64, actual: u64 },
    #[error("AES-GCM needs its authentication tag to finish the message, and only GCM has one")]
    Tag,
    #[error("DER encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// One recipient: where the key goes and how the message names the certificate.
#[derive(Debug, Clone)]
pub struct Recipient {
    id: IssuerAndSerialNumber,
    key: RsaPublicKey,
}

impl Recipient {
    pub fn from_certificate(certificate: &Certificate) -> Result<Recipient, EnvelopeError> {
        let tbs = &certificate.tbs_certificate;
        let spki = tbs.subject_public_key_info.owned_to_ref();
        let key = RsaPublicKey::try_from(spki).map_err(|_| EnvelopeError::NotRsa)?;
        Ok(Recipient {
            id: IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            },
            key,
        })
    }
}

/// The content key and IV (CBC) or nonce (GCM). Zeroed when dropped.
pub struct ContentKey {
    pub encryption: ContentEncryption,
    pub key: Zeroizing<[u8; 32]>,
    /// The CBC IV (16 bytes) or the GCM nonce (the first 12 bytes).
    pub iv: [u8; 16],
}

impl ContentKey {
    fn generate(encryption: ContentEncryption, rng: &mut impl CryptoRngCore) -> ContentKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        let mut iv = [0u8; 16];
        match encryption {
            ContentEncryption::Aes256Cbc => rng.fill_bytes(&mut iv),
            ContentEncryption::Aes256Gcm => rng.fill_bytes(&mut iv[..GCM_NONCE_LEN]),
        }
        ContentKey {
            encryption,
            key,
            iv,
        }
    }

    pub fn gcm_nonce(&self) -> &[u8] {
        &self.iv[..GCM_NONCE_LEN]
    }
}

/// The exact ciphertext length for `content_len` bytes: CBC pads to the next full block
/// (always adding at least one byte), GCM keeps the length and puts its tag in the trailer.
pub fn ciphertext_len(encryption: ContentEncryption, content_len: u64) -> u64 {
    match encryption {
        ContentEncryption::Aes256Cbc => (content_len / 16 + 1) * 16,
        ContentEncryption::Aes256Gcm => content_len,
    }
}

/// A message being sealed: the DER before the ciphertext, and the key to make it with.
pub struct Envelope {
    algorithms: Algorithms,
    header: Vec<u8>,
    content_key: ContentKey,
    ciphertext_len: u64,
}

impl Envelope {
    /// Draws a fresh content key from `rng` (which must be a secure source), wraps it for
    /// every recipient and lays out the DER for `content_len` bytes of content.
    pub fn new(
        recipients: &[Recipient],
        algorithms: Algorithms,
        content_len: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Envelope, EnvelopeError> {
        if recipients.is_empty() {
            return Err(EnvelopeError::NoRecipients);
        }
        let content_key = ContentKey::generate(algorithms.content, rng);
        let mut infos = Vec::with_capacity(recipients.len());
        let mut seen = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            // A certificate listed twice (for a unit and its office) is one reader, and DER
            // forbids equal elements in a SET OF.
            if seen.contains(&&recipient.id) {
                continue;
            }
            seen.push(&recipient.id);
            infos.push(key_trans_recipient_info(
                recipient,
                algorithms.key_transport,
                &content_key,
                rng,
            )?);
        }
        let recipient_infos = RecipientInfos(SetOfVec::try_from(infos)?).to_der()?;

        let ciphertext_len = ciphertext_len(algorithms.content, content_len);
        let (content_type, content_enc_alg) = match algorithms.content {
            ContentEncryption::Aes256Cbc => (
                rfc5911::ID_ENVELOPED_DATA,
                AlgorithmIdentifierOwned {
                    oid: rfc5911::ID_AES_256_CBC,
                    parameters: Some(Any::new(Tag::OctetString, content_key.iv.to_vec())?),
                },
            ),
            ContentEncryption::Aes256Gcm => (
                rfc5911::ID_CT_AUTH_ENVELOPED_DATA,
                AlgorithmIdentifierOwned {
                    oid: rfc5911::ID_AES_256_GCM,
                    parameters: Some(Any::encode_from(&GcmParameters {
                        nonce: OctetString::new(content_key.gcm_nonce())?,
                        icv_len: GCM_TAG_LEN as u8,
                    })?),
                },
            ),
        };

        // EncryptedContentInfo: contentType, algorithm, [0] IMPLICIT OCTET STRING (primitive).
        let mut eci_body = rfc5911::ID_DATA.to_der()?;
        eci_body.extend(content_enc_alg.to_der()?);
        let content_header = header(
            Tag::ContextSpecific {
                constructed: false,
                number: TagNumber::N0,
            },
            ciphertext_len,
        )?;
        let eci_len = add(
            eci_body.len() as u64 + content_header.len() as u64,
            ciphertext_len,
        )?;

        // Both variants are version 0 here: no originator info, no attributes, and all
        // recipients are KeyTransRecipientInfo v0 (issuerAndSerialNumber).
        let version = CmsVersion::V0.to_der()?;
        let trailer_len = trailer_len(algorithms.content);
        let eci_header = header(Tag::Sequence, eci_len)?;
        let inner_len = add(
            (version.len() + recipient_infos.len() + eci_header.len()) as u64 + trailer_len,
            eci_len,
        )?;
        let inner_header = header(Tag::Sequence, inner_len)?;
        let explicit_len = add(inner_header.len() as u64, inner_len)?;
        let explicit_header = header(
            Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            },
            explicit_len,
        )?;
        let content_type = content_type.to_der()?;
        let outer_len = add(
            (content_type.len() + explicit_header.len()) as u64,
            explicit_len,
        )?;

        let mut out = header(Tag::Sequence, outer_len)?;
        for part in [
            &content_type,
            &explicit_header,
            &inner_header,
            &version,
            &recipient_infos,
            &eci_header,
            &eci_body,
            &content_header,
        ] {
            out.extend_from_slice(part);
        }
        Ok(Envelope {
            algorithms,
            header: out,
            content_key,
            ciphertext_len,
        })
    }

    pub fn algorithms(&self) -> Algorithms {
        self.algorithms
    }

    /// The DER that precedes the ciphertext.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    pub fn content_key(&self) -> &ContentKey {
        &self.content_key
    }

    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// The length of the whole DER message.
    pub fn total_len(&self) -> u64 {
        self.header.len() as u64 + self.ciphertext_len + trailer_len(self.algorithms.content)
    }

    /// The DER that follows the ciphertext: nothing for CBC, the `mac` for GCM.
    pub fn trailer(&self, tag: Option<&[u8; GCM_TAG_LEN]>) -> Result<Vec<u8>, EnvelopeError> {
        match (self.algorithms.content, tag) {
            (ContentEncryption::Aes256Cbc, None) => Ok(Vec::new()),
            (ContentEncryption::Aes256Gcm, Some(tag)) => {
                Ok(OctetString::new(tag.to_vec())?.to_der()?)
            }
            _ => Err(EnvelopeError::Tag),
        }
    }
}

fn trailer_len(encryption: ContentEncryption) -> u64 {
    match encryption {
        ContentEncryption::Aes256Cbc => 0,
        ContentEncryption::Aes256Gcm => 2 + GCM_TAG_LEN as u64,
    }
}

fn header(tag: Tag, len: u64) -> Result<Vec<u8>, EnvelopeError> {
    let len = u32::try_from(len).map_err(|_| EnvelopeError::TooLarge)?;
    Ok(Header::new(tag, Length::try_from(len)?)?.to_der()?)
}

fn add(a: u64, b: u64) -> Result<u64, EnvelopeError> {
    a.checked_add(b).ok_or(EnvelopeError::TooLarge)
}

fn key_trans_recipient_info(
    recipient: &Recipient,
    transport: KeyTransport,
    content_key: &ContentKey,
    rng: &mut impl CryptoRngCore,
) -> Result<RecipientInfo, EnvelopeError> {
    let key = content_key.key.as_slice();
    let (encrypted, key_enc_alg) = match transport {
        KeyTransport::RsaPkcs1v15 => (
            recipient.key.encrypt(rng, rsa::Pkcs1v15Encrypt, key),
            // RFC 3370: the parameters of rsaEncryption are NULL.
            AlgorithmIdentifierOwned {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
        ),
        KeyTransport::RsaOaepSha256 => (
            recipient
                .key
                .encrypt(rng, rsa::Oaep::new::<sha2::Sha256>(), key),
            AlgorithmIdentifierOwned {
                oid: rfc5912::ID_RSAES_OAEP,
                parameters: Some(Any::encode_from(&rsa::pkcs1::RsaOaepParams::new::<
                    sha2::Sha256,
                >())?),
            },
        ),
    };
    let encrypted = Zeroizing::new(encrypted.map_err(EnvelopeError::KeyTransport)?);
    Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(recipient.id.clone()),
        key_enc_alg,
        enc_key: OctetString::new(encrypted.to_vec())?,
    }))
}

/// RFC 5084 GCMParameters. We always write the ICV length (16), which is not the default.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct GcmParameters {
    pub nonce: OctetString,
    pub icv_len: u8,
}

/// Makes the ciphertext for an [`Envelope`]: RustCrypto natively ([`SoftwareCipher`]),
/// the browser's WebCrypto in the app.
#[allow(async_fn_in_trait)]
pub trait ContentCipher {
    type Error;
    /// Encrypts the whole content under `key` into `out`, which has exactly
    /// [`ciphertext_len`] bytes; returns the GCM tag, if any.
    async fn encrypt(
        &self,
        key: &ContentKey,
        content: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, Self::Error>;
}

/// AES in software (RustCrypto). Natively this uses the CPU's AES instructions.
pub struct SoftwareCipher;

impl SoftwareCipher {
    pub fn encrypt_now(
        &self,
        key: &ContentKey,
        content: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, EnvelopeError> {
        let expected = ciphertext_len(key.encryption, content.len() as u64);
        if out.len() as u64 != expected {
            return Err(EnvelopeError::CiphertextLength {
                expected,
                actual: out.len() as u64,
            });
        }
        match key.encryption {
            ContentEncryption::Aes256Cbc => {
                let actual = out.len() as u64;
                out[..content.len()].copy_from_slice(content);
                cbc::Encryptor::<aes::Aes256>::new(key.key.as_ref().into(), &key.iv.into())
                    .encrypt_padded_mut::<Pkcs7>(out, content.len())
                    .map_err(|_| EnvelopeError::CiphertextLength { expected, actual })?;
                Ok(None)
            }
            ContentEncryption::Aes256Gcm => {
                out.copy_from_slice(content);
                let cipher = aes_gcm::Aes256Gcm::new(key.key.as_ref().into());
                let tag = cipher
                    .encrypt_in_place_detached(key.gcm_nonce().into(), &[], out)
                    .map_err(|_| EnvelopeError::TooLarge)?;
                Ok(Some(tag.into()))
            }
        }
    }
}

impl ContentCipher for SoftwareCipher {
    type Error = EnvelopeError;
    async fn encrypt(
        &self,
        key: &ContentKey,
        content: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, EnvelopeError> {
        self.encrypt_now(key, content, out)
    }
}

/// Encrypts `content` to `recipients` in one go with RustCrypto and returns the DER message.
pub fn encrypt(
    recipients: &[Recipient],
    algorithms: Algorithms,
    content: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, EnvelopeError> {
    let envelope = Envelope::new(recipients, algorithms, content.len() as u64, rng)?;
    let mut der = Vec::with_capacity(envelope.total_len() as usize);
    der.extend_from_slice(envelope.header());
    let start = der.len();
    der.resize(start + envelope.ciphertext_len() as usize, 0);
    let tag = SoftwareCipher.encrypt_now(envelope.content_key(), content, &mut der[start..])?;
    der.extend(envelope.trailer(tag.as_ref())?);
    Ok(der)
}

/// The OID that names a message's content type.
pub fn content_type_oid(encryption: ContentEncryption) -> ObjectIdentifier {
    match encryption {
        ContentEncryption::Aes256Cbc => rfc5911::ID_ENVELOPED_DATA,
        ContentEncryption::Aes256Gcm => rfc5911::ID_CT_AUTH_ENVELOPED_DATA,
    }
}
