//! Who signed a message: an S/MIME signature (CMS SignedData, RFC 5652) checked over its
//! content, and its signer's certificate checked as a signing certificate for a mailbox.
//! The citizen's browser uses it to show an answer as the authority's only when a
//! certificate for the authority's mailbox that chains to the portal's trust anchors signed
//! it; anything else reads as "sender not verified", the text still shown.
//!
//! Both shapes mail programs send: detached (multipart/signed, the content beside the
//! signature; Thunderbird, KMail, and Outlook by default) and opaque
//! (`smime-type=signed-data`, the content inside). RSA PKCS#1 v1.5 with SHA-256/384/512;
//! anything else (SHA-1, RSA-PSS, ECDSA without `rust-ecdsa`) is not verified, and says so.
//! Revocation is not checked here: the browser has no CRL of the authority's CA.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::certificate::{CheckContext, Verdict, check_signing_certificate};

#[derive(Debug, thiserror::Error)]
pub enum SignatureProblem {
    #[error("not a CMS SignedData")]
    Unreadable,
    #[error("the signature carries no certificate of its signer")]
    NoSigner,
    #[error("a signature algorithm not verified here ({0})")]
    Unsupported(String),
    #[error("the content is not what was signed")]
    ContentChanged,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the signer's certificate: {0}")]
    Certificate(Verdict),
}

/// A signature that verified, by a certificate that passed the checks.
pub struct Verified {
    pub signer: Certificate,
    /// What was signed: the detached content as given, or the opaque one from inside.
    pub content: Vec<u8>,
}

/// Checks `signature` (a CMS ContentInfo of SignedData, DER or BER) over `detached` (the
/// first part of a multipart/signed, exactly as it stands) or, without it, over the
/// content inside; then its signer's certificate for `context.mailbox`.
pub fn verify(
    signature: &[u8],
    detached: Option<&[u8]>,
    context: &CheckContext,
) -> Result<Verified, SignatureProblem> {
    let signed = signed_data(signature)?;
    let content = match detached {
        Some(content) => content.to_vec(),
        None => inside(&signed)?,
    };
    let certificates: Vec<Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(certificate) => Some(certificate.clone()),
            _ => None,
        })
        .collect();
    // One signer is what mail programs write; the first that names a known certificate.
    let (info, signer) = signed
        .signer_infos
        .0
        .iter()
        .find_map(|info| {
            let signer = certificates.iter().find(|c| names(&info.sid, c))?;
            Some((info, signer.clone()))
        })
        .ok_or(SignatureProblem::NoSigner)?;
    check_signature(
        info,
        &signed.encap_content_info.econtent_type,
        &content,
        &signer,
    )?;
    let mut intermediates = context.intermediates.to_vec();
    intermediates.extend(certificates.into_iter().filter(|c| *c != signer));
    let verdict = check_signing_certificate(
        &signer,
        &CheckContext {
            intermediates: &intermediates,
            ..*context
        },
    );
    if !verdict.is_ok() {
        return Err(SignatureProblem::Certificate(verdict));
    }
    Ok(Verified { signer, content })
}

/// The content inside an opaque signature, verified or not (an unverified answer is still
/// shown, as "sender not verified").
pub fn opaque_content(signature: &[u8]) -> Result<Vec<u8>, SignatureProblem> {
    inside(&signed_data(signature)?)
}

fn inside(signed: &SignedData) -> Result<Vec<u8>, SignatureProblem> {
    signed
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|inside| inside.decode_as::<der::asn1::OctetString>().ok())
        .map(|octets| octets.into_bytes())
        .ok_or(SignatureProblem::Unreadable)
}

fn signed_data(signature: &[u8]) -> Result<SignedData, SignatureProblem> {
    let read = |der: &[u8]| {
        let info = ContentInfo::from_der(der).ok()?;
        (info.content_type == rfc5911::ID_SIGNED_DATA)
            .then(|| info.content.decode_as::<SignedData>().ok())
            .flatten()
    };
    // DER first: the BER normalising guesses CMS's implicit tags, which an opaque
    // signature's explicit [0] around its content is not.
    read(signature)
        .or_else(|| read(&crate::ber::to_der(signature).ok()?))
        .ok_or(SignatureProblem::Unreadable)
}

fn names(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    let tbs = &certificate.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(id) => tbs
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own.0 == id.0),
    }
}

/// The digest of `content` by the signer's digest algorithm, and the RSA algorithm the
/// signature then uses (CMS names `rsaEncryption` and the digest apart).
fn digest(
    algorithm: ObjectIdentifier,
    content: &[u8],
) -> Result<(Vec<u8>, ObjectIdentifier), SignatureProblem> {
    Ok(match algorithm {
        rfc5912::ID_SHA_256 => (
            Sha256::digest(content).to_vec(),
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
        ),
        rfc5912::ID_SHA_384 => (
            Sha384::digest(content).to_vec(),
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
        ),
        rfc5912::ID_SHA_512 => (
            Sha512::digest(content).to_vec(),
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
        ),
        other => return Err(SignatureProblem::Unsupported(other.to_string())),
    })
}

fn check_signature(
    info: &SignerInfo,
    content_type: &ObjectIdentifier,
    content: &[u8],
    signer: &Certificate,
) -> Result<(), SignatureProblem> {
    let (content_digest, rsa_algorithm) = digest(info.digest_alg.oid, content)?;
    let algorithm = match info.signature_algorithm.oid {
        rfc5912::RSA_ENCRYPTION => rsa_algorithm,
        named if named == rsa_algorithm => named,
        other => return Err(SignatureProblem::Unsupported(other.to_string())),
    };
    let signed = match &info.signed_attrs {
        None => content.to_vec(),
        Some(attributes) => {
            let value = |oid: ObjectIdentifier| {
                attributes
                    .iter()
                    .find(|a| a.oid == oid)
                    .and_then(|a| a.values.get(0).cloned())
            };
            let said_digest = value(rfc5911::ID_MESSAGE_DIGEST)
                .and_then(|v| v.decode_as::<der::asn1::OctetString>().ok())
                .ok_or(SignatureProblem::Unreadable)?;
            if said_digest.as_bytes() != content_digest.as_slice() {
                return Err(SignatureProblem::ContentChanged);
            }
            let said_type = value(rfc5911::ID_CONTENT_TYPE)
                .and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
            if said_type.as_ref() != Some(content_type) {
                return Err(SignatureProblem::ContentChanged);
            }
            // What the signature covers: the attributes as a DER SET OF.
            attributes
                .to_der()
                .map_err(|_| SignatureProblem::Unreadable)?
        }
    };
    crate::certificate::verify_signed(&signed, algorithm, info.signature.as_bytes(), signer, &[])
        .map_err(|unsupported| match unsupported {
            Some(algorithm) => SignatureProblem::Unsupported(algorithm),
            None => SignatureProblem::BadSignature,
        })
}
