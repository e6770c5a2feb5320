//! The trust configuration: anchors, intermediates and CRLs, and what they say of a
//! mailbox's certificates now.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smime::Certificate;
use smime::certificate::parse_certificates;
use smime::revocation::{Status, parse_crl, status};
use x509_cert::crl::CertificateList;

use crate::model::StoredCertificate;

/// Where the trust anchors, intermediates and CRL files are (PEM or DER files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    pub trust_anchors: Vec<PathBuf>,
    pub intermediates: Vec<PathBuf>,
    pub crl_files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

pub struct Pki {
    pub anchors: Vec<Certificate>,
    pub intermediates: Vec<Certificate>,
    pub crls: Vec<CertificateList>,
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn certificates(paths: &[PathBuf]) -> Result<Vec<Certificate>, PkiError> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(
            parse_certificates(&read(path)?).map_err(|e| PkiError::Invalid {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?,
        );
    }
    Ok(all)
}

impl Pki {
    pub fn load(config: &PkiConfig) -> Result<Pki, PkiError> {
        let mut crls = Vec::new();
        for path in &config.crl_files {
            crls.push(parse_crl(&read(path)?).map_err(|e| PkiError::Invalid {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?);
        }
        Ok(Pki {
            anchors: certificates(&config.trust_anchors)?,
            intermediates: certificates(&config.intermediates)?,
            crls,
        })
    }

    /// What the CRLs of `certificate`'s issuer say at `now`. Revoked wins; without a
    /// current, correctly signed CRL of the issuer the answer is Unknown (fail closed).
    pub fn revocation(&self, certificate: &Certificate, now: u64) -> Revocation {
        let issuer_name = &certificate.tbs_certificate.issuer;
        let Some(issuer) = self
            .intermediates
            .iter()
            .chain(&self.anchors)
            .find(|c| &c.tbs_certificate.subject == issuer_name)
        else {
            return Revocation::Unknown;
        };
        let mut verdict = Revocation::Unknown;
        for crl in &self.crls {
            match status(certificate, crl, issuer, now) {
                Ok(Status::Revoked { .. }) => return Revocation::Revoked,
                Ok(Status::Good { .. }) => verdict = Revocation::Good,
                Ok(Status::Stale { .. }) | Err(_) => {}
            }
        }
        verdict
    }

    /// The stored certificates with their revocation state at `now`.
    pub fn judge(&self, stored: &[StoredCertificate], now: u64) -> Vec<MailboxCertificate> {
        stored
            .iter()
            .map(|s| MailboxCertificate {
                mailbox: s.mailbox.clone(),
                certificate: s.certificate.clone(),
                revocation: self.revocation(&s.certificate, now),
            })
            .collect()
    }
}

/// A certificate published for a mailbox, with what revocation checking knows of it.
#[derive(Debug, Clone)]
pub struct MailboxCertificate {
    pub mailbox: String,
    pub certificate: smime::Certificate,
    pub revocation: Revocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// A current CRL does not list it.
    Good,
    Revoked,
    /// No CRL fresh enough (past nextUpdate plus the grace period): fail closed.
    Unknown,
}
