//! The citizen's certificate request (PKCS#10): its signature proves that whoever asks
//! holds the key. Only the key is taken from it; the portal writes everything else.

use der::referenced::OwnedToRef;
use der::{Decode, Reader};
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use signature::Verifier;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::CertReq;

/// RSA keys the mail programs encrypt to; below 2048 bits none should.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("not a PKCS#10 certificate request (PEM or DER)")]
    Malformed,
    #[error("not an RSA key")]
    NotRsa,
    #[error("an RSA key of {bits} bits; {MIN_BITS} to {MAX_BITS} are taken")]
    KeySize { bits: usize },
    #[error("not signed with SHA-256 and RSA")]
    WrongSignatureAlgorithm,
    #[error("its signature does not verify with its own key")]
    BadSignature,
}

/// The key of a request whose signature verifies with it.
pub fn verified_key(request: &[u8]) -> Result<SubjectPublicKeyInfoOwned, CsrError> {
    let der = if request.starts_with(b"-----BEGIN") {
        der::pem::decode_vec(request)
            .map_err(|_| CsrError::Malformed)?
            .1
    } else {
        request.to_vec()
    };
    let parsed = CertReq::from_der(&der).map_err(|_| CsrError::Malformed)?;
    if parsed.algorithm.oid != const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION {
        return Err(CsrError::WrongSignatureAlgorithm);
    }
    let key = RsaPublicKey::try_from(parsed.info.public_key.owned_to_ref())
        .map_err(|_| CsrError::NotRsa)?;
    let bits = key.n().bits();
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(CsrError::KeySize { bits });
    }
    let signature = rsa::pkcs1v15::Signature::try_from(parsed.signature.raw_bytes())
        .map_err(|_| CsrError::BadSignature)?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(signed_part(&der)?, &signature)
        .map_err(|_| CsrError::BadSignature)?;
    Ok(parsed.info.public_key)
}

/// The request's info exactly as it was signed: der sorts a SET OF when it decodes, so the
/// info encoded again may differ from the signed bytes.
fn signed_part(der: &[u8]) -> Result<&[u8], CsrError> {
    let mut reader = der::SliceReader::new(der).map_err(|_| CsrError::Malformed)?;
    reader
        .sequence(|inner| {
            let info = inner.tlv_bytes()?;
            inner.tlv_bytes()?;
            inner.tlv_bytes()?;
            Ok(info)
        })
        .map_err(|_: der::Error| CsrError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request made by `openssl req -new -newkey rsa:2048 -nodes -subj /CN=x`.
    fn openssl_request(bits: u32, digest: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                &format!("rsa:{bits}"),
                "-nodes",
                "-subj",
                "/CN=x",
            ])
            .arg(format!("-{digest}"))
            .arg("-keyout")
            .arg(dir.path().join("k.pem"))
            .arg("-out")
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    }

    #[test]
    fn an_openssl_request_gives_its_key() {
        let request = openssl_request(2048, "sha256");
        let key = verified_key(&request).unwrap();
        let parsed = CertReq::from_der(&der::pem::decode_vec(&request).unwrap().1).unwrap();
        assert_eq!(key, parsed.info.public_key);
    }

    #[test]
    fn a_request_changed_after_signing_is_refused() {
        let pem = openssl_request(2048, "sha256");
        let mut der = der::pem::decode_vec(&pem).unwrap().1;
        // The subject's "x" is inside the signed info.
        let at = der.iter().rposition(|b| *b == b'x').unwrap();
        der[at] = b'y';
        assert_eq!(verified_key(&der), Err(CsrError::BadSignature));
    }

    #[test]
    fn small_keys_other_digests_and_garbage_are_refused() {
        assert_eq!(
            verified_key(&openssl_request(1024, "sha256")),
            Err(CsrError::KeySize { bits: 1024 })
        );
        assert_eq!(
            verified_key(&openssl_request(2048, "sha1")),
            Err(CsrError::WrongSignatureAlgorithm)
        );
        assert_eq!(verified_key(b"hello"), Err(CsrError::Malformed));
    }
}
