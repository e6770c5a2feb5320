//! What the citizen's key signs, and what is built around its signatures: the certificate
//! request for a conversation's certificate (PKCS#10) and the S/MIME signature of the
//! message (CMS SignedData, detached, in multipart/signed), so that the authority's mail
//! program learns the certificate its Reply encrypts to.
//!
//! The key itself stays out of this module: in the browser it is a WebCrypto key, whose
//! `sign` is asynchronous and runs outside wasm. So each builder comes in two steps: the
//! bytes to sign (RSASSA-PKCS1-v1_5 with SHA-256 over them), then the structure around the
//! signature the caller got. The `cms` crate's builder wants a synchronous signer, hence
//! these few structures by hand.

use cms::cert::CertificateChoices;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, BitString, Null, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("not a public key (SubjectPublicKeyInfo, DER)")]
    PublicKey,
    #[error("not a certificate request info made here")]
    RequestInfo,
    #[error("a time outside what UTCTime holds")]
    Time,
    #[error("cannot encode: {0}")]
    Der(#[from] der::Error),
}

/// The part of a certificate request the key signs: its public key, and nothing the
/// portal would use (an empty subject, no attributes; the portal writes the certificate).
pub fn request_info(public_key: &[u8]) -> Result<Vec<u8>, SigningError> {
    let public_key =
        SubjectPublicKeyInfoOwned::from_der(public_key).map_err(|_| SigningError::PublicKey)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::default(),
        public_key,
        attributes: SetOfVec::new(),
    };
    Ok(info.to_der()?)
}

/// The certificate request (PEM) of `info` ([`request_info`]) with the key's signature.
pub fn request_pem(info: &[u8], signature: &[u8]) -> Result<String, SigningError> {
    let request = CertReq {
        info: CertReqInfo::from_der(info).map_err(|_| SigningError::RequestInfo)?,
        algorithm: sha256_with_rsa(),
        signature: BitString::from_bytes(signature)?,
    };
    der::pem::encode_string(
        "CERTIFICATE REQUEST",
        der::pem::LineEnding::CRLF,
        &request.to_der()?,
    )
    .map_err(|e| SigningError::Der(e.into()))
}

fn sha256_with_rsa() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
        parameters: Some(Any::from(Null)),
    }
}

fn sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    }
}

/// The signed attributes of a message's signature, DER as the key signs them (a SET OF):
/// the content type (data), the SHA-256 of the signed entity, and the signing time.
pub fn signed_attributes(
    entity_sha256: &[u8; 32],
    signing_time: u64,
) -> Result<Vec<u8>, SigningError> {
    Ok(attributes(entity_sha256, signing_time)?.to_der()?)
}

fn attributes(
    entity_sha256: &[u8; 32],
    signing_time: u64,
) -> Result<SetOfVec<Attribute>, SigningError> {
    let time = UtcTime::from_unix_duration(std::time::Duration::from_secs(signing_time))
        .map_err(|_| SigningError::Time)?;
    let attribute = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, SigningError> {
        Ok(Attribute {
            oid,
            values: SetOfVec::try_from(vec![value])?,
        })
    };
    Ok(SetOfVec::try_from(vec![
        attribute(
            rfc5911::ID_CONTENT_TYPE,
            Any::encode_from(&rfc5911::ID_DATA)?,
        )?,
        attribute(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(entity_sha256.to_vec())?)?,
        )?,
        attribute(rfc5911::ID_SIGNING_TIME, Any::encode_from(&time)?)?,
    ])?)
}

/// The detached signature (a DER ContentInfo of SignedData, `application/pkcs7-signature`)
/// of an entity whose SHA-256 and signing time went into [`signed_attributes`], with the
/// key's `signature` over those, the signer's certificate and the rest of its chain.
pub fn detached_signature(
    entity_sha256: &[u8; 32],
    signing_time: u64,
    signature: &[u8],
    signer: &Certificate,
    chain: &[Certificate],
) -> Result<Vec<u8>, SigningError> {
    let tbs = &signer.tbs_certificate;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: sha256(),
        signed_attrs: Some(attributes(entity_sha256, signing_time)?),
        signature_algorithm: sha256_with_rsa(),
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certificates = std::iter::once(signer)
        .chain(chain)
        .map(|c| CertificateChoices::Certificate(c.clone()))
        .collect::<Vec<_>>();
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let info = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    };
    Ok(info.to_der()?)
}

/// The multipart/signed entity of `entity` (the bytes the signature's digest is of, CRLF
/// lines) and its detached `signature`: what then gets encrypted. `headers` (CRLF lines:
/// From, To, Subject, …) go before its Content-Type, outside what is signed, as mail
/// programs write them. `boundary` must not occur in the entity (a random one does not).
/// The browser makes the same in one pass with [`crate::mime::Entity::signed`].
pub fn multipart_signed(
    headers: &[u8],
    entity: &[u8],
    signature: &[u8],
    boundary: &str,
) -> Vec<u8> {
    let mut out = headers.to_vec();
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    crate::mime::multipart_signed_head(&mut out, boundary);
    out.extend_from_slice(entity);
    crate::mime::signature_part_head(&mut out, boundary);
    crate::mime::base64_lines(&mut out, signature);
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}
