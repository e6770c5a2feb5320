//! Verifying the citizen's e-mail address, as the Bavarian contact form does: a six-digit
//! code by mail, valid 10 minutes, 5 attempts; then a token bound to the address and the
//! form, sent back in a request header (not a cookie, so that embedded forms work).
//!
//! Nothing readable is stored: the code and the address only as HMACs under the server's
//! secret. The token carries the address itself (the relay needs it for Reply-To and the
//! receipt), signed, so the server keeps no session.

use base64::Engine;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use wire::ErrorCode;

use super::secret::Secret;
use crate::mail::MAX_ADDRESS_LEN;
use crate::notices;
use crate::store::submissions::StoredCode;
use crate::store::{Store, StoreError};

pub const CODE_VALID_SECONDS: u64 = 600;
pub const MAX_ATTEMPTS: u32 = 5;
pub const CODES_PER_HOUR: u32 = 3;
pub const CODES_PER_DAY: u32 = 10;
/// How long a token lasts without "remember me": long enough to write a long message.
pub const TOKEN_SECONDS: u64 = 4 * 3600;
/// With "remember my address" ticked.
pub const REMEMBER_SECONDS: u64 = 30 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not an e-mail address")]
    AddressInvalid,
    #[error("too many codes for this address")]
    TooManyCodes { retry_after: u64 },
    #[error("no code was requested, or it has expired")]
    CodeExpired,
    #[error("the code is wrong")]
    CodeWrong { attempts_left: u32 },
    #[error("too many wrong attempts")]
    AttemptsExhausted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VerifyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::AddressInvalid => ErrorCode::EmailInvalid,
            VerifyError::TooManyCodes { .. } => ErrorCode::TooManyCodes,
            VerifyError::CodeExpired => ErrorCode::CodeExpired,
            VerifyError::CodeWrong { .. } => ErrorCode::CodeWrong,
            VerifyError::AttemptsExhausted => ErrorCode::CodeAttemptsExhausted,
            VerifyError::Store(_) => ErrorCode::InternalError,
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    #[serde(rename = "a")]
    pub address: String,
    #[serde(rename = "f")]
    pub form: String,
    #[serde(rename = "e")]
    pub expires_at: u64,
}

#[derive(Clone)]
pub struct Verifier {
    pub secret: Secret,
    pub store: Store,
}

/// An address the relay can mail with any SMTP server: a local part of plain ASCII
/// (RFC 5322 dot-atom, no quoted strings, which many servers refuse, and no UTF-8, which
/// needs SMTPUTF8 all the way), and a domain name of letters, digits and hyphens, at least
/// two labels, no address literals. A domain with umlauts (`bücher.example`) is written in
/// its ASCII form (`xn--bcher-kva.example`), as every mail server understands it.
pub fn normalise_address(address: &str) -> Result<String, VerifyError> {
    let invalid = || VerifyError::AddressInvalid;
    let (local, domain) = address.trim().rsplit_once('@').ok_or_else(invalid)?;
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(atext));
    if !local_ok {
        return Err(invalid());
    }
    let domain = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(invalid());
    }
    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS_LEN || address.parse::<lettre::Address>().is_err() {
        return Err(invalid());
    }
    Ok(address)
}

impl Verifier {
    fn address_key(&self, address: &str) -> String {
        self.secret
            .sign("address", address.to_lowercase().as_bytes())
    }

    /// Sends a new code to `address` for the form `form` (queued in the outbox, which the
    /// worker sends at once). The mail holds the code and the address, nothing else typed,
    /// and does not name the form: a shared mailbox should not reveal whom the citizen
    /// writes to. Answers the code's record id, by which the form asks whether its mail
    /// bounced.
    pub async fn request_code(
        &self,
        address: &str,
        form: &str,
        now: u64,
    ) -> Result<String, VerifyError> {
        let address = normalise_address(address)?;
        let key = self.address_key(&address);
        let code = format!("{:06}", uniform_below(1_000_000));
        let id = random_id();
        let stored = StoredCode {
            code_hmac: self.secret.sign("code", format!("{id}:{code}").as_bytes()),
            id,
            expires_at: now + CODE_VALID_SECONDS,
            attempts: 0,
        };
        let mail = notices::verification_code(&stored.id, &address, &code);
        let limits = [
            (CODES_PER_HOUR, now.saturating_sub(3600)),
            (CODES_PER_DAY, now.saturating_sub(86_400)),
        ];
        match self
            .store
            .insert_code_within(&stored, &key, form, &mail, now, &limits)
            .await?
        {
            Ok(()) => Ok(stored.id),
            Err(0) => Err(VerifyError::TooManyCodes { retry_after: 3600 }),
            Err(_) => Err(VerifyError::TooManyCodes {
                retry_after: 86_400,
            }),
        }
    }

    /// Checks `code`; on success returns a token for `address` and `form`.
    pub async fn confirm(
        &self,
        address: &str,
        form: &str,
        code: &str,
        remember: bool,
        now: u64,
    ) -> Result<(String, Verified), VerifyError> {
        let address = normalise_address(address)?;
        let key = self.address_key(&address);
        let Some(stored) = self.store.latest_code(&key, form).await? else {
            return Err(VerifyError::CodeExpired);
        };
        if stored.attempts >= MAX_ATTEMPTS {
            return Err(VerifyError::AttemptsExhausted);
        }
        if now > stored.expires_at {
            return Err(VerifyError::CodeExpired);
        }
        // The attempt is taken before the comparison: simultaneous guesses each need one.
        let Some(attempts) = self
            .store
            .take_code_attempt(&stored.id, MAX_ATTEMPTS)
            .await?
        else {
            return Err(VerifyError::AttemptsExhausted);
        };
        let code = code.trim();
        let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        let right = well_formed
            && self.secret.verify(
                "code",
                format!("{}:{code}", stored.id).as_bytes(),
                &stored.code_hmac,
            );
        if !right {
            if attempts >= MAX_ATTEMPTS {
                return Err(VerifyError::AttemptsExhausted);
            }
            return Err(VerifyError::CodeWrong {
                attempts_left: MAX_ATTEMPTS - attempts,
            });
        }
        // Two right guesses at once: only one gets a token.
        if !self.store.spend_code(&stored.id, &stored.code_hmac).await? {
            return Err(VerifyError::CodeExpired);
        }
        let verified = Verified {
            address,
            form: form.to_owned(),
            expires_at: now
                + if remember {
                    REMEMBER_SECONDS
                } else {
                    TOKEN_SECONDS
                },
        };
        Ok((self.token(&verified), verified))
    }

    fn token(&self, verified: &Verified) -> String {
        let payload = serde_json::to_vec(verified).expect("a token serialises");
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let signature = self.secret.sign("token", encoded.as_bytes());
        format!("{encoded}.{signature}")
    }

    /// The verified address, if `token` is genuine, unexpired and made for `form`.
    pub fn check_token(&self, token: &str, form: &str, now: u64) -> Option<Verified> {
        let (encoded, signature) = token.trim().split_once('.')?;
        if !self.secret.verify("token", encoded.as_bytes(), signature) {
            return None;
        }
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()?;
        let verified: Verified = serde_json::from_slice(&payload).ok()?;
        // Checked again, not trusted for being signed: it goes into mail headers.
        let address_ok = normalise_address(&verified.address).is_ok_and(|a| a == verified.address);
        (address_ok && verified.form == form && now <= verified.expires_at).then_some(verified)
    }
}

/// A uniformly random number below `bound` (no modulo bias).
fn uniform_below(bound: u32) -> u32 {
    let zone = u32::MAX - u32::MAX % bound;
    loop {
        let n = OsRng.next_u32();
        if n < zone {
            return n % bound;
        }
    }
}

/// 128 random bits, base64url.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_their_domain_lowercased() {
        assert_eq!(
            normalise_address(" Erika.Muster@Example.DE ").unwrap(),
            "Erika.Muster@example.de"
        );
        assert_eq!(
            normalise_address("a@Bücher.Example").unwrap(),
            "a@xn--bcher-kva.example"
        );
        for bad in [
            "",
            "erika",
            "erika@",
            "@example.de",
            "a@b@example.de",
            "erika muster@example.de",
            "erika@example.de>\r\nBcc: x@y.de",
            // What SMTP servers refuse or cannot route, found by an attack on the portal.
            "\"a,b\"@x.example",
            "\"x\\\"y\"@x.example",
            "a@[127.0.0.1]",
            "üser@x.example",
            "a..b@x.example",
            ".a@x.example",
            "a@localhost",
            "a@x.123",
            "a@-x.example",
        ] {
            assert!(normalise_address(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.de", "a".repeat(250));
        assert!(normalise_address(&long).is_err());
    }

    #[test]
    fn codes_are_six_digits_spread_evenly() {
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            let code = format!("{:06}", uniform_below(1_000_000));
            assert_eq!(code.len(), 6);
            counts[(code.as_bytes()[0] - b'0') as usize] += 1;
        }
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }
}
