//! The answers CA: the portal's own CA that certifies, per conversation, a key born in the
//! citizen's browser for an alias on the answer domain, so that the authority's mail
//! program can encrypt its answer to it. Made on first start; its key stays on disk.
//!
//! Its certificate limits it to the answer domain with a **non-critical**
//! nameConstraints: OpenSSL and NSS enforce it, gpgsm refuses a critical one (and enforces
//! neither). See `docs/design/answers-ca.md`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use der::asn1::{Ia5String, Uint};
use der::referenced::OwnedToRef;
use der::{Decode, Encode, EncodePem};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use smime::Certificate;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::AsExtension;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, CrlNumber, ExtendedKeyUsage,
    KeyUsage, KeyUsages, NameConstraints, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::serial_number::SerialNumber;

use crate::pkix::{self, NonCritical, PkixError, pkix_error};

/// The CA's key size: it signs for years, and only the portal uses the key.
const CA_KEY_BITS: usize = 3072;
/// The CA certificate's lifetime.
const CA_DAYS: u64 = 3650;
const DAY: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the answers CA: {0}")]
    Pkix(#[from] PkixError),
    #[error("the answers CA {certificate}: {problem}")]
    Mismatch {
        certificate: String,
        problem: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the CA's certificate and key are.
#[derive(Debug, Clone)]
pub struct CaFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// What the CA puts into a conversation's certificate.
pub struct LeafRequest<'a> {
    /// The citizen's key, from the verified CSR.
    pub public_key: &'a SubjectPublicKeyInfoOwned,
    /// The alias, its only address.
    pub address: &'a str,
    /// Random, positive, at most 20 bytes.
    pub serial: &'a [u8],
    pub not_before: u64,
    pub not_after: u64,
}

pub struct AnswersCa {
    certificate: Certificate,
    der: Vec<u8>,
    signer: SigningKey<Sha256>,
    spki: SubjectPublicKeyInfoOwned,
    domain: String,
    crl_url: String,
}

impl AnswersCa {
    /// Reads the CA, or makes it: a key where `files.key` says (unless one is there), a
    /// certificate for it limited to `domain`. A certificate for another domain, or for
    /// another key, is an error: a new answer domain needs a new CA, trusted anew.
    pub fn load_or_create(
        files: &CaFiles,
        domain: &str,
        crl_url: &str,
        now: u64,
    ) -> Result<AnswersCa, CaError> {
        let key = match std::fs::read_to_string(&files.key) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem).map_err(pkix_error)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if files.certificate.exists() {
                    return Err(CaError::Mismatch {
                        certificate: files.certificate.display().to_string(),
                        problem: format!("its key {} is missing", files.key.display()),
                    });
                }
                tracing::info!("making the answers CA's key (a few seconds, once)");
                let key =
                    RsaPrivateKey::new(&mut rand_core::OsRng, CA_KEY_BITS).map_err(pkix_error)?;
                write_private(
                    &files.key,
                    key.to_pkcs8_pem(LineEnding::LF)
                        .map_err(pkix_error)?
                        .as_bytes(),
                )?;
                key
            }
            Err(e) => return Err(io(&files.key)(e)),
        };
        let spki = pkix::rsa_spki(&RsaPublicKey::from(&key))?;
        let signer = SigningKey::<Sha256>::new(key);
        let certificate = match std::fs::read(&files.certificate) {
            Ok(pem) => smime::certificate::parse_certificates(&pem)
                .map_err(pkix_error)?
                .remove(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let certificate = make_certificate(&signer, &spki, domain, now)?;
                let pem = certificate.to_pem(LineEnding::LF).map_err(pkix_error)?;
                crate::durable::write_file(
                    files.certificate.parent().unwrap_or(Path::new(".")),
                    &file_name(&files.certificate),
                    pem.as_bytes(),
                )
                .map_err(io(&files.certificate))?;
                certificate
            }
            Err(e) => return Err(io(&files.certificate)(e)),
        };
        let ca = AnswersCa {
            der: certificate.to_der().map_err(pkix_error)?,
            certificate,
            signer,
            spki,
            domain: domain.to_owned(),
            crl_url: crl_url.to_owned(),
        };
        ca.check(files)?;
        Ok(ca)
    }

    fn check(&self, files: &CaFiles) -> Result<(), CaError> {
        let mismatch = |problem: String| CaError::Mismatch {
            certificate: files.certificate.display().to_string(),
            problem,
        };
        if self.certificate.tbs_certificate.subject_public_key_info != self.spki {
            return Err(mismatch(format!(
                "it is not the certificate of the key {}",
                files.key.display()
            )));
        }
        let permitted = permitted_domain(&self.certificate);
        if permitted.as_deref() != Some(self.domain.as_str()) {
            return Err(mismatch(format!(
                "it is limited to {}, not to the answer domain {}; a new answer domain needs \
                 a new CA (move both files away), which the authorities must trust anew",
                permitted.as_deref().unwrap_or("no domain"),
                self.domain
            )));
        }
        Ok(())
    }

    pub fn pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der)
            .expect("a certificate encodes as PEM")
    }

    /// The SHA-256 fingerprint of the certificate, as mail programs show it (`AB:CD:…`).
    pub fn fingerprint(&self) -> String {
        Sha256::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// A conversation's certificate: only the alias as its address, for signing and key
    /// transport, e-mail protection, with the CRL's address.
    pub fn issue(&self, leaf: &LeafRequest) -> Result<Certificate, CaError> {
        let mut builder = CertificateBuilder::new(
            Profile::Manual {
                issuer: Some(self.certificate.tbs_certificate.subject.clone()),
            },
            pkix::serial(leaf.serial)?,
            pkix::validity(leaf.not_before, leaf.not_after)?,
            pkix::name(&format!("CN={}", leaf.address))?,
            leaf.public_key.clone(),
            &self.signer,
        )
        .map_err(pkix_error)?;
        let ski =
            SubjectKeyIdentifier::try_from(leaf.public_key.owned_to_ref()).map_err(pkix_error)?;
        let aki = AuthorityKeyIdentifier::try_from(self.spki.owned_to_ref()).map_err(pkix_error)?;
        let address = Ia5String::new(leaf.address).map_err(pkix_error)?;
        builder.add_extension(&ski).map_err(pkix_error)?;
        builder.add_extension(&aki).map_err(pkix_error)?;
        builder
            .add_extension(&BasicConstraints {
                ca: false,
                path_len_constraint: None,
            })
            .map_err(pkix_error)?;
        builder
            .add_extension(&KeyUsage(
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
            ))
            .map_err(pkix_error)?;
        builder
            .add_extension(&SubjectAltName(vec![GeneralName::Rfc822Name(address)]))
            .map_err(pkix_error)?;
        builder
            .add_extension(&ExtendedKeyUsage(vec![
                const_oid::db::rfc5280::ID_KP_EMAIL_PROTECTION,
            ]))
            .map_err(pkix_error)?;
        builder
            .add_extension(&self.distribution_points()?)
            .map_err(pkix_error)?;
        Ok(builder
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(pkix_error)?)
    }

    /// The CA's CRL, valid for `valid_days`, numbered by its moment.
    pub fn crl(
        &self,
        revoked: Vec<(SerialNumber, u64)>,
        now: u64,
        valid_days: u64,
    ) -> Result<Vec<u8>, CaError> {
        let issuer = &self.certificate.tbs_certificate.subject;
        let extensions = vec![
            AuthorityKeyIdentifier::try_from(self.spki.owned_to_ref())
                .map_err(pkix_error)?
                .to_extension(issuer, &[])
                .map_err(pkix_error)?,
            CrlNumber(Uint::new(&now.to_be_bytes()).map_err(pkix_error)?)
                .to_extension(issuer, &[])
                .map_err(pkix_error)?,
        ];
        Ok(pkix::signed_crl(
            issuer,
            &self.signer,
            pkix::CrlContent {
                this_update: now,
                next_update: now + valid_days * DAY,
                revoked,
                extensions: Some(extensions),
            },
        )?)
    }

    fn distribution_points(&self) -> Result<CrlDistributionPoints, CaError> {
        Ok(CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(
                    Ia5String::new(&self.crl_url).map_err(pkix_error)?,
                ),
            ])),
            reasons: None,
            crl_issuer: None,
        }]))
    }
}

fn make_certificate(
    signer: &SigningKey<Sha256>,
    spki: &SubjectPublicKeyInfoOwned,
    domain: &str,
    now: u64,
) -> Result<Certificate, CaError> {
    let serial = pkix::random_serial();
    let subtree = |base: &str| -> Result<GeneralSubtree, CaError> {
        Ok(GeneralSubtree {
            base: GeneralName::Rfc822Name(Ia5String::new(base).map_err(pkix_error)?),
            minimum: 0,
            maximum: None,
        })
    };
    let mut builder = CertificateBuilder::new(
        Profile::Root,
        pkix::serial(&serial)?,
        pkix::validity(now - 60, now + CA_DAYS * DAY)?,
        pkix::name(&format!("CN=Postsiegel Antwort-CA {domain}"))?,
        spki.clone(),
        signer,
    )
    .map_err(pkix_error)?;
    builder
        .add_extension(&NonCritical(NameConstraints {
            // The domain itself (`domain`) and nothing else: no subdomains either.
            permitted_subtrees: Some(vec![subtree(domain)?]),
            excluded_subtrees: None,
        }))
        .map_err(pkix_error)?;
    Ok(builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(pkix_error)?)
}

/// The one domain a CA certificate's nameConstraints permits, if it permits exactly one.
fn permitted_domain(certificate: &Certificate) -> Option<String> {
    let extension = certificate
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_NAME_CONSTRAINTS)?;
    let constraints = NameConstraints::from_der(extension.extn_value.as_bytes()).ok()?;
    match constraints.permitted_subtrees?.as_slice() {
        [
            GeneralSubtree {
                base: GeneralName::Rfc822Name(domain),
                ..
            },
        ] => Some(domain.to_string()),
        _ => None,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "ca.pem".into(), |n| n.to_string_lossy().into_owned())
}

/// A private key, readable by the server's user only, synced.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}
