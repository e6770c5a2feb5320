//! Content encryption through the browser's own AES (WebCrypto's SubtleCrypto), for the
//! browser build: wasm has no AES instructions, and AES in wasm runs at a tenth of the
//! browser's speed. RSA key transport stays in Rust (WebCrypto has no PKCS#1 v1.5
//! encryption). The output is byte for byte what [`crate::envelope::SoftwareCipher`] makes.
//!
//! - CBC in pieces: each piece is one WebCrypto call with the previous piece's last
//!   ciphertext block as its IV; the padding block WebCrypto appends to a non-final piece is
//!   dropped. The pieces' ciphertexts, in order, are one call's ciphertext.
//! - GCM in pieces: WebCrypto's AES-GCM only seals whole messages, so the keystream comes
//!   from AES-CTR (32-bit counter, as GCM counts) and GHASH runs in Rust over the ciphertext.

use ghash::universal_hash::{KeyInit, UniversalHash};
use js_sys::{Array, ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesCbcParams, AesCtrParams, Crypto, CryptoKey, SubtleCrypto};

use crate::envelope::{ContentCipher, ContentEncryption, ContentKey, GCM_TAG_LEN, ciphertext_len};

#[derive(Debug, thiserror::Error)]
pub enum WebCryptoError {
    /// No `crypto.subtle`: not a secure context (https or localhost), or an old browser.
    #[error("WebCrypto is not available here (a secure context is needed)")]
    Unavailable,
    #[error("WebCrypto failed: {0}")]
    Failed(String),
    #[error("a piece of content that is not whole AES blocks, or encryption already finished")]
    Piece,
}

fn failed(error: JsValue) -> WebCryptoError {
    WebCryptoError::Failed(
        error
            .as_string()
            .or_else(|| {
                js_sys::Reflect::get(&error, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
            })
            .unwrap_or_else(|| format!("{error:?}")),
    )
}

/// `crypto.subtle` of the window or worker this runs in.
pub fn subtle() -> Result<SubtleCrypto, WebCryptoError> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(|_| WebCryptoError::Unavailable)?;
    if crypto.is_undefined() {
        return Err(WebCryptoError::Unavailable);
    }
    let subtle = crypto.unchecked_into::<Crypto>().subtle();
    if JsValue::from(subtle.clone()).is_undefined() {
        return Err(WebCryptoError::Unavailable);
    }
    Ok(subtle)
}

enum Mode {
    Cbc {
        iv: [u8; 16],
    },
    Gcm {
        nonce: [u8; 12],
        /// The counter of the next keystream block (inc32(J0) = 2 for the first).
        counter: u32,
        ghash: ghash::GHash,
        tag_mask: [u8; 16],
        len: u64,
    },
    Finished,
}

pub struct WebCryptoCipher {
    subtle: SubtleCrypto,
    key: CryptoKey,
    mode: Mode,
}

impl WebCryptoCipher {
    /// Imports the content key into WebCrypto (not extractable, encrypt only).
    pub async fn new(content_key: &ContentKey) -> Result<WebCryptoCipher, WebCryptoError> {
        let subtle = subtle()?;
        let algorithm = match content_key.encryption {
            ContentEncryption::Aes256Cbc => "AES-CBC",
            ContentEncryption::Aes256Gcm => "AES-CTR",
        };
        let raw = Uint8Array::from(&content_key.key[..]);
        let usages = Array::of1(&JsValue::from_str("encrypt"));
        let promise = subtle
            .import_key_with_str("raw", &raw, algorithm, false, &usages)
            .map_err(failed)?;
        // The JS copy of the key bytes is garbage now; nothing references it.
        raw.fill(0, 0, raw.length());
        let key: CryptoKey = JsFuture::from(promise)
            .await
            .map_err(failed)?
            .unchecked_into();
        let mut cipher = WebCryptoCipher {
            subtle,
            key,
            mode: Mode::Finished,
        };
        cipher.mode = match content_key.encryption {
            ContentEncryption::Aes256Cbc => Mode::Cbc { iv: content_key.iv },
            ContentEncryption::Aes256Gcm => {
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(content_key.gcm_nonce());
                // H = AES_K(0^128) and AES_K(J0), as CTR keystream blocks over zeros.
                let mut h = [0u8; 16];
                cipher.ctr_block_zero(&[0; 16], &mut h).await?;
                let mut tag_mask = [0u8; 16];
                cipher
                    .ctr_block_zero(&counter_block(&nonce, 1), &mut tag_mask)
                    .await?;
                Mode::Gcm {
                    nonce,
                    counter: 2,
                    ghash: ghash::GHash::new(&h.into()),
                    tag_mask,
                    len: 0,
                }
            }
        };
        Ok(cipher)
    }

    async fn ctr_block_zero(
        &self,
        counter: &[u8; 16],
        out: &mut [u8; 16],
    ) -> Result<(), WebCryptoError> {
        self.ctr(counter, &[0; 16], out).await
    }

    async fn ctr(&self, counter: &[u8; 16], data: &[u8], out: &mut [u8]) -> Result<(), WebCryptoError> {
        let params = AesCtrParams::new("AES-CTR", &Uint8Array::from(&counter[..]), 32);
        let result = self.call(&params, data).await?;
        copy(&result, out)
    }

    async fn cbc(&self, iv: &[u8; 16], data: &[u8]) -> Result<ArrayBuffer, WebCryptoError> {
        let params = AesCbcParams::new("AES-CBC", &Uint8Array::from(&iv[..]));
        self.call(&params, data).await
    }

    /// One `subtle.encrypt`. `data` is handed over as a view on wasm memory, which
    /// WebCrypto copies when called, before anything here can move that memory.
    async fn call(&self, params: &js_sys::Object, data: &[u8]) -> Result<ArrayBuffer, WebCryptoError> {
        let promise = self
            .subtle
            .encrypt_with_object_and_u8_array(params, &self.key, data)
            .map_err(failed)?;
        Ok(JsFuture::from(promise)
            .await
            .map_err(failed)?
            .unchecked_into())
    }
}

fn counter_block(nonce: &[u8; 12], counter: u32) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[..12].copy_from_slice(nonce);
    block[12..].copy_from_slice(&counter.to_be_bytes());
    block
}

/// Copies the first `out.len()` bytes of `buffer` into `out`.
fn copy(buffer: &ArrayBuffer, out: &mut [u8]) -> Result<(), WebCryptoError> {
    let view = Uint8Array::new(buffer);
    if (view.length() as usize) < out.len() {
        return Err(WebCryptoError::Failed("WebCrypto returned too few bytes".into()));
    }
    view.subarray(0, out.len() as u32).copy_to(out);
    Ok(())
}

impl ContentCipher for WebCryptoCipher {
    type Error = WebCryptoError;

    async fn update(&mut self, piece: &[u8], out: &mut [u8]) -> Result<(), WebCryptoError> {
        if !piece.len().is_multiple_of(16) || out.len() != piece.len() {
            return Err(WebCryptoError::Piece);
        }
        if piece.is_empty() {
            return Ok(());
        }
        match &self.mode {
            Mode::Cbc { iv } => {
                // WebCrypto pads every call: drop the padding block it appends.
                let result = self.cbc(iv, piece).await?;
                copy(&result, out)?;
                let mut next = [0u8; 16];
                next.copy_from_slice(&out[out.len() - 16..]);
                self.mode = Mode::Cbc { iv: next };
            }
            Mode::Gcm { nonce, counter, .. } => {
                let block = counter_block(nonce, *counter);
                self.ctr(&block, piece, out).await?;
                if let Mode::Gcm {
                    counter, ghash, len, ..
                } = &mut self.mode
                {
                    ghash.update_padded(out);
                    *counter = counter.wrapping_add((piece.len() / 16) as u32);
                    *len += piece.len() as u64;
                }
            }
            Mode::Finished => return Err(WebCryptoError::Piece),
        }
        Ok(())
    }

    async fn finish(
        &mut self,
        last: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, WebCryptoError> {
        match std::mem::replace(&mut self.mode, Mode::Finished) {
            Mode::Cbc { iv } => {
                if out.len() as u64 != ciphertext_len(ContentEncryption::Aes256Cbc, last.len() as u64)
                {
                    return Err(WebCryptoError::Piece);
                }
                let result = self.cbc(&iv, last).await?;
                copy(&result, out)?;
                Ok(None)
            }
            Mode::Gcm {
                nonce,
                counter,
                mut ghash,
                tag_mask,
                len,
            } => {
                if out.len() != last.len() {
                    return Err(WebCryptoError::Piece);
                }
                if !last.is_empty() {
                    self.ctr(&counter_block(&nonce, counter), last, out).await?;
                }
                ghash.update_padded(out);
                let bits = (len + out.len() as u64) * 8;
                let mut lengths = [0u8; 16];
                lengths[8..].copy_from_slice(&bits.to_be_bytes());
                ghash.update(&[lengths.into()]);
                let mut tag: [u8; 16] = ghash.finalize().into();
                tag.iter_mut().zip(tag_mask).for_each(|(t, m)| *t ^= m);
                Ok(Some(tag))
            }
            Mode::Finished => Err(WebCryptoError::Piece),
        }
    }
}
