//! The conversation key's backup file: PKCS#12 (RFC 7292), the one format every tool that
//! holds S/MIME keys imports (OpenSSL, Firefox and Thunderbird, Windows, macOS Keychain), so
//! a citizen's backup is theirs to open elsewhere, not a Postsiegel format only Postsiegel
//! reads. What [`seal`] writes is what `openssl pkcs12 -export` writes today, with the
//! certificates unencrypted (`-certpbe NONE`): the key in a PKCS#8 shrouded key bag under
//! PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), the whole file under an HMAC-SHA256 integrity
//! MAC keyed by the PKCS#12 KDF. Both take [`ITERATIONS`], so the MAC is no cheaper way
//! to test guessed passphrases than the key's encryption. The passphrase is UTF-8 for PBKDF2
//! and BMPString for the MAC, as OpenSSL does.
//!
//! [`open`] reads these files and OpenSSL's default ones (certificates encrypted too).

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, BmpString, ContextSpecific, OctetString, SetOfVec};
use der::{Decode, Encode};
use hmac::{Hmac, Mac};
use pkcs8::{EncryptedPrivateKeyInfo, pkcs5};
use pkcs12::cert_type::CertBag;
use pkcs12::digest_info::DigestInfo;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_bmp};
use pkcs12::mac_data::MacData;
use pkcs12::pfx::{Pfx, Version};
use pkcs12::safe_bag::{SafeBag, SafeContents};
use rand_core::CryptoRngCore;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 rounds, OWASP's figure for it (2023); the file leaves the portal's
/// reach, so its passphrase must hold against offline guessing for years.
pub const ITERATIONS: u32 = 600_000;

const ID_DATA: ObjectIdentifier = rfc5911::ID_DATA;
const ID_ENCRYPTED_DATA: ObjectIdentifier = rfc5911::ID_ENCRYPTED_DATA;
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a PKCS#12 key file")]
    NotPkcs12,
    #[error("the passphrase does not open this file")]
    WrongPassphrase,
    #[error("the passphrase has characters a key file cannot hold")]
    Passphrase,
    #[error("the file holds no private key")]
    NoKey,
    #[error("the file holds no certificate for its key")]
    NoCertificate,
    #[error("the key is not an RSA private key (PKCS#8)")]
    Key,
    #[error("cannot encode: {0}")]
    Der(#[from] der::Error),
}

/// A key as a backup file holds it.
pub struct Opened {
    /// The private key, PKCS#8 DER.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// The key's own certificate.
    pub certificate: Certificate,
    /// The other certificates in the file (the answers CA).
    pub chain: Vec<Certificate>,
}

/// The backup file of `pkcs8` (an RSA private key) with its `certificate` and `chain`,
/// named `name` in the tools that show one, under `passphrase`.
pub fn seal(
    pkcs8: &[u8],
    certificate: &Certificate,
    chain: &[Certificate],
    name: &str,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, BackupError> {
    let mac_passphrase = bmp(passphrase)?;
    let key_id = local_key_id(certificate)?;
    let attributes = bag_attributes(name, &key_id)?;

    let mut certificates = vec![cert_bag(certificate, Some(attributes.clone()))?];
    for ca in chain {
        certificates.push(cert_bag(ca, None)?);
    }

    let (mut salt, mut iv) = ([0u8; 16], [0u8; 16]);
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let scheme = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, &iv)
        .map_err(|_| BackupError::Key)?;
    let shrouded = pkcs8::PrivateKeyInfo::try_from(pkcs8)
        .map_err(|_| BackupError::Key)?
        .encrypt_with_params(scheme, passphrase.as_bytes())
        .map_err(|_| BackupError::Key)?;
    let key = SafeBag {
        bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        // Written as the bag's value; decoding gives it back inside its [0] (see `bags`).
        bag_value: shrouded.as_bytes().to_vec(),
        bag_attributes: Some(attributes),
    };

    let safe: Vec<ContentInfo> = vec![data(&certificates)?, data(&vec![key])?];
    let safe = Zeroizing::new(safe.to_der()?);
    let mut mac_salt = [0u8; 16];
    rng.fill_bytes(&mut mac_salt);
    let mac = mac(&safe, &mac_passphrase, &mac_salt, ITERATIONS as i32)?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(safe.as_slice())?)?,
        },
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: sha256(),
                digest: OctetString::new(mac)?,
            },
            mac_salt: OctetString::new(mac_salt)?,
            iterations: ITERATIONS as i32,
        }),
    };
    Ok(pfx.to_der()?)
}

/// The key and certificates of a backup file, checked with `passphrase` (its MAC first: a
/// wrong passphrase is told apart from a damaged file).
pub fn open(file: &[u8], passphrase: &str) -> Result<Opened, BackupError> {
    let pfx = match Pfx::from_der(file) {
        Ok(pfx) => pfx,
        // Some tools write BER (indefinite lengths); DER first, as the normalising guesses
        // CMS's implicit tags and could mistake PKCS#12's explicit ones.
        Err(_) => crate::ber::to_der(file)
            .ok()
            .and_then(|der| Pfx::from_der(&der).ok())
            .ok_or(BackupError::NotPkcs12)?,
    };
    let safe = data_octets(&pfx.auth_safe).ok_or(BackupError::NotPkcs12)?;
    if let Some(mac_data) = &pfx.mac_data {
        check_mac(mac_data, safe, &bmp(passphrase)?)?;
    }
    let contents = Vec::<ContentInfo>::from_der(safe).map_err(|_| BackupError::NotPkcs12)?;

    let (mut keys, mut certificates) = (Vec::new(), Vec::new());
    for content in &contents {
        for bag in safe_contents(content, passphrase)? {
            read_bag(&bag, passphrase, &mut keys, &mut certificates)?;
        }
    }
    let pkcs8 = keys.into_iter().next().ok_or(BackupError::NoKey)?;
    let public = RsaPrivateKey::from_pkcs8_der(&pkcs8)
        .map_err(|_| BackupError::Key)?
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| BackupError::Key)?;
    let own = certificates
        .iter()
        .position(|c: &Certificate| {
            c.tbs_certificate
                .subject_public_key_info
                .to_der()
                .ok()
                .as_deref()
                == Some(public.as_bytes())
        })
        .ok_or(BackupError::NoCertificate)?;
    let certificate = certificates.remove(own);
    Ok(Opened {
        pkcs8,
        certificate,
        chain: certificates,
    })
}

fn bmp(passphrase: &str) -> Result<BmpString, BackupError> {
    BmpString::from_utf8(passphrase).map_err(|_| BackupError::Passphrase)
}

fn sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    }
}

/// HMAC over the authenticated safe, keyed by the PKCS#12 KDF (RFC 7292, appendix B).
fn mac(
    safe: &[u8],
    passphrase: &BmpString,
    salt: &[u8],
    iterations: i32,
) -> Result<Vec<u8>, BackupError> {
    let key = Zeroizing::new(derive_key_bmp::<Sha256>(
        passphrase.clone(),
        salt,
        Pkcs12KeyType::Mac,
        iterations,
        32,
    ));
    let mut hmac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    hmac.update(safe);
    Ok(hmac.finalize().into_bytes().to_vec())
}

fn check_mac(mac_data: &MacData, safe: &[u8], passphrase: &BmpString) -> Result<(), BackupError> {
    if mac_data.mac.algorithm.oid != rfc5912::ID_SHA_256 {
        // SHA-1 MACs (older tools) are not checked here; the key's decryption still is.
        return Ok(());
    }
    let key = Zeroizing::new(derive_key_bmp::<Sha256>(
        passphrase.clone(),
        mac_data.mac_salt.as_bytes(),
        Pkcs12KeyType::Mac,
        mac_data.iterations,
        32,
    ));
    let mut hmac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    hmac.update(safe);
    hmac.verify_slice(mac_data.mac.digest.as_bytes())
        .map_err(|_| BackupError::WrongPassphrase)
}

/// The bytes of a `data` content (an OCTET STRING inside the ContentInfo).
fn data_octets(content: &ContentInfo) -> Option<&[u8]> {
    (content.content_type == ID_DATA)
        .then(|| {
            content
                .content
                .decode_as::<der::asn1::OctetStringRef<'_>>()
                .ok()
        })
        .flatten()
        .map(|octets| octets.as_bytes())
}

fn data(bags: &SafeContents) -> Result<ContentInfo, BackupError> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(bags.to_der()?)?)?,
    })
}

fn safe_contents(content: &ContentInfo, passphrase: &str) -> Result<SafeContents, BackupError> {
    let plain = if content.content_type == ID_ENCRYPTED_DATA {
        let encrypted: EncryptedData = content
            .content
            .decode_as()
            .map_err(|_| BackupError::NotPkcs12)?;
        let info = &encrypted.enc_content_info;
        let algorithm = info.content_enc_alg.to_der()?;
        let scheme =
            pkcs5::EncryptionScheme::from_der(&algorithm).map_err(|_| BackupError::NotPkcs12)?;
        let ciphertext = info
            .encrypted_content
            .as_ref()
            .ok_or(BackupError::NotPkcs12)?;
        Zeroizing::new(
            scheme
                .decrypt(passphrase.as_bytes(), ciphertext.as_bytes())
                .map_err(|_| BackupError::WrongPassphrase)?,
        )
    } else {
        Zeroizing::new(data_octets(content).ok_or(BackupError::NotPkcs12)?.to_vec())
    };
    SafeContents::from_der(&plain).map_err(|_| BackupError::NotPkcs12)
}

fn read_bag(
    bag: &SafeBag,
    passphrase: &str,
    keys: &mut Vec<Zeroizing<Vec<u8>>>,
    certificates: &mut Vec<Certificate>,
) -> Result<(), BackupError> {
    // Decoded, a bag's value still has its explicit [0] around it.
    match bag.bag_id {
        id if id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
            let shrouded = ContextSpecific::<EncryptedPrivateKeyInfo<'_>>::from_der(&bag.bag_value)
                .map_err(|_| BackupError::NotPkcs12)?;
            let key = shrouded
                .value
                .decrypt(passphrase.as_bytes())
                .map_err(|_| BackupError::WrongPassphrase)?;
            keys.push(Zeroizing::new(key.as_bytes().to_vec()));
        }
        id if id == pkcs12::PKCS_12_KEY_BAG_OID => {
            let plain = ContextSpecific::<Any>::from_der(&bag.bag_value)
                .map_err(|_| BackupError::NotPkcs12)?;
            keys.push(Zeroizing::new(plain.value.to_der()?));
        }
        id if id == pkcs12::PKCS_12_CERT_BAG_OID => {
            let cert = ContextSpecific::<CertBag>::from_der(&bag.bag_value)
                .map_err(|_| BackupError::NotPkcs12)?;
            if cert.value.cert_id == X509_CERTIFICATE {
                certificates.push(
                    Certificate::from_der(cert.value.cert_value.as_bytes())
                        .map_err(|_| BackupError::NotPkcs12)?,
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn cert_bag(
    certificate: &Certificate,
    attributes: Option<Attributes>,
) -> Result<SafeBag, BackupError> {
    let bag = CertBag {
        cert_id: X509_CERTIFICATE,
        cert_value: OctetString::new(certificate.to_der()?)?,
    };
    Ok(SafeBag {
        bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
        bag_value: bag.to_der()?,
        bag_attributes: attributes,
    })
}

/// What pairs the key with its certificate in the tools: the certificate's SHA-256.
fn local_key_id(certificate: &Certificate) -> Result<Vec<u8>, BackupError> {
    use sha2::Digest;
    Ok(Sha256::digest(certificate.to_der()?).to_vec())
}

fn bag_attributes(name: &str, key_id: &[u8]) -> Result<Attributes, BackupError> {
    let attribute = |oid, value: Any| -> Result<Attribute, BackupError> {
        Ok(Attribute {
            oid,
            values: SetOfVec::try_from(vec![value])?,
        })
    };
    let name = Any::encode_from(&BmpString::from_utf8(name)?)?;
    let key_id = Any::encode_from(&OctetString::new(key_id)?)?;
    Ok(SetOfVec::try_from(vec![
        attribute(FRIENDLY_NAME, name)?,
        attribute(LOCAL_KEY_ID, key_id)?,
    ])?)
}
