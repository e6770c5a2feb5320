//! The small pieces of X.509 the portal's own CAs share (the demo CA, the answers CA):
//! names, validity periods, serial numbers, public keys and signed CRLs, over x509-cert.

use std::str::FromStr;
use std::time::Duration;

use der::Encode;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::SigningKey;
use sha2::Sha256;
use signature::SignatureEncoding;
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::AsExtension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// Something x509-cert or der refused; the text says what.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PkixError(pub String);

pub fn pkix_error(e: impl std::fmt::Display) -> PkixError {
    PkixError(e.to_string())
}

pub fn name(text: &str) -> Result<Name, PkixError> {
    Name::from_str(text).map_err(pkix_error)
}

/// A moment as RFC 5280 wants it: UTCTime through 2049, GeneralizedTime after.
pub fn time(unix: u64) -> Result<Time, PkixError> {
    let moment = std::time::UNIX_EPOCH + Duration::from_secs(unix);
    let utc = der::asn1::UtcTime::from_system_time(moment);
    match utc {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Time::try_from(moment).map_err(pkix_error),
    }
}

pub fn validity(from: u64, to: u64) -> Result<Validity, PkixError> {
    Ok(Validity {
        not_before: time(from)?,
        not_after: time(to)?,
    })
}

/// A fresh random serial number: 128 bits, positive, and never with a leading zero byte
/// that DER would drop.
pub fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

pub fn serial(bytes: &[u8]) -> Result<SerialNumber, PkixError> {
    SerialNumber::new(bytes).map_err(pkix_error)
}

pub fn rsa_spki(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, PkixError> {
    let der = key.to_public_key_der().map_err(pkix_error)?;
    SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).map_err(pkix_error)
}

/// An extension whose type x509-cert marks critical, marked non-critical instead.
pub struct NonCritical<T>(pub T);

impl<T: const_oid::AssociatedOid> const_oid::AssociatedOid for NonCritical<T> {
    const OID: const_oid::ObjectIdentifier = T::OID;
}

impl<T: der::Encode> der::Encode for NonCritical<T> {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}

impl<T: const_oid::AssociatedOid + der::Encode> AsExtension for NonCritical<T> {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

/// What a CRL says besides who signed it.
pub struct CrlContent {
    pub this_update: u64,
    pub next_update: u64,
    /// Serial numbers and when each was revoked.
    pub revoked: Vec<(SerialNumber, u64)>,
    /// Its extensions (AKI, CRL number), already made; none for a v2 CRL without any.
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

/// A v2 CRL of `issuer`, signed with `signer` (SHA-256 with RSA), DER.
pub fn signed_crl(
    issuer: &Name,
    signer: &SigningKey<Sha256>,
    content: CrlContent,
) -> Result<Vec<u8>, PkixError> {
    let algorithm = spki::DynSignatureAlgorithmIdentifier::signature_algorithm_identifier(signer)
        .map_err(pkix_error)?;
    let revoked = content
        .revoked
        .into_iter()
        .map(|(serial_number, at)| {
            Ok(RevokedCert {
                serial_number,
                revocation_date: time(at)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<Result<Vec<_>, PkixError>>()?;
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: algorithm.clone(),
        issuer: issuer.clone(),
        this_update: time(content.this_update)?,
        next_update: Some(time(content.next_update)?),
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: content.extensions,
    };
    let signed = tbs.to_der().map_err(pkix_error)?;
    let signature = signature::Signer::<rsa::pkcs1v15::Signature>::try_sign(signer, &signed)
        .map_err(pkix_error)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: der::asn1::BitString::from_bytes(&signature.to_vec()).map_err(pkix_error)?,
    }
    .to_der()
    .map_err(pkix_error)
}
