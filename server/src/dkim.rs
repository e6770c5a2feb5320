//! DKIM signatures (RFC 6376, rsa-sha256, relaxed header and simple body canonicalization)
//! for the mails the relay writes, when a key is configured.
//!
//! Written here rather than taken from `mail-auth`: that crate verifies too and brings a
//! DNS resolver and archive formats along; signing our own fixed, ASCII-only header is the
//! small part of RFC 6376 that §3.4 and §3.7 describe, and the tests check every signature
//! with an independent verifier (Python's dkimpy).

use std::path::PathBuf;

use base64::Engine;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signature::{SignatureEncoding, Signer};

/// Which key signs, for which domain, under which selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    /// `d=`: the domain of the From address (or a parent of it, for DMARC alignment).
    pub domain: String,
    /// `s=`: the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// An RSA private key (PEM, PKCS#8 or PKCS#1), 2048 bits or more.
    pub private_key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("reading the DKIM key {path}: {detail}")]
    Key { path: String, detail: String },
}

/// The headers signed, in this order, when present.
const SIGNED: [&str; 10] = [
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

pub struct Dkim {
    domain: String,
    selector: String,
    key: SigningKey<Sha256>,
}

impl Dkim {
    pub fn load(config: &DkimConfig) -> Result<Dkim, DkimError> {
        let error = |detail: String| DkimError::Key {
            path: config.private_key.display().to_string(),
            detail,
        };
        let pem = std::fs::read_to_string(&config.private_key).map_err(|e| error(e.to_string()))?;
        let key = RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|e| error(e.to_string()))?;
        Ok(Dkim::new(&config.domain, &config.selector, key))
    }

    pub fn new(domain: &str, selector: &str, key: RsaPrivateKey) -> Dkim {
        Dkim {
            domain: domain.to_owned(),
            selector: selector.to_owned(),
            key: SigningKey::<Sha256>::new(key),
        }
    }

    /// The longest signature line this key makes for mails from `from`: every signed
    /// header present (Reply-To too), a ten-digit time.
    pub fn header_len_bound(&self, from: &str) -> u64 {
        let header = crate::mail::longest_header(from, "x@y.example", true, true);
        self.signature_header(&header, &[0; 32], 9_999_999_999)
            .len() as u64
    }

    /// The `DKIM-Signature:` line (with CRLF) for a mail with `header` (the header block,
    /// ending with the empty line) and a body whose SHA-256 is `body_hash`.
    pub fn signature_header(&self, header: &[u8], body_hash: &[u8], now: u64) -> Vec<u8> {
        let text = String::from_utf8_lossy(header);
        let fields = fields(&text);
        let signed: Vec<&(String, String)> = SIGNED
            .iter()
            .filter_map(|name| fields.iter().find(|(n, _)| n == name))
            .collect();
        let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
        let value = format!(
            "v=1; a=rsa-sha256; c=relaxed/simple; d={}; s={}; t={now}; h={}; bh={}; b=",
            self.domain,
            self.selector,
            names.join(":"),
            base64::engine::general_purpose::STANDARD.encode(body_hash)
        );
        let mut data = String::new();
        for (name, field_value) in &signed {
            data.push_str(&format!("{name}:{}\r\n", relaxed(field_value)));
        }
        data.push_str(&format!("dkim-signature:{}", relaxed(&value)));
        let signature = self.key.sign(data.as_bytes()).to_vec();
        format!(
            "DKIM-Signature: {value}{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(signature)
        )
        .into_bytes()
    }
}

/// The header fields as (lower-case name, unfolded value).
fn fields(header: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in header.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.to_owned()));
        }
    }
    fields
}

/// Relaxed canonicalization of a value: runs of white space as one space, none at the ends.
fn relaxed(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Simple body canonicalization ends a body in exactly one CRLF; the relay's bodies do (base64
/// lines, each ending in CRLF, no empty lines after), so the hash is over the body as written.
pub struct BodyHash(Sha256);

impl BodyHash {
    pub fn new() -> BodyHash {
        BodyHash(Sha256::new())
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl Default for BodyHash {
    fn default() -> Self {
        BodyHash::new()
    }
}

impl std::io::Write for BodyHash {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
