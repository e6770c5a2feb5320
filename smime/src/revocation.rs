//! Revocation by CRL (RFC 5280): is a certificate listed by a current, correctly signed
//! revocation list of its issuer? Fetching the CRLs is the server's job; this only judges.

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlDistributionPoints;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};

use crate::certificate::verify_signed;

/// How long past its nextUpdate a CRL may still be used.
pub const GRACE_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not listed by a CRL that is current (or within the grace period) until `valid_until`.
    Good {
        valid_until: u64,
    },
    Revoked {
        at: u64,
    },
    /// The newest CRL is past nextUpdate plus the grace period: fail closed.
    Stale {
        next_update: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("not a CRL (PEM or DER): {0}")]
    Unreadable(String),
    #[error("the CRL was issued by {crl_issuer}, not by the certificate's issuer {issuer}")]
    WrongIssuer { crl_issuer: String, issuer: String },
    #[error("the CRL's signature does not verify with its issuer's key")]
    BadSignature,
    #[error("the CRL's signature algorithm {0} is not supported")]
    UnsupportedSignature(String),
}

/// Reads a CRL from DER or PEM (`X509 CRL`).
pub fn parse_crl(bytes: &[u8]) -> Result<CertificateList, CrlError> {
    let unreadable = |e: der::Error| CrlError::Unreadable(e.to_string());
    if bytes.first() == Some(&0x30) {
        return CertificateList::from_der(bytes).map_err(unreadable);
    }
    let (label, der) = der::pem::decode_vec(bytes).map_err(|e| unreadable(e.into()))?;
    if label != "X509 CRL" {
        return Err(CrlError::Unreadable(format!("a PEM block of type {label}")));
    }
    CertificateList::from_der(&der).map_err(unreadable)
}

/// Judges `certificate` by `crl`, which `crl_issuer` (the certificate's issuer) must have
/// signed, at `now` (seconds since the Unix epoch).
pub fn status(
    certificate: &Certificate,
    crl: &CertificateList,
    crl_issuer: &Certificate,
    now: u64,
) -> Result<Status, CrlError> {
    let list = &crl.tbs_cert_list;
    if list.issuer != certificate.tbs_certificate.issuer
        || crl_issuer.tbs_certificate.subject != list.issuer
    {
        return Err(CrlError::WrongIssuer {
            crl_issuer: list.issuer.to_string(),
            issuer: certificate.tbs_certificate.issuer.to_string(),
        });
    }
    let signed = list
        .to_der()
        .map_err(|e| CrlError::Unreadable(e.to_string()))?;
    verify_signed(
        &signed,
        crl.signature_algorithm.oid,
        crl.signature.raw_bytes(),
        crl_issuer,
        &[],
    )
    .map_err(|unsupported| match unsupported {
        Some(algorithm) => CrlError::UnsupportedSignature(algorithm),
        None => CrlError::BadSignature,
    })?;

    let serial = &certificate.tbs_certificate.serial_number;
    if let Some(entry) = list
        .revoked_certificates
        .iter()
        .flatten()
        .find(|entry| &entry.serial_number == serial)
    {
        return Ok(Status::Revoked {
            at: entry.revocation_date.to_unix_duration().as_secs(),
        });
    }
    // A CRL without nextUpdate promises nothing about tomorrow: treat it as due now.
    let next_update = list
        .next_update
        .map_or(list.this_update, |t| t)
        .to_unix_duration()
        .as_secs();
    let valid_until = next_update + GRACE_SECONDS;
    if now > valid_until {
        return Ok(Status::Stale { next_update });
    }
    Ok(Status::Good { valid_until })
}

/// The http:// and ldap:// CRL distribution points a certificate names.
pub fn distribution_points(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, points))) = certificate.tbs_certificate.get::<CrlDistributionPoints>() else {
        return Vec::new();
    };
    points
        .0
        .iter()
        .filter_map(|point| match &point.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|uri| uri.starts_with("http://") || uri.starts_with("ldap://"))
        .collect()
}
