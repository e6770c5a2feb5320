//! The conversation's key and certificate: made when the form opens (RSA-3072 by WebCrypto,
//! see `keys.js`), certified by the portal's answers CA when the citizen sends (a PKCS#10
//! request, the proof of possession), kept in IndexedDB under the alias, and used to sign
//! the message so that the authority's Reply is encrypted to it.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Promise, Uint8Array};
use smime::Certificate;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// RSA-3072: made while the citizen types, it is ready long before they can send (the
/// address's code comes by mail first). Measured in `bench/keys.bench.ts`: 180–330 ms
/// median, under 1 s at the slowest, in every engine; 2048 would be the fallback.
const KEY_BITS: u32 = 3072;

// Imported as it lies next to the module's JS (index.html copies it there), not as a
// wasm-bindgen snippet: Trunk would preload snippets on every page of the form.
#[wasm_bindgen(raw_module = "./keys.js")]
extern "C" {
    fn generate(bits: u32) -> Promise;
    #[wasm_bindgen(js_name = publicKey)]
    fn public_key(pair: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = sign)]
    fn sign_with(key: &JsValue, bytes: &Uint8Array) -> Promise;
    #[wasm_bindgen(js_name = signingKey)]
    fn signing_key(pkcs8: &Uint8Array) -> Promise;
    #[wasm_bindgen(js_name = privateKey)]
    fn export_private_key(pair: &JsValue) -> Promise;
    fn keep(alias: &str, pkcs8: &Uint8Array, certificate: &str, ca_certificate: &str) -> Promise;
    fn load(alias: &str) -> Promise;
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("WebCrypto or IndexedDB failed: {0}")]
    Browser(String),
    #[error("the portal refused the certificate request ({0})")]
    Refused(String),
    #[error("no key for this conversation in this browser")]
    Missing,
    #[error(transparent)]
    Signing(#[from] smime::signing::SigningError),
    #[error("the portal's certificate does not read")]
    Certificate,
    #[error(transparent)]
    Backup(#[from] smime::backup::BackupError),
    #[error("the backup file is another conversation's key")]
    OtherConversation,
}

fn browser(error: JsValue) -> KeyError {
    KeyError::Browser(
        js_sys::Reflect::get(&error, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "unknown".to_owned()),
    )
}

/// A conversation's key as this page holds it: for signing, and its certificates.
struct Held {
    signing_key: JsValue,
    /// For the backup file, which must work where the browser keeps nothing (below).
    pkcs8: zeroize::Zeroizing<Vec<u8>>,
    /// Whether IndexedDB took it: a browser that blocks storage in a frame of another
    /// site (third-party storage blocked) refuses it, and only the backup file keeps it.
    stored: bool,
    certificate: Certificate,
    ca_certificate: Certificate,
}

thread_local! {
    /// The key being made for the next conversation (a WebCrypto CryptoKeyPair, once the
    /// promise settles).
    static PREPARED: RefCell<Option<Promise>> = const { RefCell::new(None) };
    static HELD: RefCell<HashMap<String, std::rc::Rc<Held>>> = RefCell::new(HashMap::new());
}

pub fn prepare() {
    PREPARED.with_borrow_mut(|prepared| {
        if prepared.is_none() {
            *prepared = Some(generate(KEY_BITS));
        }
    });
}

pub struct Issued {
    pub alias: String,
    pub signature_length: usize,
}

/// The certificate for the prepared key; the key is then this conversation's (the next
/// message gets a new one).
pub async fn certificate(form: &str, token: &str, signing_time: u64) -> Result<Issued, KeyError> {
    prepare();
    let pending = PREPARED.with_borrow(|p| p.clone()).expect("prepared above");
    let pair = JsFuture::from(pending).await.map_err(browser)?;
    let private_key = js_sys::Reflect::get(&pair, &"privateKey".into()).map_err(browser)?;
    let spki = Uint8Array::new(&JsFuture::from(public_key(&pair)).await.map_err(browser)?);
    let info = smime::signing::request_info(&spki.to_vec())?;
    let signature = sign(&private_key, &info).await?;
    let csr = smime::signing::request_pem(&info, &signature)?;
    let issued = request(form, token, &csr).await?;
    let pkcs8 = Uint8Array::new(
        &JsFuture::from(export_private_key(&pair))
            .await
            .map_err(browser)?,
    );
    let kept_here = zeroize::Zeroizing::new(pkcs8.to_vec());
    // Refused storage does not stop the message: the key lives on in this page for the
    // signature and the backup file, which the receipt then requires.
    let stored = JsFuture::from(keep(
        &issued.alias,
        &pkcs8,
        &issued.certificate,
        &issued.ca_certificate,
    ))
    .await
    .is_ok();
    PREPARED.with_borrow_mut(|p| *p = None);
    let held = Held {
        signing_key: private_key,
        pkcs8: kept_here,
        stored,
        certificate: parse(&issued.certificate)?,
        ca_certificate: parse(&issued.ca_certificate)?,
    };
    let signature_length = signature_length(&held, signing_time)?;
    HELD.with_borrow_mut(|all| all.insert(issued.alias.clone(), std::rc::Rc::new(held)));
    Ok(Issued {
        alias: issued.alias,
        signature_length,
    })
}

/// The length (DER) of the detached signature made at `signing_time`: the same structure
/// around a blank signature, fixed before the message is made (RSA signatures are the
/// modulus long, the time is UTCTime).
fn signature_length(held: &Held, signing_time: u64) -> Result<usize, KeyError> {
    let bytes =
        smime::certificate::rsa_modulus_len(&held.certificate).ok_or(KeyError::Certificate)?;
    let blank = smime::signing::detached_signature(
        &[0; 32],
        signing_time,
        &vec![0; bytes],
        &held.certificate,
        std::slice::from_ref(&held.ca_certificate),
    )?;
    Ok(blank.len())
}

/// Takes up conversation `alias`'s kept key for a message written again (signed at
/// `signing_time`); the length of its signature, as [`certificate`] gives it.
pub async fn resume(alias: &str, signing_time: u64) -> Result<usize, KeyError> {
    if let Some(held) = HELD.with_borrow(|all| all.get(alias).cloned()) {
        return signature_length(&held, signing_time);
    }
    let kept = kept(alias).await?;
    let signing_key = JsFuture::from(signing_key(&Uint8Array::from(kept.pkcs8.as_slice())))
        .await
        .map_err(browser)?;
    let held = Held {
        signing_key,
        pkcs8: kept.pkcs8,
        stored: true,
        certificate: kept.certificate,
        ca_certificate: kept.ca_certificate,
    };
    let length = signature_length(&held, signing_time)?;
    HELD.with_borrow_mut(|all| all.insert(alias.to_owned(), std::rc::Rc::new(held)));
    Ok(length)
}

/// RSASSA-PKCS1-v1_5 over `statement` by conversation `alias`'s key (taken up first).
pub async fn sign_statement(alias: &str, statement: &str) -> Result<Vec<u8>, KeyError> {
    let held = HELD
        .with_borrow(|all| all.get(alias).cloned())
        .ok_or(KeyError::Missing)?;
    sign(&held.signing_key, statement.as_bytes()).await
}

/// The message's detached signature: RSASSA-PKCS1-v1_5 over its signed attributes.
pub async fn signature(
    alias: &str,
    digest: &[u8; 32],
    signing_time: u64,
) -> Result<Vec<u8>, KeyError> {
    let held = HELD
        .with_borrow(|all| all.get(alias).cloned())
        .ok_or(KeyError::Missing)?;
    let attributes = smime::signing::signed_attributes(digest, signing_time)?;
    let signature = sign(&held.signing_key, &attributes).await?;
    Ok(smime::signing::detached_signature(
        digest,
        signing_time,
        &signature,
        &held.certificate,
        std::slice::from_ref(&held.ca_certificate),
    )?)
}

/// The key of conversation `alias` as kept in this browser: its PKCS#8 and certificates.
pub struct Kept {
    pub pkcs8: zeroize::Zeroizing<Vec<u8>>,
    pub certificate: Certificate,
    pub ca_certificate: Certificate,
}

pub async fn kept(alias: &str) -> Result<Kept, KeyError> {
    let record = JsFuture::from(load(alias)).await.map_err(browser)?;
    if record.is_null() || record.is_undefined() {
        return Err(KeyError::Missing);
    }
    let pkcs8 = Uint8Array::new(&js_sys::Reflect::get(&record, &"pkcs8".into()).map_err(browser)?);
    let pem = |field: &str| {
        js_sys::Reflect::get(&record, &field.into())
            .ok()
            .and_then(|value| value.as_string())
            .ok_or(KeyError::Certificate)
    };
    let kept = Kept {
        pkcs8: zeroize::Zeroizing::new(pkcs8.to_vec()),
        certificate: parse(&pem("certificate")?)?,
        ca_certificate: parse(&pem("caCertificate")?)?,
    };
    pkcs8.fill(0, 0, pkcs8.length());
    Ok(kept)
}

/// The backup file (PKCS#12, see `smime::backup`) of conversation `alias`'s kept key.
pub async fn backup(alias: &str, passphrase: &str) -> Result<Vec<u8>, KeyError> {
    let seal = |pkcs8: &[u8], certificate: &Certificate, ca: &Certificate| {
        smime::backup::seal(
            pkcs8,
            certificate,
            std::slice::from_ref(ca),
            &format!("Postsiegel {alias}"),
            passphrase,
            &mut rand_core::OsRng,
        )
    };
    if let Some(held) = HELD.with_borrow(|all| all.get(alias).cloned()) {
        return Ok(seal(&held.pkcs8, &held.certificate, &held.ca_certificate)?);
    }
    let kept = kept(alias).await?;
    Ok(seal(&kept.pkcs8, &kept.certificate, &kept.ca_certificate)?)
}

/// Whether this browser's storage holds conversation `alias`'s key (made on this page and
/// refused by the storage: no).
pub fn stored(alias: &str) -> bool {
    HELD.with_borrow(|all| all.get(alias).is_none_or(|held| held.stored))
}

/// Keeps the key of a backup `file` for conversation `alias`, if it is that conversation's.
pub async fn import(alias: &str, file: &[u8], passphrase: &str) -> Result<(), KeyError> {
    let opened = smime::backup::open(file, passphrase)?;
    let addresses = smime::certificate::mail_addresses(&opened.certificate);
    if !addresses.iter().any(|a| a.eq_ignore_ascii_case(alias)) {
        return Err(KeyError::OtherConversation);
    }
    let ca = opened.chain.first().ok_or(KeyError::Certificate)?;
    let pkcs8 = Uint8Array::from(opened.pkcs8.as_slice());
    JsFuture::from(keep(
        alias,
        &pkcs8,
        &to_pem(&opened.certificate)?,
        &to_pem(ca)?,
    ))
    .await
    .map_err(browser)?;
    Ok(())
}

fn to_pem(certificate: &Certificate) -> Result<String, KeyError> {
    use smime::der::EncodePem;
    certificate
        .to_pem(smime::der::pem::LineEnding::LF)
        .map_err(|_| KeyError::Certificate)
}

/// Signs `bytes` with a kept key (PKCS#8), imported for signing only.
pub async fn sign_kept(pkcs8: &[u8], bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = JsFuture::from(signing_key(&Uint8Array::from(pkcs8)))
        .await
        .map_err(browser)?;
    sign(&key, bytes).await
}

async fn sign(key: &JsValue, bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let signed = JsFuture::from(sign_with(key, &Uint8Array::from(bytes)))
        .await
        .map_err(browser)?;
    Ok(Uint8Array::new(&signed).to_vec())
}

fn parse(pem: &str) -> Result<Certificate, KeyError> {
    smime::certificate::parse_certificates(pem.as_bytes())
        .ok()
        .and_then(|mut all| (!all.is_empty()).then(|| all.remove(0)))
        .ok_or(KeyError::Certificate)
}

async fn request(
    form: &str,
    token: &str,
    csr: &str,
) -> Result<wire::ConversationCertificate, KeyError> {
    let body = serde_json::to_string(&wire::CertificateRequest {
        form: form.to_owned(),
        csr: csr.to_owned(),
    })
    .expect("plain data serialises");
    let response = crate::portal::fetch(
        "/api/answers/certificate",
        Some(("POST", &body)),
        &[(wire::TOKEN_HEADER, token)],
    )
    .await
    .map_err(KeyError::Refused)?;
    serde_json::from_slice(&response).map_err(|_| KeyError::Refused("unreadable".to_owned()))
}
