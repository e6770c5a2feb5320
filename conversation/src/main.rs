//! Postsiegel's conversation module: what the citizen's browser does for answers, in a
//! WebAssembly module of its own that the form loads only when it offers answers and the
//! status page only when a message opened a conversation, so that the form's first
//! download stays small. The form's module calls the functions exported here (through
//! `app/src/conversation.rs`); nothing here talks to the form's module otherwise.
//!
//! - `key`: the conversation's key (WebCrypto, kept in IndexedDB), its certificate from the
//!   portal, and the message's S/MIME signature.
//! - `answer`: an answer fetched, decrypted and taken apart.
//! - `backup`: the key's backup file, made on the receipt and taken in on another device.
//! - `view`: the answers on the status page and the reader.
//! - `close`: closing the conversation early, signed with its key.
//! - `sender`: who signed an answer, checked against the form's mailbox and anchors.
//! - `portal`: requests to the portal.

mod answer;
mod backup;
mod close;
mod download;
mod i18n;
mod key;
mod portal;
mod sender;
mod view;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

fn main() {}

/// Starts making the key, so that it is ready when the citizen sends.
#[wasm_bindgen]
pub fn prepare() {
    key::prepare();
}

/// Asks the portal for a conversation's certificate for the prepared key (the form `form`,
/// the verification `token`) and keeps key and certificate; resolves to
/// `{ alias, signature_length }`, the length (DER) of the signature that
/// [`signature`] will give for a message signed at `signing_time` (Unix seconds).
#[wasm_bindgen]
pub fn certificate(form: String, token: String, signing_time: f64) -> Promise {
    future_to_promise(async move {
        let issued = key::certificate(&form, &token, signing_time as u64)
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"alias".into(), &issued.alias.into())?;
        js_sys::Reflect::set(
            &out,
            &"signature_length".into(),
            &(issued.signature_length as f64).into(),
        )?;
        Ok(out.into())
    })
}

/// The detached signature (DER) of a message for conversation `alias` whose signed part
/// has the SHA-256 `digest`, signed at `signing_time`.
#[wasm_bindgen]
pub fn signature(alias: String, digest: Uint8Array, signing_time: f64) -> Promise {
    future_to_promise(async move {
        let mut sha256 = [0u8; 32];
        if digest.length() != 32 {
            return Err(JsValue::from_str("a SHA-256 digest is 32 bytes"));
        }
        digest.copy_to(&mut sha256);
        let der = key::signature(&alias, &sha256, signing_time as u64)
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Ok(Uint8Array::from(&der[..]).into())
    })
}

/// Takes up conversation `alias`'s kept key to write again in it; resolves to the length
/// (DER) of the signature [`signature`] will give for a message signed at `signing_time`,
/// or rejects when this browser does not hold the key.
#[wasm_bindgen]
pub fn resume(alias: String, signing_time: f64) -> Promise {
    future_to_promise(async move {
        let length = key::resume(&alias, signing_time as u64)
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Ok((length as f64).into())
    })
}

/// The request's signature (base64) by conversation `alias`'s key over `statement`
/// (`wire::message_statement`), once [`resume`] took the key up.
#[wasm_bindgen]
pub fn sign_statement(alias: String, statement: String) -> Promise {
    future_to_promise(async move {
        let signature = key::sign_statement(&alias, &statement)
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Ok(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature).into())
    })
}

/// Shows the answers of the message with status `token` in `element` ("de" or "en").
#[wasm_bindgen]
pub fn mount_answers(element: web_sys::HtmlElement, token: String, lang: String) {
    view::mount(element, token, i18n::Lang::of(&lang));
}

/// Offers the backup file of conversation `alias`'s key in `element` (on the receipt);
/// `required` when the key cannot be found again without it (an embedded form).
#[wasm_bindgen]
pub fn mount_backup(element: web_sys::HtmlElement, alias: String, required: bool, lang: String) {
    view::mount_backup(element, alias, required, i18n::Lang::of(&lang));
}

/// The page's language changed.
#[wasm_bindgen]
pub fn set_language(lang: String) {
    view::set_language(i18n::Lang::of(&lang));
}
