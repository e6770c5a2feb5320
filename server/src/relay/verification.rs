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

/// A plausible address: one `@`, no spaces or control characters, at most 254 bytes, and
/// what lettre accepts as an SMTP address.
pub fn normalise_address(address: &str) -> Result<String, VerifyError> {
    let address = address.trim();
    let valid = address.len() <= MAX_ADDRESS_LEN
        && address
            .bytes()
            .all(|b| b > b' ' && b != 0x7f && b != b'<' && b != b'>')
        && address.matches('@').count() == 1
        && address.parse::<lettre::Address>().is_ok();
    if !valid {
        return Err(VerifyError::AddressInvalid);
    }
    // The domain is case-insensitive; the local part, strictly, is not.
    let (local, domain) = address.split_once('@').expect("one @ checked");
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

impl Verifier {
    fn address_key(&self, address: &str) -> String {
        self.secret
            .sign("address", address.to_lowercase().as_bytes())
    }

    /// Sends a new code to `address` for the form `form` (queued in the outbox, which the
    /// worker sends at once). The mail holds the code and the address, nothing else typed,
    /// and does not name the form: a shared mailbox should not reveal whom the citizen
    /// writes to.
    pub async fn request_code(
        &self,
        address: &str,
        form: &str,
        now: u64,
    ) -> Result<(), VerifyError> {
        let address = normalise_address(address)?;
        let key = self.address_key(&address);
        if self
            .store
            .codes_sent_since(&key, now.saturating_sub(3600))
            .await?
            >= CODES_PER_HOUR
        {
            return Err(VerifyError::TooManyCodes { retry_after: 3600 });
        }
        if self
            .store
            .codes_sent_since(&key, now.saturating_sub(86_400))
            .await?
            >= CODES_PER_DAY
        {
            return Err(VerifyError::TooManyCodes {
                retry_after: 86_400,
            });
        }
        let code = format!("{:06}", uniform_below(1_000_000));
        let id = random_id();
        let stored = StoredCode {
            code_hmac: self.secret.sign("code", format!("{id}:{code}").as_bytes()),
            id,
            expires_at: now + CODE_VALID_SECONDS,
            attempts: 0,
        };
        let mail = notices::verification_code(&stored.id, &address, &code);
        self.store
            .insert_code(&stored, &key, form, &mail, now)
            .await?;
        Ok(())
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
        let code = code.trim();
        let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        if !well_formed
            || !self.secret.verify(
                "code",
                format!("{}:{code}", stored.id).as_bytes(),
                &stored.code_hmac,
            )
        {
            let attempts = self.store.count_code_attempt(&stored.id).await?;
            if attempts >= MAX_ATTEMPTS {
                return Err(VerifyError::AttemptsExhausted);
            }
            return Err(VerifyError::CodeWrong {
                attempts_left: MAX_ATTEMPTS - attempts,
            });
        }
        self.store.spend_code(&stored.id).await?;
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
        (verified.form == form && now <= verified.expires_at).then_some(verified)
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
        for bad in [
            "",
            "erika",
            "erika@",
            "@example.de",
            "a@b@example.de",
            "erika muster@example.de",
            "erika@example.de>\r\nBcc: x@y.de",
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
