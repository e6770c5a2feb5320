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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentEncryption {
    /// AES-256-CBC in EnvelopedData: read by every S/MIME client.
    #[default]
    Aes256Cbc,
    /// AES-256-GCM in AuthEnvelopedData: authenticated, but only OpenSSL reads it today.
    Aes256Gcm,
}

crate::serde_by_name!(ContentEncryption {
    ContentEncryption::Aes256Cbc => "aes256-cbc",
    ContentEncryption::Aes256Gcm => "aes256-gcm",
});

/// How the content key reaches each recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyTransport {
    /// RSA PKCS#1 v1.5: read by every S/MIME client.
    #[default]
    RsaPkcs1v15,
    /// RSA-OAEP with SHA-256 and MGF1-SHA-256: only OpenSSL reads it today.
    RsaOaepSha256,
}

crate::serde_by_name!(KeyTransport {
    KeyTransport::RsaPkcs1v15 => "rsa-pkcs1v15",
    KeyTransport::RsaOaepSha256 => "rsa-oaep-sha256",
});

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
    #[error("content pieces before the last must be whole 16-byte blocks, encrypted once")]
    Piece,
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
                    oid: content_encryption_oid(ContentEncryption::Aes256Cbc),
                    parameters: Some(Any::new(Tag::OctetString, content_key.iv.to_vec())?),
                },
            ),
            ContentEncryption::Aes256Gcm => (
                rfc5911::ID_CT_AUTH_ENVELOPED_DATA,
                AlgorithmIdentifierOwned {
                    oid: content_encryption_oid(ContentEncryption::Aes256Gcm),
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
    let encrypted = match transport {
        KeyTransport::RsaPkcs1v15 => recipient.key.encrypt(rng, rsa::Pkcs1v15Encrypt, key),
        KeyTransport::RsaOaepSha256 => {
            recipient
                .key
                .encrypt(rng, rsa::Oaep::new::<sha2::Sha256>(), key)
        }
    };
    let key_enc_alg = key_transport_algorithm(transport)?;
    let encrypted = Zeroizing::new(encrypted.map_err(EnvelopeError::KeyTransport)?);
    Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(recipient.id.clone()),
        key_enc_alg,
        enc_key: OctetString::new(encrypted.to_vec())?,
    }))
}

/// The algorithm identifier a recipient info carries for `transport`, exactly as this
/// crate writes it (and as the relay expects it).
// Not inlined: in the app it would be copied into the encryption's generic future.
#[inline(never)]
pub fn key_transport_algorithm(
    transport: KeyTransport,
) -> Result<AlgorithmIdentifierOwned, EnvelopeError> {
    Ok(match transport {
        // RFC 3370: the parameters of rsaEncryption are NULL.
        KeyTransport::RsaPkcs1v15 => AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        KeyTransport::RsaOaepSha256 => AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSAES_OAEP,
            parameters: Some(Any::encode_from(&rsa::pkcs1::RsaOaepParams::new::<
                sha2::Sha256,
            >())?),
        },
    })
}

/// The content encryption algorithm's identifier for `encryption`.
pub fn content_encryption_oid(encryption: ContentEncryption) -> ObjectIdentifier {
    match encryption {
        ContentEncryption::Aes256Cbc => rfc5911::ID_AES_256_CBC,
        ContentEncryption::Aes256Gcm => rfc5911::ID_AES_256_GCM,
    }
}

/// RFC 5084 GCMParameters. We always write the ICV length (16), which is not the default.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct GcmParameters {
    pub nonce: OctetString,
    pub icv_len: u8,
}

/// Makes the ciphertext for an [`Envelope`], piece by piece: RustCrypto natively
/// ([`SoftwareCipher`]), the browser's WebCrypto in the app.
///
/// Every piece but the last must be a multiple of 16 bytes and is encrypted into an `out` of
/// the same length; the last piece (possibly empty) goes to [`ContentCipher::finish`] with an
/// `out` of [`ciphertext_len`] bytes. The pieces' ciphertexts, in order, are exactly what one
/// call over the whole content would give.
#[allow(async_fn_in_trait)]
pub trait ContentCipher {
    type Error;
    async fn update(&mut self, piece: &[u8], out: &mut [u8]) -> Result<(), Self::Error>;
    /// Encrypts the last piece and returns the GCM tag, if any.
    async fn finish(
        &mut self,
        last: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, Self::Error>;
}

/// AES in software (RustCrypto), streaming; natively it uses the CPU's AES instructions.
pub struct SoftwareCipher {
    state: CipherState,
}

enum CipherState {
    Cbc(cbc::Encryptor<aes::Aes256>),
    /// GCM as its parts (CTR and GHASH), since `aes-gcm` only seals whole buffers.
    Gcm {
        ctr: ctr::Ctr32BE<aes::Aes256>,
        ghash: ghash::GHash,
        /// AES_K(J0), which masks the GHASH value into the tag.
        tag_mask: [u8; 16],
        len: u64,
    },
    Finished,
}

impl SoftwareCipher {
    pub fn new(key: &ContentKey) -> SoftwareCipher {
        use aes::cipher::{BlockEncrypt, StreamCipher};
        let state = match key.encryption {
            ContentEncryption::Aes256Cbc => {
                CipherState::Cbc(cbc::Encryptor::new(key.key.as_ref().into(), &key.iv.into()))
            }
            ContentEncryption::Aes256Gcm => {
                let aes = <aes::Aes256 as aes::cipher::KeyInit>::new(key.key.as_ref().into());
                let mut h = [0u8; 16];
                aes.encrypt_block((&mut h).into());
                // J0 = nonce || 1; the content is encrypted from inc32(J0) on.
                let mut j0 = [0u8; 16];
                j0[..GCM_NONCE_LEN].copy_from_slice(key.gcm_nonce());
                j0[15] = 1;
                let mut tag_mask = j0;
                aes.encrypt_block((&mut tag_mask).into());
                let mut ctr = ctr::Ctr32BE::<aes::Aes256>::new(key.key.as_ref().into(), &j0.into());
                let mut skip = [0u8; 16];
                ctr.apply_keystream(&mut skip);
                CipherState::Gcm {
                    ctr,
                    ghash: <ghash::GHash as ghash::universal_hash::KeyInit>::new(&h.into()),
                    tag_mask,
                    len: 0,
                }
            }
        };
        SoftwareCipher { state }
    }

    pub fn update_now(&mut self, piece: &[u8], out: &mut [u8]) -> Result<(), EnvelopeError> {
        use aes::cipher::StreamCipher;
        use ghash::universal_hash::UniversalHash;
        if !piece.len().is_multiple_of(16) || out.len() != piece.len() {
            return Err(EnvelopeError::Piece);
        }
        out.copy_from_slice(piece);
        match &mut self.state {
            CipherState::Cbc(cbc) => {
                for block in out.chunks_exact_mut(16) {
                    cbc.encrypt_block_mut(block.into());
                }
            }
            CipherState::Gcm {
                ctr, ghash, len, ..
            } => {
                ctr.apply_keystream(out);
                ghash.update_padded(out);
                *len += out.len() as u64;
            }
            CipherState::Finished => return Err(EnvelopeError::Piece),
        }
        Ok(())
    }

    pub fn finish_now(
        &mut self,
        last: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, EnvelopeError> {
        use aes::cipher::StreamCipher;
        use ghash::universal_hash::UniversalHash;
        let encryption = match &self.state {
            CipherState::Cbc(_) => ContentEncryption::Aes256Cbc,
            CipherState::Gcm { .. } => ContentEncryption::Aes256Gcm,
            CipherState::Finished => return Err(EnvelopeError::Piece),
        };
        let expected = ciphertext_len(encryption, last.len() as u64);
        if out.len() as u64 != expected {
            return Err(EnvelopeError::CiphertextLength {
                expected,
                actual: out.len() as u64,
            });
        }
        match std::mem::replace(&mut self.state, CipherState::Finished) {
            CipherState::Cbc(cbc) => {
                out[..last.len()].copy_from_slice(last);
                cbc.encrypt_padded_mut::<Pkcs7>(out, last.len())
                    .map_err(|_| EnvelopeError::Piece)?;
                Ok(None)
            }
            CipherState::Gcm {
                mut ctr,
                mut ghash,
                tag_mask,
                len,
            } => {
                out.copy_from_slice(last);
                ctr.apply_keystream(out);
                ghash.update_padded(out);
                let bits = (len + out.len() as u64) * 8;
                let mut lengths = [0u8; 16];
                lengths[8..].copy_from_slice(&bits.to_be_bytes());
                ghash.update(&[lengths.into()]);
                let mut tag: [u8; 16] = ghash.finalize().into();
                tag.iter_mut().zip(tag_mask).for_each(|(t, m)| *t ^= m);
                Ok(Some(tag))
            }
            CipherState::Finished => Err(EnvelopeError::Piece),
        }
    }
}

impl ContentCipher for SoftwareCipher {
    type Error = EnvelopeError;
    async fn update(&mut self, piece: &[u8], out: &mut [u8]) -> Result<(), EnvelopeError> {
        self.update_now(piece, out)
    }
    async fn finish(
        &mut self,
        last: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, EnvelopeError> {
        self.finish_now(last, out)
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
    let tag = SoftwareCipher::new(envelope.content_key()).finish_now(content, &mut der[start..])?;
    der.extend(envelope.trailer(tag.as_ref())?);
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn key(encryption: ContentEncryption) -> ContentKey {
        ContentKey {
            encryption,
            key: Zeroizing::new(core::array::from_fn(|i| i as u8 * 7)),
            iv: core::array::from_fn(|i| 200 - i as u8),
        }
    }

    /// Encrypts `content` in pieces of `piece` bytes (a multiple of 16).
    fn in_pieces(
        encryption: ContentEncryption,
        content: &[u8],
        piece: usize,
    ) -> (Vec<u8>, Option<[u8; 16]>) {
        let key = key(encryption);
        let mut cipher = SoftwareCipher::new(&key);
        let mut out = vec![0u8; ciphertext_len(encryption, content.len() as u64) as usize];
        let whole = content.len() / piece * piece;
        let whole = if whole == content.len() && whole > 0 {
            whole - piece
        } else {
            whole
        };
        for (i, chunk) in content[..whole].chunks(piece).enumerate() {
            cipher
                .update_now(chunk, &mut out[i * piece..i * piece + chunk.len()])
                .unwrap();
        }
        let tag = cipher
            .finish_now(&content[whole..], &mut out[whole..])
            .unwrap();
        (out, tag)
    }

    #[test]
    fn pieces_give_the_same_bytes_as_one_call_and_gcm_matches_aes_gcm() {
        let content: Vec<u8> = (0..10_007u32).map(|i| (i * 31 % 256) as u8).collect();
        for encryption in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
            let one_call = in_pieces(encryption, &content, 16_384);
            for piece in [16, 160, 4096] {
                assert_eq!(
                    in_pieces(encryption, &content, piece),
                    one_call,
                    "{encryption:?} {piece}"
                );
            }
        }
        // Our streaming GCM equals RustCrypto's one-shot AES-GCM (tag included).
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        for len in [0, 1, 15, 16, 17, 10_007] {
            let key = key(ContentEncryption::Aes256Gcm);
            let mut expected = content[..len].to_vec();
            let tag = aes_gcm::Aes256Gcm::new(key.key.as_ref().into())
                .encrypt_in_place_detached(key.gcm_nonce().into(), &[], &mut expected)
                .unwrap();
            let (ours, our_tag) = in_pieces(ContentEncryption::Aes256Gcm, &content[..len], 16);
            assert_eq!(ours, expected, "{len}");
            assert_eq!(our_tag, Some(tag.into()), "{len}");
        }
    }

    #[test]
    fn misuse_is_an_error_not_garbage() {
        let key = key(ContentEncryption::Aes256Cbc);
        let mut cipher = SoftwareCipher::new(&key);
        let mut out = [0u8; 32];
        assert!(matches!(
            cipher.update_now(&[0; 15], &mut out[..15]),
            Err(EnvelopeError::Piece)
        ));
        assert!(matches!(
            cipher.finish_now(&[0; 16], &mut out[..16]),
            Err(EnvelopeError::CiphertextLength { .. })
        ));
        cipher.finish_now(&[0; 16], &mut out).unwrap();
        assert!(matches!(
            cipher.finish_now(&[], &mut out[..16]),
            Err(EnvelopeError::Piece)
        ));
        assert_eq!(ciphertext_len(ContentEncryption::Aes256Cbc, 0), 16);
        assert_eq!(ciphertext_len(ContentEncryption::Aes256Cbc, 16), 32);
        assert_eq!(ciphertext_len(ContentEncryption::Aes256Gcm, 17), 17);
    }
}
