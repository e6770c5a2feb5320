//! Is this certificate fit to encrypt to a mailbox, now? The same checks run in the browser
//! before encrypting and on the server before offering a form.

use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912};
use der::referenced::OwnedToRef;
use der::{Decode, DecodePem, Encode};
use rsa::traits::PublicKeyParts;
#[cfg(any(feature = "rust-rsa-sha384", feature = "rust-ecdsa"))]
use sha2::Sha384;
#[cfg(feature = "rust-rsa-sha384")]
use sha2::Sha512;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

/// The smallest RSA key we encrypt to.
pub const MIN_RSA_BITS: usize = 2048;
/// How many certificates a chain may have between the leaf and its anchor.
const MAX_INTERMEDIATES: usize = 6;
const EMAIL_ADDRESS_ATTRIBUTE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("no certificate found")]
    Empty,
    #[error("not a certificate (PEM or DER): {0}")]
    Invalid(String),
}

/// Reads one or more certificates from PEM (any number of blocks) or one DER certificate.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, ParseError> {
    if bytes.first() == Some(&0x30) {
        return Certificate::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| ParseError::Invalid(e.to_string()));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| ParseError::Invalid("not UTF-8 text".into()))?;
    let mut certificates = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| ParseError::Invalid("unterminated PEM block".into()))?
            + END.len();
        certificates.push(
            Certificate::from_pem(&after[..end]).map_err(|e| ParseError::Invalid(e.to_string()))?,
        );
        rest = &after[end..];
    }
    if certificates.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(certificates)
}

/// SHA-256 over the certificate's DER, as the app shows it.
pub fn fingerprint_sha256(certificate: &Certificate) -> [u8; 32] {
    Sha256::digest(certificate.to_der().expect("a decoded certificate encodes")).into()
}

/// Hex with colons, as mail clients show fingerprints.
pub fn fingerprint_hex(fingerprint: &[u8]) -> String {
    fingerprint
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn not_before(certificate: &Certificate) -> u64 {
    certificate
        .tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs()
}

pub fn not_after(certificate: &Certificate) -> u64 {
    certificate
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs()
}

/// The e-mail addresses a certificate is issued for: rfc822Name SANs and the subject's
/// emailAddress attribute.
pub fn mail_addresses(certificate: &Certificate) -> Vec<String> {
    let tbs = &certificate.tbs_certificate;
    let mut addresses = Vec::new();
    if let Ok(Some((_, san))) = tbs.get::<SubjectAltName>() {
        for name in san.0 {
            if let GeneralName::Rfc822Name(address) = name {
                addresses.push(address.to_string());
            }
        }
    }
    for rdn in tbs.subject.0.iter() {
        for attribute in rdn.0.iter() {
            if attribute.oid == EMAIL_ADDRESS_ATTRIBUTE
                && let Ok(address) = der::asn1::Ia5StringRef::try_from(&attribute.value)
            {
                addresses.push(address.to_string());
            }
        }
    }
    addresses
}

/// Where and when a check runs.
pub struct CheckContext<'a> {
    /// Now, in seconds since the Unix epoch (the caller's clock: this crate has none).
    pub now: u64,
    /// The mailbox the form delivers to; it must be among the certificate's addresses.
    pub mailbox: &'a str,
    pub anchors: &'a [Certificate],
    pub intermediates: &'a [Certificate],
    /// Signatures of the chain that the caller verified itself: the browser does, with
    /// WebCrypto (see [`webcrypto_signatures`]): ECDSA, as the app leaves out the `rust-ecdsa`
    /// feature to stay small, and RSA, faster there. The server leaves this empty.
    pub verified_elsewhere: &'a [VerifiedSignature],
}

/// A signature that the caller verified: SHA-256 of the signed bytes and of the signer's
/// public key (SubjectPublicKeyInfo, DER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub signed: [u8; 32],
    pub issuer_key: [u8; 32],
}

impl VerifiedSignature {
    fn new(signed: &[u8], issuer_key: &[u8]) -> VerifiedSignature {
        VerifiedSignature {
            signed: Sha256::digest(signed).into(),
            issuer_key: Sha256::digest(issuer_key).into(),
        }
    }

    fn of(signed: &[u8], issuer: &Certificate) -> Option<VerifiedSignature> {
        let key = issuer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()?;
        Some(VerifiedSignature::new(signed, &key))
    }
}

/// A certificate signature (ECDSA or RSA PKCS#1 v1.5), in the shape WebCrypto verifies it.
#[derive(Clone, Debug)]
pub struct WebCryptoSignature {
    /// The signed bytes (the certificate's TBS part).
    pub signed: Vec<u8>,
    /// ECDSA: `r || s`, each as long as the curve's order (IEEE P1363), not DER. RSA: as is.
    pub signature: Vec<u8>,
    /// `SHA-256`, `SHA-384` or `SHA-512`.
    pub hash: &'static str,
    /// ECDSA's `P-256` or `P-384`; `None` for RSASSA-PKCS1-v1_5.
    pub curve: Option<&'static str>,
    /// The issuer's SubjectPublicKeyInfo, DER.
    pub issuer_key: Vec<u8>,
}

impl WebCryptoSignature {
    /// What to put into [`CheckContext::verified_elsewhere`] once this verified.
    pub fn verified(&self) -> VerifiedSignature {
        VerifiedSignature::new(&self.signed, &self.issuer_key)
    }
}

const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Every signature that checking `certificates` against these anchors and intermediates may
/// need, for the browser to verify with WebCrypto: ECDSA, which the app has no Rust code for,
/// and RSA, which WebCrypto verifies natively, many times faster than wasm (WebKit's most of
/// all). Each certificate and intermediate against each certificate named as its issuer.
/// Unreadable ones are left out (the check then verifies them itself, or fails, closed).
pub fn webcrypto_signatures(
    certificates: &[Certificate],
    anchors: &[Certificate],
    intermediates: &[Certificate],
) -> Vec<WebCryptoSignature> {
    let mut found = Vec::new();
    for certificate in certificates.iter().chain(intermediates) {
        let (hash, ecdsa) = match certificate.signature_algorithm.oid {
            rfc5912::ECDSA_WITH_SHA_256 => ("SHA-256", true),
            rfc5912::ECDSA_WITH_SHA_384 => ("SHA-384", true),
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION => ("SHA-256", false),
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION => ("SHA-384", false),
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION => ("SHA-512", false),
            _ => continue,
        };
        let Ok(signed) = certificate.tbs_certificate.to_der() else {
            continue;
        };
        let issuers = anchors.iter().chain(intermediates).filter(|issuer| {
            issuer.tbs_certificate.subject == certificate.tbs_certificate.issuer
                && !std::ptr::eq(*issuer, certificate)
        });
        for issuer in issuers {
            let spki = &issuer.tbs_certificate.subject_public_key_info;
            let Ok(issuer_key) = spki.to_der() else {
                continue;
            };
            let raw = certificate.signature.raw_bytes();
            let (curve, signature) = if ecdsa {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                let (curve, size) = match curve {
                    Some(SECP256R1) => ("P-256", 32),
                    Some(SECP384R1) => ("P-384", 48),
                    _ => continue,
                };
                let Some(signature) = p1363(raw, size) else {
                    continue;
                };
                (Some(curve), signature)
            } else if spki.algorithm.oid == rfc5912::RSA_ENCRYPTION {
                (None, raw.to_vec())
            } else {
                continue;
            };
            found.push(WebCryptoSignature {
                signed: signed.clone(),
                signature,
                hash,
                curve,
                issuer_key,
            });
        }
    }
    found
}

/// An ECDSA signature from DER (`SEQUENCE { r INTEGER, s INTEGER }`) to `r || s`.
fn p1363(der_signature: &[u8], size: usize) -> Option<Vec<u8>> {
    #[derive(der::Sequence)]
    struct Signature<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    let parsed = Signature::from_der(der_signature).ok()?;
    let mut out = vec![0u8; 2 * size];
    for (half, value) in [parsed.r.as_bytes(), parsed.s.as_bytes()]
        .into_iter()
        .enumerate()
    {
        if value.len() > size {
            return None;
        }
        let end = (half + 1) * size;
        out[end - value.len()..end].copy_from_slice(value);
    }
    Some(out)
}

/// Why a certificate cannot be used. Each has a stable [`Problem::code`] that the app words
/// in the citizen's language; `Display` gives an English sentence for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NotYetValid {
        not_before: u64,
    },
    Expired {
        not_after: u64,
    },
    NoKeyEncipherment,
    NoDigitalSignature,
    NoEmailProtection,
    AddressMissing {
        mailbox: String,
        addresses: Vec<String>,
    },
    NotRsa,
    KeyTooSmall {
        bits: usize,
    },
    Untrusted {
        issuer: String,
    },
    BadSignature {
        subject: String,
    },
    IssuerNotValid {
        subject: String,
    },
    IssuerNotCa {
        subject: String,
    },
    UnsupportedSignature {
        algorithm: String,
    },
    Unreadable {
        detail: String,
    },
}

impl Problem {
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotYetValid { .. } => "certificate_not_yet_valid",
            Problem::Expired { .. } => "certificate_expired",
            Problem::NoKeyEncipherment => "certificate_no_key_encipherment",
            Problem::NoDigitalSignature => "certificate_no_digital_signature",
            Problem::NoEmailProtection => "certificate_no_email_protection",
            Problem::AddressMissing { .. } => "certificate_address_missing",
            Problem::NotRsa => "certificate_not_rsa",
            Problem::KeyTooSmall { .. } => "certificate_key_too_small",
            Problem::Untrusted { .. } => "certificate_untrusted",
            Problem::BadSignature { .. } => "certificate_bad_signature",
            Problem::IssuerNotValid { .. } => "certificate_issuer_not_valid",
            Problem::IssuerNotCa { .. } => "certificate_issuer_not_ca",
            Problem::UnsupportedSignature { .. } => "certificate_unsupported_signature",
            Problem::Unreadable { .. } => "certificate_unreadable",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotYetValid { not_before } => {
                write!(
                    f,
                    "the certificate is valid only from {}",
                    format_time(*not_before)
                )
            }
            Problem::Expired { not_after } => {
                write!(f, "the certificate expired on {}", format_time(*not_after))
            }
            Problem::NoKeyEncipherment => {
                write!(
                    f,
                    "the certificate is not meant for encryption (no keyEncipherment key usage)"
                )
            }
            Problem::NoDigitalSignature => write!(
                f,
                "the certificate is not meant for signing (no digitalSignature key usage)"
            ),
            Problem::NoEmailProtection => write!(
                f,
                "the certificate is not meant for e-mail (its extended key usage lacks emailProtection)"
            ),
            Problem::AddressMissing { mailbox, addresses } => write!(
                f,
                "the certificate is issued for {} but not for {mailbox}",
                if addresses.is_empty() {
                    "no e-mail address".to_owned()
                } else {
                    addresses.join(", ")
                }
            ),
            Problem::NotRsa => write!(f, "the certificate does not hold an RSA key"),
            Problem::KeyTooSmall { bits } => {
                write!(
                    f,
                    "the certificate's RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed"
                )
            }
            Problem::Untrusted { issuer } => {
                write!(
                    f,
                    "the certificate's issuer {issuer} does not lead to a trusted root"
                )
            }
            Problem::BadSignature { subject } => {
                write!(
                    f,
                    "the signature on the certificate of {subject} does not verify"
                )
            }
            Problem::IssuerNotValid { subject } => {
                write!(f, "the issuing certificate {subject} is not valid now")
            }
            Problem::IssuerNotCa { subject } => {
                write!(
                    f,
                    "the issuing certificate {subject} is not a certificate authority"
                )
            }
            Problem::UnsupportedSignature { algorithm } => {
                write!(f, "the signature algorithm {algorithm} is not supported")
            }
            Problem::Unreadable { detail } => write!(f, "the certificate cannot be read: {detail}"),
        }
    }
}

/// The outcome of a check: fit for use when there are no problems.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub problems: Vec<Problem>,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.is_empty() {
            return write!(f, "the certificate can be used");
        }
        let reasons: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        write!(f, "{}", reasons.join("; "))
    }
}

/// Checks `certificate` as an encryption certificate for `context.mailbox`.
pub fn check_encryption_certificate(certificate: &Certificate, context: &CheckContext) -> Verdict {
    check(certificate, context, Usage::Encryption)
}

/// Checks `certificate` as the signing certificate of mail from `context.mailbox` (an
/// authority's signed answer): as for encryption, but for digitalSignature (or
/// nonRepudiation, which some CAs issue alone for signing) instead of keyEncipherment.
pub fn check_signing_certificate(certificate: &Certificate, context: &CheckContext) -> Verdict {
    check(certificate, context, Usage::Signing)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Usage {
    Encryption,
    Signing,
}

fn check(certificate: &Certificate, context: &CheckContext, usage: Usage) -> Verdict {
    let mut problems = Vec::new();
    let tbs = &certificate.tbs_certificate;

    if context.now < not_before(certificate) {
        problems.push(Problem::NotYetValid {
            not_before: not_before(certificate),
        });
    }
    if context.now > not_after(certificate) {
        problems.push(Problem::Expired {
            not_after: not_after(certificate),
        });
    }
    match (tbs.get::<KeyUsage>(), usage) {
        (Ok(Some((_, key))), Usage::Encryption) if key.key_encipherment() => {}
        (Ok(_), Usage::Encryption) => problems.push(Problem::NoKeyEncipherment),
        (Ok(Some((_, key))), Usage::Signing)
            if key.digital_signature() || key.non_repudiation() => {}
        (Ok(None), Usage::Signing) => {}
        (Ok(Some(_)), Usage::Signing) => problems.push(Problem::NoDigitalSignature),
        (Err(e), _) => problems.push(Problem::Unreadable {
            detail: e.to_string(),
        }),
    }
    match tbs.get::<ExtendedKeyUsage>() {
        Ok(Some((_, eku)))
            if !eku.0.iter().any(|oid| {
                *oid == rfc5280::ID_KP_EMAIL_PROTECTION || *oid == rfc5280::ANY_EXTENDED_KEY_USAGE
            }) =>
        {
            problems.push(Problem::NoEmailProtection)
        }
        Ok(_) => {}
        Err(e) => problems.push(Problem::Unreadable {
            detail: e.to_string(),
        }),
    }
    let addresses = mail_addresses(certificate);
    if !addresses
        .iter()
        .any(|a| a.eq_ignore_ascii_case(context.mailbox))
    {
        problems.push(Problem::AddressMissing {
            mailbox: context.mailbox.to_owned(),
            addresses,
        });
    }
    match rsa::RsaPublicKey::try_from(tbs.subject_public_key_info.owned_to_ref()) {
        Ok(key) if key.n().bits() < MIN_RSA_BITS => problems.push(Problem::KeyTooSmall {
            bits: key.n().bits(),
        }),
        Ok(_) => {}
        Err(_) => problems.push(Problem::NotRsa),
    }
    if let Err(problem) = verify_chain(certificate, context) {
        problems.push(problem);
    }
    Verdict { problems }
}

/// A distinguished name as RFC 4514 writes it (`CN=…,O=…,C=DE`), like x509-cert's `Display`
/// but with a table of the usual attributes instead of const-oid's whole database, which
/// would weigh on the browser's download.
pub fn name_text(name: &x509_cert::name::Name) -> String {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    use der::{Tag, Tagged};
    const LABELS: [(&str, &str); 14] = [
        ("2.5.4.3", "CN"),
        ("2.5.4.4", "SN"),
        ("2.5.4.5", "SERIALNUMBER"),
        ("2.5.4.6", "C"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.12", "TITLE"),
        ("2.5.4.42", "GIVENNAME"),
        ("1.2.840.113549.1.9.1", "EMAIL"),
        ("0.9.2342.19200300.100.1.1", "UID"),
        ("0.9.2342.19200300.100.1.25", "DC"),
    ];
    let mut out = String::new();
    for rdn in name.0.iter().rev() {
        for (i, atv) in rdn.0.iter().enumerate() {
            out.push(if i > 0 { '+' } else { ',' });
            let value = &atv.value;
            let text = match value.tag() {
                Tag::PrintableString => {
                    PrintableStringRef::try_from(value).ok().map(|s| s.as_str())
                }
                Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
                _ => None,
            };
            let oid = atv.oid.to_string();
            let label = LABELS.iter().find(|(o, _)| *o == oid).map(|(_, l)| *l);
            match (label, text) {
                (Some(label), Some(text)) => {
                    out.push_str(label);
                    out.push('=');
                    let last = text.chars().count().saturating_sub(1);
                    for (i, c) in text.chars().enumerate() {
                        match c {
                            '#' if i == 0 => out.push_str("\\#"),
                            ' ' if i == 0 || i == last => out.push_str("\\ "),
                            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                                out.push('\\');
                                out.push(c);
                            }
                            '\x00'..='\x1f' | '\x7f' => out.push_str(&format!("\\{:02x}", c as u8)),
                            _ => out.push(c),
                        }
                    }
                }
                _ => {
                    out.push_str(&oid);
                    out.push_str("=#");
                    for byte in value.to_der().unwrap_or_default() {
                        out.push_str(&format!("{byte:02x}"));
                    }
                }
            }
        }
    }
    out.strip_prefix(',').map(str::to_owned).unwrap_or(out)
}

/// Walks from `leaf` through the intermediates to an anchor, verifying each signature and
/// that each issuer is a valid CA now.
fn verify_chain(leaf: &Certificate, context: &CheckContext) -> Result<(), Problem> {
    let mut current = leaf;
    for _ in 0..=MAX_INTERMEDIATES {
        let issuer_name = &current.tbs_certificate.issuer;
        if let Some(anchor) = context
            .anchors
            .iter()
            .find(|a| &a.tbs_certificate.subject == issuer_name)
        {
            return verify_signature(current, anchor, context.verified_elsewhere);
        }
        let Some(issuer) = context
            .intermediates
            .iter()
            .find(|c| &c.tbs_certificate.subject == issuer_name && !std::ptr::eq(*c, current))
        else {
            return Err(Problem::Untrusted {
                issuer: name_text(issuer_name),
            });
        };
        verify_signature(current, issuer, context.verified_elsewhere)?;
        let subject = name_text(&issuer.tbs_certificate.subject);
        if context.now < not_before(issuer) || context.now > not_after(issuer) {
            return Err(Problem::IssuerNotValid { subject });
        }
        match issuer.tbs_certificate.get::<BasicConstraints>() {
            Ok(Some((_, constraints))) if constraints.ca => {}
            _ => return Err(Problem::IssuerNotCa { subject }),
        }
        current = issuer;
    }
    Err(Problem::Untrusted {
        issuer: name_text(&current.tbs_certificate.issuer),
    })
}

/// Verifies `certificate`'s signature with `issuer`'s key.
fn verify_signature(
    certificate: &Certificate,
    issuer: &Certificate,
    verified_elsewhere: &[VerifiedSignature],
) -> Result<(), Problem> {
    let tbs = certificate
        .tbs_certificate
        .to_der()
        .map_err(|e| Problem::Unreadable {
            detail: e.to_string(),
        })?;
    verify_signed(
        &tbs,
        certificate.signature_algorithm.oid,
        certificate.signature.raw_bytes(),
        issuer,
        verified_elsewhere,
    )
    .map_err(|unsupported| match unsupported {
        Some(algorithm) => Problem::UnsupportedSignature { algorithm },
        None => Problem::BadSignature {
            subject: name_text(&certificate.tbs_certificate.subject),
        },
    })
}

/// Verifies a signature made by `issuer` over `signed` (a certificate's or a CRL's TBS part):
/// RSA PKCS#1 v1.5 with SHA-256/384/512, ECDSA on P-256 or P-384 with SHA-256/384.
/// Fails with `Some(algorithm)` for an unsupported algorithm, `None` for a bad signature.
/// A signature the caller verified (`verified_elsewhere`) holds; any other is verified here,
/// ECDSA only with the `rust-ecdsa` feature, RSA with SHA-384/512 only with `rust-rsa-sha384`.
pub(crate) fn verify_signed(
    signed: &[u8],
    algorithm: ObjectIdentifier,
    signature: &[u8],
    issuer: &Certificate,
    verified_elsewhere: &[VerifiedSignature],
) -> Result<(), Option<String>> {
    use rsa::signature::Verifier;

    let spki = || {
        issuer
            .tbs_certificate
            .subject_public_key_info
            .owned_to_ref()
    };
    if !verified_elsewhere.is_empty()
        && VerifiedSignature::of(signed, issuer).is_some_and(|v| verified_elsewhere.contains(&v))
    {
        return Ok(());
    }
    let rsa_key = || rsa::RsaPublicKey::try_from(spki()).map_err(|_| None);
    let rsa_signature = || rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| None);
    let result = match algorithm {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(rsa_key()?).verify(signed, &rsa_signature()?)
        }
        #[cfg(feature = "rust-rsa-sha384")]
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            rsa::pkcs1v15::VerifyingKey::<Sha384>::new(rsa_key()?).verify(signed, &rsa_signature()?)
        }
        #[cfg(feature = "rust-rsa-sha384")]
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            rsa::pkcs1v15::VerifyingKey::<Sha512>::new(rsa_key()?).verify(signed, &rsa_signature()?)
        }
        #[cfg(not(feature = "rust-rsa-sha384"))]
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            return Err(None);
        }
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 => {
            #[cfg(feature = "rust-ecdsa")]
            {
                verify_ecdsa(signed, algorithm, signature, spki())?
            }
            #[cfg(not(feature = "rust-ecdsa"))]
            return Err(None);
        }
        other => return Err(Some(other.to_string())),
    };
    result.map_err(|_| None)
}

#[cfg(feature = "rust-ecdsa")]
fn verify_ecdsa(
    signed: &[u8],
    algorithm: ObjectIdentifier,
    signature: &[u8],
    spki: spki::SubjectPublicKeyInfoRef<'_>,
) -> Result<Result<(), rsa::signature::Error>, Option<String>> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let digest = if algorithm == rfc5912::ECDSA_WITH_SHA_256 {
        Sha256::digest(signed).to_vec()
    } else {
        Sha384::digest(signed).to_vec()
    };
    if let Ok(key) = p256::ecdsa::VerifyingKey::try_from(spki.clone()) {
        let signature = p256::ecdsa::Signature::from_der(signature).map_err(|_| None)?;
        Ok(key.verify_prehash(&digest, &signature))
    } else if let Ok(key) = p384::ecdsa::VerifyingKey::try_from(spki) {
        let signature = p384::ecdsa::Signature::from_der(signature).map_err(|_| None)?;
        Ok(key.verify_prehash(&digest, &signature))
    } else {
        Err(Some(algorithm.to_string()))
    }
}

/// `YYYY-MM-DD HH:MM UTC`, for messages to operators.
pub fn format_time(unix_seconds: u64) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix_seconds)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minutes()
        ),
        Err(_) => format!("{unix_seconds} (Unix time)"),
    }
}

/// The byte length of a certificate's RSA modulus (and so of its signatures and of the
/// keys encrypted to it); none for another kind of key.
pub fn rsa_modulus_len(certificate: &Certificate) -> Option<usize> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .owned_to_ref();
    rsa::RsaPublicKey::try_from(spki).ok().map(|key| key.size())
}
