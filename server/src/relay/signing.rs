//! The portal's own S/MIME signature over what it forwards (off by default), as the Bavarian
//! platform signs the messages it relays: the authority can check that a mail came through
//! the portal. It signs the encrypted part (detached, multipart/signed), so it vouches for
//! the delivery, not for the content, which it cannot read.

use std::path::PathBuf;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::Encode;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use smime::Certificate;
use spki::AlgorithmIdentifierOwned;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The portal's signing certificate (PEM), issued for the From address.
    pub certificate: PathBuf,
    /// Its RSA private key (PEM, PKCS#8 or PKCS#1).
    pub private_key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("reading {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("signing: {0}")]
    Sign(String),
}

pub struct PortalSigner {
    certificate: Certificate,
    key: SigningKey<Sha256>,
}

impl PortalSigner {
    pub fn load(config: &SigningConfig) -> Result<PortalSigner, SigningError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| SigningError::Read {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
        };
        let invalid = |path: &PathBuf, detail: String| SigningError::Read {
            path: path.display().to_string(),
            detail,
        };
        let certificate = smime::certificate::parse_certificates(&read(&config.certificate)?)
            .map_err(|e| invalid(&config.certificate, e.to_string()))?
            .remove(0);
        let pem = String::from_utf8(read(&config.private_key)?)
            .map_err(|e| invalid(&config.private_key, e.to_string()))?;
        let key = RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|e| invalid(&config.private_key, e.to_string()))?;
        Ok(PortalSigner::new(certificate, key))
    }

    pub fn new(certificate: Certificate, key: RsaPrivateKey) -> PortalSigner {
        PortalSigner {
            certificate,
            key: SigningKey::<Sha256>::new(key),
        }
    }

    /// A detached CMS SignedData (DER) over content whose SHA-256 is `digest`.
    pub fn sign(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        let failed = |e: &dyn std::fmt::Display| SigningError::Sign(e.to_string());
        let content = EncapsulatedContentInfo {
            econtent_type: const_oid::db::rfc5911::ID_DATA,
            econtent: None,
        };
        let digest_algorithm = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_256,
            parameters: None,
        };
        let tbs = &self.certificate.tbs_certificate;
        let signer = SignerInfoBuilder::new(
            &self.key,
            SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_algorithm.clone(),
            &content,
            Some(digest),
        )
        .map_err(|e| failed(&e))?;
        SignedDataBuilder::new(&content)
            .add_digest_algorithm(digest_algorithm)
            .map_err(|e| failed(&e))?
            .add_certificate(CertificateChoices::Certificate(self.certificate.clone()))
            .map_err(|e| failed(&e))?
            .add_signer_info::<_, rsa::pkcs1v15::Signature>(signer)
            .map_err(|e| failed(&e))?
            .build()
            .map_err(|e| failed(&e))?
            .to_der()
            .map_err(|e| failed(&e))
    }

    /// The length of every signature this signer makes (the content does not change it).
    pub fn signature_len(&self) -> Result<usize, SigningError> {
        Ok(self.sign(&[0; 32])?.len())
    }
}
