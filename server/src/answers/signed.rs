//! Requests signed by the conversation's key: only the browser holding it may say that it
//! opened an answer, or close the conversation. The statement signed is the wire crate's,
//! so that the app and the portal cannot disagree on a byte of it.

use base64::Engine;
use der::Decode;
use der::referenced::OwnedToRef;
use rsa::RsaPublicKey;
use sha2::Sha256;
use signature::Verifier;
use x509_cert::Certificate;

/// Whether `signature` (base64) is the RSASSA-PKCS1-v1_5 SHA-256 signature over `statement`
/// by the key of `certificate` (DER).
pub fn verifies(certificate: &[u8], statement: &str, signature: &str) -> bool {
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(certificate) = Certificate::from_der(certificate) else {
        return false;
    };
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .owned_to_ref();
    let Ok(key) = RsaPublicKey::try_from(spki) else {
        return false;
    };
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature.as_slice()) else {
        return false;
    };
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(statement.as_bytes(), &signature)
        .is_ok()
}
