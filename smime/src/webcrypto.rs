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
use web_sys::{AesCbcParams, AesCtrParams, Blob, BlobPropertyBag, Crypto, CryptoKey, SubtleCrypto};

use crate::envelope::{
    Algorithms, ContentCipher, ContentEncryption, ContentKey, Envelope, EnvelopeError, GCM_TAG_LEN,
    Recipient, ciphertext_len,
};
use crate::mime::{Entity, Source};

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

/// A raw AES key in WebCrypto, not extractable, for `usages`.
async fn import_raw(
    subtle: &SubtleCrypto,
    key: &[u8],
    algorithm: &str,
    usages: &Array,
) -> Result<CryptoKey, WebCryptoError> {
    let raw = Uint8Array::from(key);
    let promise = subtle
        .import_key_with_str("raw", &raw, algorithm, false, usages)
        .map_err(failed)?;
    // The JS copy of the key bytes is garbage now; nothing references it.
    raw.fill(0, 0, raw.length());
    Ok(JsFuture::from(promise)
        .await
        .map_err(failed)?
        .unchecked_into())
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
        let usages = Array::of1(&JsValue::from_str("encrypt"));
        let key = import_raw(&subtle, &content_key.key[..], algorithm, &usages).await?;
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
        let params = AesCtrParams::new("AES-CTR", &Uint8Array::from(&counter[..]), 32);
        let result = self.call(&params, &Uint8Array::new_with_length(16)).await?;
        copy(&result, out)
    }

    /// One `subtle.encrypt`. WebCrypto copies `data` when called, so a view on wasm memory
    /// is safe to pass if it was made just before.
    async fn call(
        &self,
        params: &js_sys::Object,
        data: &Uint8Array,
    ) -> Result<ArrayBuffer, WebCryptoError> {
        let promise = self
            .subtle
            .encrypt_with_object_and_buffer_source(params, &self.key, data)
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
        return Err(WebCryptoError::Failed(
            "WebCrypto returned too few bytes".into(),
        ));
    }
    view.subarray(0, out.len() as u32).copy_to(out);
    Ok(())
}

/// A piece handed to WebCrypto, whose ciphertext is not yet taken.
struct Started {
    promise: Option<js_sys::Promise>,
    len: usize,
    last: bool,
}

impl WebCryptoCipher {
    /// Hands `data` to WebCrypto, which encrypts it on a thread of its own while this one
    /// goes on; [`Self::end`] takes its ciphertext. Non-final pieces must be whole blocks.
    /// WebCrypto copies `data` before this returns, so it may be a view on wasm memory.
    fn begin(&self, data: &Uint8Array, last: bool) -> Result<Started, WebCryptoError> {
        let len = data.length() as usize;
        if !last && !len.is_multiple_of(16) {
            return Err(WebCryptoError::Piece);
        }
        let params: js_sys::Object = match &self.mode {
            Mode::Cbc { iv } => AesCbcParams::new("AES-CBC", &Uint8Array::from(&iv[..])).into(),
            Mode::Gcm { .. } if len == 0 => {
                return Ok(Started {
                    promise: None,
                    len,
                    last,
                });
            }
            Mode::Gcm { nonce, counter, .. } => {
                let block = counter_block(nonce, *counter);
                AesCtrParams::new("AES-CTR", &Uint8Array::from(&block[..]), 32).into()
            }
            Mode::Finished => return Err(WebCryptoError::Piece),
        };
        let promise = self
            .subtle
            .encrypt_with_object_and_buffer_source(&params, &self.key, data)
            .map_err(failed)?;
        Ok(Started {
            promise: Some(promise),
            len,
            last,
        })
    }

    /// The ciphertext of a piece [`Self::begin`] started, as a view on WebCrypto's result
    /// (not copied into wasm memory); the next piece chains on from it.
    async fn end(&mut self, started: Started) -> Result<Uint8Array, WebCryptoError> {
        let Started { promise, len, last } = started;
        let result = match promise {
            Some(promise) => Uint8Array::new(&JsFuture::from(promise).await.map_err(failed)?),
            None => Uint8Array::new_with_length(0),
        };
        match &mut self.mode {
            Mode::Cbc { .. } if last => {
                self.mode = Mode::Finished;
                Ok(result)
            }
            Mode::Cbc { iv } => {
                // WebCrypto pads every call: drop the padding block it appended; the last
                // ciphertext block is the next piece's IV.
                let ciphertext = result.subarray(0, len as u32);
                if len > 0 {
                    ciphertext.subarray(len as u32 - 16, len as u32).copy_to(iv);
                }
                Ok(ciphertext)
            }
            Mode::Gcm {
                counter,
                ghash,
                len: total,
                ..
            } => {
                // GHASH runs over the ciphertext, in Rust: a copy of this piece only.
                let bytes = result.to_vec();
                ghash.update_padded(&bytes);
                *counter = counter.wrapping_add((bytes.len() / 16) as u32);
                *total += bytes.len() as u64;
                Ok(result)
            }
            Mode::Finished => Err(WebCryptoError::Piece),
        }
    }

    /// The GCM tag once the last piece is through (None for CBC).
    fn tag(&mut self) -> Option<[u8; GCM_TAG_LEN]> {
        match std::mem::replace(&mut self.mode, Mode::Finished) {
            Mode::Gcm {
                mut ghash,
                tag_mask,
                len,
                ..
            } => {
                let mut lengths = [0u8; 16];
                lengths[8..].copy_from_slice(&(len * 8).to_be_bytes());
                ghash.update(&[lengths.into()]);
                let mut tag: [u8; 16] = ghash.finalize().into();
                tag.iter_mut().zip(tag_mask).for_each(|(t, m)| *t ^= m);
                Some(tag)
            }
            _ => None,
        }
    }
}

impl ContentCipher for WebCryptoCipher {
    type Error = WebCryptoError;

    async fn update(&mut self, piece: &[u8], out: &mut [u8]) -> Result<(), WebCryptoError> {
        if out.len() != piece.len() {
            return Err(WebCryptoError::Piece);
        }
        let started = self.begin(&Uint8Array::from(piece), false)?;
        self.end(started).await?.copy_to(out);
        Ok(())
    }

    async fn finish(
        &mut self,
        last: &[u8],
        out: &mut [u8],
    ) -> Result<Option<[u8; GCM_TAG_LEN]>, WebCryptoError> {
        let encryption = match self.mode {
            Mode::Cbc { .. } => ContentEncryption::Aes256Cbc,
            Mode::Gcm { .. } => ContentEncryption::Aes256Gcm,
            Mode::Finished => return Err(WebCryptoError::Piece),
        };
        if out.len() as u64 != ciphertext_len(encryption, last.len() as u64) {
            return Err(WebCryptoError::Piece);
        }
        let started = self.begin(&Uint8Array::from(last), true)?;
        self.end(started).await?.copy_to(out);
        Ok(self.tag())
    }
}

/// What to encrypt.
pub enum Content<'a, 'e> {
    /// Bytes in wasm memory.
    Wasm(&'a [u8]),
    /// A JS array, which then never enters wasm memory (the browser's AES reads it where
    /// it is).
    Js(&'a Uint8Array),
    /// A MIME entity, made piece by piece in a buffer in wasm memory (while WebCrypto
    /// encrypts the piece before, where it runs on a thread of its own).
    Entity(&'a mut Entity<'e>),
    /// A signed entity ([`Entity::signed`]) and what signs it: given the digest of the
    /// signed part once that has been made, it gives the detached signature (DER).
    Signed(&'a mut Entity<'e>, &'a Signer),
}

/// Makes the detached signature of a signed entity from its digest (in the browser: the
/// citizen's WebCrypto key, asynchronously).
pub type Signer =
    dyn Fn([u8; 32]) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<u8>, WebCryptoError>>>>;

impl Content<'_, '_> {
    pub fn len(&self) -> usize {
        match self {
            Content::Wasm(bytes) => bytes.len(),
            Content::Js(array) => array.length() as usize,
            Content::Entity(entity) | Content::Signed(entity, _) => entity.len() as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the piece of `len` bytes from `offset` (fewer at the end) ready for
    /// [`Self::view`]; says how long it is. A signed entity is signed on the way, where
    /// its signature is due, its signed part copied to `signed` as it is made.
    async fn make(
        &mut self,
        offset: usize,
        len: usize,
        buffer: &mut Vec<u8>,
        signed: Option<&SignedCopy>,
    ) -> Result<usize, EncryptError> {
        let len = len.min(self.len() - offset);
        if let Content::Entity(entity) | Content::Signed(entity, _) = self {
            buffer.resize(len, 0);
            let mut written = entity.read(buffer);
            if let Some(signed) = signed {
                signed.take(offset, &buffer[..written]);
            }
            if written < len
                && let Content::Signed(entity, signer) = self
            {
                let digest = match signed {
                    Some(signed) => sha256(&signed.bytes).await?,
                    None => entity.signed_digest().ok_or(WebCryptoError::Piece)?,
                };
                entity
                    .set_signature(&signer(digest).await?)
                    .map_err(|_| WebCryptoError::Piece)?;
                written += entity.read(&mut buffer[written..]);
            }
            if written != len {
                return Err(WebCryptoError::Piece.into());
            }
        }
        Ok(len)
    }

    /// The piece [`Self::make`] made, as a JS array to hand to WebCrypto at once.
    fn view(&self, offset: usize, len: usize, buffer: &[u8]) -> Uint8Array {
        // SAFETY (both views on wasm memory): the view goes to `subtle.encrypt`, which
        // copies it before it returns (WebCrypto's "get a copy of the bytes held by the
        // data"), so before anything can allocate in wasm memory and so move it.
        match self {
            Content::Wasm(bytes) => unsafe { Uint8Array::view(&bytes[offset..offset + len]) },
            Content::Js(array) => array.subarray(offset as u32, (offset + len) as u32),
            Content::Entity(_) | Content::Signed(..) => unsafe { Uint8Array::view(&buffer[..len]) },
        }
    }
}

/// The signed part of a signed entity, copied into one JS array as its pieces are made,
/// for WebCrypto's SHA-256 where the signature is due (WebCrypto digests only whole
/// buffers; the Rust one, in the form's size-optimised wasm, took most of the send).
struct SignedCopy {
    range: std::ops::Range<usize>,
    bytes: Uint8Array,
}

impl SignedCopy {
    /// For a signed entity, which then stops hashing in wasm.
    fn of(content: &mut Content) -> Result<Option<SignedCopy>, EnvelopeError> {
        let Content::Signed(entity, _) = content else {
            return Ok(None);
        };
        let Some(range) = entity.signed_range() else {
            return Ok(None);
        };
        let len = u32::try_from(range.end - range.start).map_err(|_| EnvelopeError::TooLarge)?;
        entity.hashed_elsewhere();
        Ok(Some(SignedCopy {
            range: range.start as usize..range.end as usize,
            bytes: Uint8Array::new_with_length(len),
        }))
    }

    /// Copies what of `piece` (the entity's bytes from `offset`) lies in the signed part.
    fn take(&self, offset: usize, piece: &[u8]) {
        let start = offset.max(self.range.start);
        let end = (offset + piece.len()).min(self.range.end);
        if start < end {
            self.bytes
                .subarray(
                    (start - self.range.start) as u32,
                    (end - self.range.start) as u32,
                )
                .copy_from(&piece[start - offset..end - offset]);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    WebCrypto(#[from] WebCryptoError),
}

/// Encrypts a MIME entity for `recipients` in the browser (RSA in Rust, AES in WebCrypto)
/// in pieces of `piece_len` bytes (rounded down to whole blocks), calling `progress` with
/// the bytes done and the total after each. While WebCrypto encrypts one piece, the next is
/// made. The upload comes back as a Blob of three parts: the DER header (built from lengths
/// alone), the ciphertext, the DER trailer. The ciphertext is written into one JS buffer
/// sized in advance, never into wasm memory.
pub async fn encrypt_to_blob(
    recipients: &[Recipient],
    algorithms: Algorithms,
    mut content: Content<'_, '_>,
    piece_len: usize,
    rng: &mut impl rand_core::CryptoRngCore,
    mut progress: impl FnMut(u64, u64),
) -> Result<Blob, EncryptError> {
    let total = content.len();
    let envelope = Envelope::new(recipients, algorithms, total as u64, rng)?;
    let mut cipher = WebCryptoCipher::new(envelope.content_key()).await?;
    // One buffer: WebKit builds a Blob of many views many times slower than of one array.
    let ciphertext = Uint8Array::new_with_length(
        u32::try_from(envelope.ciphertext_len()).map_err(|_| EnvelopeError::TooLarge)?,
    );
    let piece_len = (piece_len / 16).max(1) * 16;
    let signed = SignedCopy::of(&mut content)?;
    let mut buffer = Vec::new();
    let mut offset = 0;
    let mut len = content
        .make(offset, piece_len, &mut buffer, signed.as_ref())
        .await?;
    loop {
        let last = offset + len == total;
        let started = cipher.begin(&content.view(offset, len, &buffer), last)?;
        let next = match last {
            true => None,
            false => Some(
                content
                    .make(offset + len, piece_len, &mut buffer, signed.as_ref())
                    .await?,
            ),
        };
        let encrypted = cipher.end(started).await?;
        ciphertext.set(&encrypted, offset as u32);
        offset += len;
        progress(offset as u64, total as u64);
        match next {
            Some(next) => len = next,
            None => break,
        }
    }
    let tag = cipher.tag();
    let parts = Array::of3(
        &Uint8Array::from(envelope.header()),
        &ciphertext,
        &Uint8Array::from(&envelope.trailer(tag.as_ref())?[..]),
    );
    let options = BlobPropertyBag::new();
    options.set_type("application/pkcs7-mime");
    Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| EncryptError::WebCrypto(failed(e)))
}

/// The entity as a Blob (the citizen's copy), made a piece at a time through a buffer in
/// wasm memory.
pub fn entity_blob(entity: &mut Entity, media_type: &str) -> Result<Blob, WebCryptoError> {
    let parts = Array::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let written = entity.read(&mut buffer);
        if written == 0 {
            break;
        }
        parts.push(&Uint8Array::from(&buffer[..written]));
    }
    let options = BlobPropertyBag::new();
    options.set_type(media_type);
    Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(failed)
}

#[derive(Clone)]
/// An attachment's bytes left in JavaScript (a file's `ArrayBuffer`): the checks and the
/// entity read them a window at a time into wasm memory, never whole.
pub struct JsBytes(pub Uint8Array);

impl Source for JsBytes {
    fn size(&self) -> u64 {
        self.0.length().into()
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) {
        let start = offset as u32;
        self.0
            .subarray(start, start + out.len() as u32)
            .copy_to(out);
    }
}

/// SHA-256 of `bytes` by WebCrypto, where they are: in native code, many times faster than
/// in wasm. It starts at once, on WebCrypto's thread; the future gives the digest.
pub fn sha256(bytes: &Uint8Array) -> impl Future<Output = Result<[u8; 32], WebCryptoError>> {
    let started = subtle().and_then(|subtle| {
        subtle
            .digest_with_str_and_buffer_source("SHA-256", bytes)
            .map_err(failed)
    });
    async move {
        let digest: ArrayBuffer = JsFuture::from(started?)
            .await
            .map_err(failed)?
            .unchecked_into();
        let mut out = [0; 32];
        copy(&digest, &mut out)?;
        Ok(out)
    }
}

/// How long WebCrypto gets to verify a chain's signatures. They take milliseconds;
/// WebKitGTK, rarely and under load, has left one pending for good.
const VERIFY_WITHIN_MS: i32 = 5_000;

/// Verifies certificate signatures (see [`crate::certificate::webcrypto_signatures`]) with
/// the browser's WebCrypto; returns those that hold, for
/// [`crate::certificate::CheckContext::verified_elsewhere`]. Any failure counts as "does not
/// hold", so the check then verifies it itself or fails closed. Bounded in time: see
/// [`verify_signatures_within`].
pub async fn verify_signatures(
    signatures: &[crate::certificate::WebCryptoSignature],
) -> Vec<crate::certificate::VerifiedSignature> {
    verify_signatures_within(signatures, VERIFY_WITHIN_MS).await
}

/// [`verify_signatures`] within `ms`: all start at once, and one WebCrypto has not answered
/// by then counts as "does not hold" too.
pub async fn verify_signatures_within(
    signatures: &[crate::certificate::WebCryptoSignature],
    ms: i32,
) -> Vec<crate::certificate::VerifiedSignature> {
    let Ok(subtle) = subtle() else {
        return Vec::new();
    };
    let deadline = Deadline::after(ms);
    let imports: Vec<_> = signatures
        .iter()
        .map(|signature| (signature, import_issuer_key(&subtle, signature)))
        .collect();
    let mut verified = Vec::new();
    for (signature, import) in imports {
        if verify(&subtle, signature, import, &deadline).await {
            verified.push(signature.verified());
        }
    }
    verified
}

/// The issuer's key on its way into WebCrypto, and the parameters to verify with it.
fn import_issuer_key(
    subtle: &SubtleCrypto,
    signature: &crate::certificate::WebCryptoSignature,
) -> Result<(js_sys::Promise, js_sys::Object), JsValue> {
    let (import, params): (js_sys::Object, js_sys::Object) = match signature.curve {
        Some(curve) => {
            let import = web_sys::EcKeyImportParams::new("ECDSA");
            import.set_named_curve(curve);
            let params = web_sys::EcdsaParams::new_with_str("ECDSA", signature.hash);
            (import.into(), params.into())
        }
        None => {
            let import = js_sys::Object::new();
            js_sys::Reflect::set(&import, &"name".into(), &"RSASSA-PKCS1-v1_5".into())?;
            js_sys::Reflect::set(&import, &"hash".into(), &signature.hash.into())?;
            let params = js_sys::Object::new();
            js_sys::Reflect::set(&params, &"name".into(), &"RSASSA-PKCS1-v1_5".into())?;
            (import, params)
        }
    };
    let key = subtle.import_key_with_object(
        "spki",
        &Uint8Array::from(&signature.issuer_key[..]),
        &import,
        false,
        &Array::of1(&JsValue::from_str("verify")),
    )?;
    Ok((key, params))
}

/// Whether the signature holds, by WebCrypto's answer before the deadline.
async fn verify(
    subtle: &SubtleCrypto,
    signature: &crate::certificate::WebCryptoSignature,
    import: Result<(js_sys::Promise, js_sys::Object), JsValue>,
    deadline: &Deadline,
) -> bool {
    let holds = async {
        let (key, params) = import.ok()?;
        let key = deadline.settle(key).await?.ok()?;
        let holds = subtle
            .verify_with_object_and_js_u8_array_and_js_u8_array(
                &params,
                &key.unchecked_into(),
                &Uint8Array::from(&signature.signature[..]),
                &Uint8Array::from(&signature.signed[..]),
            )
            .ok()?;
        deadline.settle(holds).await?.ok()?.as_bool()
    };
    holds.await == Some(true)
}

/// A point in time that promises are awaited until, in a window or a worker: for the
/// browser's promises that should settle soon but, rarely, never do. Only for promises that
/// never resolve to `undefined`, which is what the deadline resolves to.
pub struct Deadline(js_sys::Promise);

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after(ms: i32) -> Deadline {
        Deadline(js_sys::Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            if let Ok(timer) = js_sys::Reflect::get(&global, &"setTimeout".into()) {
                let _ =
                    timer
                        .unchecked_into::<js_sys::Function>()
                        .call2(&global, &resolve, &ms.into());
            }
        }))
    }

    /// What `promise` settled with, or `None` if the deadline came first.
    pub async fn settle(&self, promise: js_sys::Promise) -> Option<Result<JsValue, JsValue>> {
        let first = JsFuture::from(js_sys::Promise::race(&Array::of2(&promise, &self.0))).await;
        (!matches!(&first, Ok(value) if value.is_undefined())).then_some(first)
    }
}

/// AES-CBC decryption by WebCrypto, `piece` bytes (a multiple of 16) per call, all calls
/// in flight at once (CBC decrypts in parallel: each piece's IV is the ciphertext block
/// before it). WebCrypto checks and strips PKCS#7 padding on every call, which only the
/// last piece has; so each other piece gets one block more, whose decryption is a whole
/// block of padding: `E = AES_K(16×0x10 ⊕ C_last)`, made by WebCrypto's encryption of that
/// padding block under IV `C_last` (its first output block).
pub async fn decrypt_cbc(
    key: &[u8],
    iv: &[u8; 16],
    ciphertext: &[u8],
    piece: usize,
) -> Result<Vec<u8>, WebCryptoError> {
    let pieces = decrypt_cbc_pieces(key, iv, ciphertext, piece).await?;
    let total = pieces.iter().map(|p| p.length() as usize).sum();
    let mut plaintext = Vec::with_capacity(total);
    for part in pieces {
        let at = plaintext.len();
        let len = part.length() as usize;
        // Each byte is written by the copy: no zeroing first.
        part.copy_to_uninit(&mut plaintext.spare_capacity_mut()[..len]);
        // SAFETY: `copy_to_uninit` initialised exactly these `len` bytes.
        unsafe { plaintext.set_len(at + len) };
    }
    Ok(plaintext)
}

/// [`decrypt_cbc`]'s plaintext as WebCrypto gives it: a JS array per piece.
async fn decrypt_cbc_pieces(
    key: &[u8],
    iv: &[u8; 16],
    ciphertext: &[u8],
    piece: usize,
) -> Result<Vec<Uint8Array>, WebCryptoError> {
    const BLOCK: usize = 16;
    if ciphertext.is_empty()
        || !ciphertext.len().is_multiple_of(BLOCK)
        || piece == 0
        || !piece.is_multiple_of(BLOCK)
    {
        return Err(WebCryptoError::Failed("not AES-CBC ciphertext".to_owned()));
    }
    let subtle = subtle()?;
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let key = import_raw(&subtle, key, "AES-CBC", &usages).await?;
    let params = |iv: &[u8]| AesCbcParams::new("AES-CBC", &Uint8Array::from(iv));
    let ranges: Vec<(usize, usize)> = (0..ciphertext.len())
        .step_by(piece)
        .map(|start| (start, (start + piece).min(ciphertext.len())))
        .collect();
    // The padding block of every non-final piece first, all at once: each depends only
    // on the ciphertext, and awaiting one at a time would cost a round trip per piece.
    let padding = Uint8Array::from(&[BLOCK as u8; BLOCK][..]);
    let mut made = Vec::with_capacity(ranges.len());
    for &(_, end) in &ranges[..ranges.len() - 1] {
        let last = &ciphertext[end - BLOCK..end];
        made.push(
            subtle
                .encrypt_with_object_and_buffer_source(&params(last), &key, &padding)
                .map_err(failed)?,
        );
    }
    let mut extra = Vec::with_capacity(made.len());
    for promise in made {
        extra.push(Uint8Array::new(
            &JsFuture::from(promise).await.map_err(failed)?,
        ));
    }
    let mut pending = Vec::with_capacity(ranges.len());
    for (i, &(start, end)) in ranges.iter().enumerate() {
        let iv_here = if start == 0 {
            &iv[..]
        } else {
            &ciphertext[start - BLOCK..start]
        };
        let input = match extra.get(i) {
            None => Uint8Array::from(&ciphertext[start..end]),
            Some(made) => {
                let input = Uint8Array::new_with_length((end - start + BLOCK) as u32);
                input
                    .subarray(0, (end - start) as u32)
                    .copy_from(&ciphertext[start..end]);
                input.set(&made.subarray(0, BLOCK as u32), (end - start) as u32);
                input
            }
        };
        pending.push(
            subtle
                .decrypt_with_object_and_buffer_source(&params(iv_here), &key, &input)
                .map_err(failed)?,
        );
    }
    let mut pieces = Vec::with_capacity(pending.len());
    for promise in pending {
        pieces.push(Uint8Array::new(
            &JsFuture::from(promise).await.map_err(failed)?,
        ));
    }
    Ok(pieces)
}
