//! Opening an answer: a CMS message the authority's mail program encrypted to the
//! conversation's certificate, decrypted with its private key. It reads what real clients
//! send (`../shared/INTEROP.md`): EnvelopedData with AES-CBC (128, 192, 256) and
//! AuthEnvelopedData with AES-GCM; the content key by RSA PKCS#1 v1.5 or RSA-OAEP (SHA-1,
//! SHA-256, SHA-384, SHA-512); the recipient named by issuer and serial number or by
//! subject key identifier, among several; BER as NSS writes it. GCM's tag is checked before
//! any plaintext is given out.
//!
//! All of it in Rust, so the same code opens answers natively and in the browser; the
//! browser hands AES-CBC's bulk to WebCrypto (`unwrap`, then `webcrypto::decrypt_cbc`).

use aes::cipher::{BlockDecryptMut, KeyIvInit, StreamCipher};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, OriginatorInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use std::borrow::Cow;

use der::asn1::{AnyRef, OctetString, OctetStringRef};
use der::{Decode, Encode, Sequence};
use rsa::RsaPrivateKey;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attributes;

use crate::ber::{self, RecipientId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a CMS message")]
    Malformed,
    #[error("not encrypted (EnvelopedData or AuthEnvelopedData)")]
    NotEncrypted,
    #[error("not encrypted to this certificate")]
    NotForThisKey,
    #[error("a key transport this portal does not read")]
    KeyTransport,
    #[error("the content key does not decrypt with this key")]
    KeyUnwrap,
    #[error("a content encryption this portal does not read")]
    ContentEncryption,
    #[error("the content does not decrypt (wrong key, or damaged)")]
    Damaged,
    #[error("the content was changed: its authentication tag does not match")]
    Tampered,
}

const OID_RSA_OAEP: ObjectIdentifier = rfc5912::ID_RSAES_OAEP;
const OID_SHA1: ObjectIdentifier = rfc5912::ID_SHA_1;

/// `AuthEnvelopedData` (RFC 5083), which the `cms` crate lacks.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct AuthEnvelopedData {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<OriginatorInfo>,
    recip_infos: RecipientInfos,
    auth_encrypted_content: EncryptedContentInfo,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    auth_attrs: Option<Attributes>,
    mac: OctetString,
    #[asn1(
        context_specific = "2",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unauth_attrs: Option<Attributes>,
}

/// `ContentInfo` borrowing its content: a large answer's ciphertext is read where it lies.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct ContentInfoRef<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// `EnvelopedData` whose encrypted content is borrowed (`cms` has only owned types).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EnvelopedDataRef<'a> {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<OriginatorInfo>,
    recip_infos: RecipientInfos,
    encrypted_content: EncryptedContentInfoRef<'a>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<Attributes>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EncryptedContentInfoRef<'a> {
    content_type: ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    encrypted_content: Option<OctetStringRef<'a>>,
}

/// `GCMParameters` (RFC 5084).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct GcmParameters {
    nonce: OctetString,
    #[asn1(default = "default_icv_len")]
    icv_len: u8,
}

fn default_icv_len() -> u8 {
    12
}

/// `RSAES-OAEP-params` (RFC 4055): the hash and the mask's hash; SHA-1 where absent.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct OaepParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    label_source: Option<AlgorithmIdentifierOwned>,
}

/// The plaintext (the MIME entity) of `message` (a CMS ContentInfo, BER or DER) encrypted
/// to `certificate`, whose private key is `key`.
pub fn decrypt(
    message: &[u8],
    certificate: &Certificate,
    key: &RsaPrivateKey,
) -> Result<Vec<u8>, OpenError> {
    unwrap(message, certificate, key)?.decrypt()
}

/// A message whose content key is unwrapped: what is left is the bulk decryption, which
/// the browser hands to WebCrypto for AES-CBC (`webcrypto::decrypt_cbc`).
pub enum Unwrapped<'a> {
    Cbc {
        key: zeroize::Zeroizing<Vec<u8>>,
        iv: [u8; 16],
        /// Where it lies in the message (DER), or rewritten from BER.
        ciphertext: Cow<'a, [u8]>,
    },
    /// AuthEnvelopedData with AES-GCM, decrypted in Rust (the tag first).
    Gcm {
        content: EncryptedContentInfo,
        key: zeroize::Zeroizing<Vec<u8>>,
        aad: Vec<u8>,
        mac: Vec<u8>,
    },
}

impl Unwrapped<'_> {
    /// The plaintext, all in Rust.
    pub fn decrypt(self) -> Result<Vec<u8>, OpenError> {
        match self {
            Unwrapped::Cbc {
                key,
                iv,
                ciphertext,
            } => {
                let mut ciphertext = ciphertext.into_owned();
                let len = decrypt_cbc(&key, &iv, &mut ciphertext)?;
                ciphertext.truncate(len);
                Ok(ciphertext)
            }
            Unwrapped::Gcm {
                content,
                key,
                aad,
                mac,
            } => decrypt_gcm(&content, &key, &aad, &mac),
        }
    }
}

/// `message`'s content key, unwrapped with `key` from the recipient that names
/// `certificate`, with what the bulk decryption needs.
pub fn unwrap<'a>(
    message: &'a [u8],
    certificate: &Certificate,
    key: &RsaPrivateKey,
) -> Result<Unwrapped<'a>, OpenError> {
    // DER EnvelopedData as it comes (OpenSSL, Outlook): its ciphertext read where it lies,
    // no copy of a large answer.
    // Anything else (definite lengths around a content in pieces, say) takes the way below.
    if let Ok(info) = ContentInfoRef::from_der(message)
        && info.content_type == rfc5911::ID_ENVELOPED_DATA
        && let Ok(enveloped) = info.content.decode_as::<EnvelopedDataRef>()
    {
        let content_key = unwrap_key(&enveloped.recip_infos, certificate, key)?;
        let content = enveloped.encrypted_content;
        let ciphertext = content
            .encrypted_content
            .map(|c| Cow::Borrowed(c.as_bytes()));
        return cbc_parts(&content.content_enc_alg, ciphertext, content_key);
    }
    // Else rewritten from BER (NSS), or AuthEnvelopedData.
    let info = match ContentInfo::from_der(message) {
        Ok(info) => info,
        Err(_) => {
            let der = ber::to_der(message).map_err(|_| OpenError::Malformed)?;
            ContentInfo::from_der(&der).map_err(|_| OpenError::Malformed)?
        }
    };
    let content = info.content;
    if info.content_type == rfc5911::ID_ENVELOPED_DATA {
        let enveloped: EnvelopedData = content.decode_as().map_err(|_| OpenError::Malformed)?;
        let content_key = unwrap_key(&enveloped.recip_infos, certificate, key)?;
        let content = enveloped.encrypted_content;
        let ciphertext = content
            .encrypted_content
            .map(|c| Cow::Owned(c.into_bytes()));
        cbc_parts(&content.content_enc_alg, ciphertext, content_key)
    } else if info.content_type == rfc5911::ID_CT_AUTH_ENVELOPED_DATA {
        let enveloped: AuthEnvelopedData = content.decode_as().map_err(|_| OpenError::Malformed)?;
        let content_key = unwrap_key(&enveloped.recip_infos, certificate, key)?;
        let aad = match &enveloped.auth_attrs {
            // The tag covers the attributes as a SET OF (RFC 5083 2.2).
            Some(attributes) => attributes.to_der().map_err(|_| OpenError::Malformed)?,
            None => Vec::new(),
        };
        Ok(Unwrapped::Gcm {
            content: enveloped.auth_encrypted_content,
            key: content_key,
            aad,
            mac: enveloped.mac.as_bytes().to_vec(),
        })
    } else {
        Err(OpenError::NotEncrypted)
    }
}

/// The content key from the recipient that names `certificate`.
fn unwrap_key(
    recipients: &RecipientInfos,
    certificate: &Certificate,
    key: &RsaPrivateKey,
) -> Result<zeroize::Zeroizing<Vec<u8>>, OpenError> {
    let mine = recipients
        .0
        .iter()
        .filter_map(|info| match info {
            RecipientInfo::Ktri(ktri) => Some(ktri),
            _ => None,
        })
        .find(|ktri| names(&ktri.rid, certificate))
        .ok_or(OpenError::NotForThisKey)?;
    let encrypted = mine.enc_key.as_bytes();
    let algorithm = &mine.key_enc_alg;
    let unwrapped = if algorithm.oid == rfc5912::RSA_ENCRYPTION {
        key.decrypt(rsa::Pkcs1v15Encrypt, encrypted)
    } else if algorithm.oid == OID_RSA_OAEP {
        let parameters = match &algorithm.parameters {
            Some(any) => any
                .decode_as::<OaepParameters>()
                .map_err(|_| OpenError::KeyTransport)?,
            None => OaepParameters {
                hash: None,
                mask_gen: None,
                label_source: None,
            },
        };
        if parameters.label_source.is_some() {
            return Err(OpenError::KeyTransport);
        }
        let hash = parameters.hash.map_or(OID_SHA1, |h| h.oid);
        let mask_hash = match parameters.mask_gen {
            None => OID_SHA1,
            Some(mgf) if mgf.oid == rfc5912::ID_MGF_1 => mgf
                .parameters
                .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
                .map(|h| h.oid)
                .ok_or(OpenError::KeyTransport)?,
            Some(_) => return Err(OpenError::KeyTransport),
        };
        key.decrypt(oaep(hash, mask_hash)?, encrypted)
    } else {
        return Err(OpenError::KeyTransport);
    };
    unwrapped
        .map(zeroize::Zeroizing::new)
        .map_err(|_| OpenError::KeyUnwrap)
}

fn oaep(hash: ObjectIdentifier, mask_hash: ObjectIdentifier) -> Result<rsa::Oaep, OpenError> {
    use rsa::Oaep;
    use sha2::{Sha256, Sha384, Sha512};
    // Mail programs use one hash for both; other pairs are refused rather than guessed.
    if hash != mask_hash {
        return Err(OpenError::KeyTransport);
    }
    Ok(match hash {
        h if h == OID_SHA1 => Oaep::new::<sha1::Sha1>(),
        h if h == rfc5912::ID_SHA_256 => Oaep::new::<Sha256>(),
        h if h == rfc5912::ID_SHA_384 => Oaep::new::<Sha384>(),
        h if h == rfc5912::ID_SHA_512 => Oaep::new::<Sha512>(),
        _ => return Err(OpenError::KeyTransport),
    })
}

fn names(rid: &RecipientIdentifier, certificate: &Certificate) -> bool {
    let id = match rid {
        RecipientIdentifier::IssuerAndSerialNumber(named) => RecipientId::IssuerSerial {
            issuer: named.issuer.to_der().unwrap_or_default(),
            serial: named.serial_number.as_bytes().to_vec(),
        },
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            RecipientId::SubjectKeyId(ski.0.as_bytes().to_vec())
        }
    };
    id.names(certificate)
}

/// The key, IV and ciphertext of an AES-CBC EnvelopedData, checked for their lengths.
fn cbc_parts<'a>(
    algorithm: &AlgorithmIdentifierOwned,
    ciphertext: Option<Cow<'a, [u8]>>,
    key: zeroize::Zeroizing<Vec<u8>>,
) -> Result<Unwrapped<'a>, OpenError> {
    let key_len = match algorithm.oid {
        oid if oid == rfc5911::ID_AES_128_CBC => 16,
        oid if oid == rfc5911::ID_AES_192_CBC => 24,
        oid if oid == rfc5911::ID_AES_256_CBC => 32,
        _ => return Err(OpenError::ContentEncryption),
    };
    let iv: [u8; 16] = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .and_then(|iv| iv.as_bytes().try_into().ok())
        .ok_or(OpenError::Malformed)?;
    if key.len() != key_len {
        return Err(OpenError::Damaged);
    }
    let ciphertext = ciphertext.ok_or(OpenError::Malformed)?;
    Ok(Unwrapped::Cbc {
        key,
        iv,
        ciphertext,
    })
}

/// Decrypts `data` in place; the plaintext's length, its padding checked.
fn decrypt_cbc(key: &[u8], iv: &[u8; 16], data: &mut [u8]) -> Result<usize, OpenError> {
    use aes::cipher::block_padding::Pkcs7;
    match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into())
            .decrypt_padded_mut::<Pkcs7>(data)
            .map(<[u8]>::len),
        24 => cbc::Decryptor::<aes::Aes192>::new(key.into(), iv.into())
            .decrypt_padded_mut::<Pkcs7>(data)
            .map(<[u8]>::len),
        _ => cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
            .decrypt_padded_mut::<Pkcs7>(data)
            .map(<[u8]>::len),
    }
    .map_err(|_| OpenError::Damaged)
}

fn decrypt_gcm(
    content: &EncryptedContentInfo,
    key: &[u8],
    aad: &[u8],
    mac: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let algorithm = &content.content_enc_alg;
    let key_len = match algorithm.oid {
        oid if oid == rfc5911::ID_AES_128_GCM => 16,
        oid if oid == rfc5911::ID_AES_192_GCM => 24,
        oid if oid == rfc5911::ID_AES_256_GCM => 32,
        _ => return Err(OpenError::ContentEncryption),
    };
    let parameters = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<GcmParameters>().ok())
        .ok_or(OpenError::Malformed)?;
    // A 96-bit nonce, as RFC 5084 recommends and every mail program writes; a full tag.
    if parameters.nonce.as_bytes().len() != 12 || mac.len() != 16 || key.len() != key_len {
        return Err(OpenError::ContentEncryption);
    }
    let ciphertext = content
        .encrypted_content
        .as_ref()
        .map_or(&[][..], |c| c.as_bytes());
    match key_len {
        16 => gcm::<aes::Aes128>(key, parameters.nonce.as_bytes(), aad, ciphertext, mac),
        24 => gcm::<aes::Aes192>(key, parameters.nonce.as_bytes(), aad, ciphertext, mac),
        _ => gcm::<aes::Aes256>(key, parameters.nonce.as_bytes(), aad, ciphertext, mac),
    }
}

/// AES-GCM decryption from its parts (CTR and GHASH, as `envelope` encrypts): the tag is
/// compared, in constant time, before the plaintext is made.
fn gcm<C>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    mac: &[u8],
) -> Result<Vec<u8>, OpenError>
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockEncrypt
        + aes::cipher::KeyInit
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
    ctr::Ctr32BE<C>: KeyIvInit + StreamCipher,
{
    use ghash::universal_hash::{KeyInit, UniversalHash};
    let cipher =
        <C as aes::cipher::KeyInit>::new_from_slice(key).map_err(|_| OpenError::Damaged)?;
    let mut h = [0u8; 16];
    cipher.encrypt_block((&mut h).into());
    let mut j0 = [0u8; 16];
    j0[..12].copy_from_slice(nonce);
    j0[15] = 1;
    let mut ghash = ghash::GHash::new(&h.into());
    ghash.update_padded(aad);
    ghash.update_padded(ciphertext);
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&((aad.len() as u64) * 8).to_be_bytes());
    lengths[8..].copy_from_slice(&((ciphertext.len() as u64) * 8).to_be_bytes());
    ghash.update(&[lengths.into()]);
    let mut tag: [u8; 16] = ghash.finalize().into();
    let mut mask = j0;
    cipher.encrypt_block((&mut mask).into());
    for (t, m) in tag.iter_mut().zip(mask) {
        *t ^= m;
    }
    let differs = tag.iter().zip(mac).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differs != 0 {
        return Err(OpenError::Tampered);
    }
    let mut counter = j0;
    counter[15] = 2;
    let mut plaintext = ciphertext.to_vec();
    <ctr::Ctr32BE<C> as KeyIvInit>::new_from_slices(key, &counter)
        .map_err(|_| OpenError::Damaged)?
        .apply_keystream(&mut plaintext);
    Ok(plaintext)
}
