//! The server's secret: the key of every HMAC the relay stores or hands out (verification
//! codes, addresses in rate limits, verification tokens). Made on first start, kept in the
//! data folder, readable by the server's user only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// Reads `<data_dir>/secret`, creating it (mode 0600) if it is not there.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Secret> {
        let path = data_dir.join("secret");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0; 32];
                key.copy_from_slice(&bytes);
                Ok(Secret(key))
            }
            Ok(_) => Err(std::io::Error::other(format!(
                "{} is not a 32-byte secret",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0; 32];
                OsRng.fill_bytes(&mut key);
                std::fs::create_dir_all(data_dir)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                file.write_all(&key)?;
                file.sync_all()?;
                Ok(Secret(key))
            }
            Err(e) => Err(e),
        }
    }

    /// A fixed secret, for tests.
    pub fn from_bytes(key: [u8; 32]) -> Secret {
        Secret(key)
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length works");
        // The purpose keeps MACs for one use from being valid for another.
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac
    }

    /// The MAC of `data` for `purpose`, base64url.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(purpose, data).finalize().into_bytes())
    }

    /// Whether `signature` is `sign(purpose, data)`, compared in constant time.
    pub fn verify(&self, purpose: &str, data: &[u8], signature: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.mac(purpose, data).verify_slice(&bytes).is_ok()
    }
}
