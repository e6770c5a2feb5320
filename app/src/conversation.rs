//! The bridge to the conversation module (`conversation/`): a second WebAssembly module
//! with the answers' key, signature and reader, loaded only when a form offers answers or a
//! status page has a conversation, so that the form's own download stays small. Its
//! functions are called by name on the loaded module; every failure is an `Err`, and the
//! form then sends nothing (fail closed).

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = "let loaded;
export function load(url) {
  loaded ??= import(url).then(async (module) => { await module.default(); return module; });
  return loaded;
}")]
extern "C" {
    fn load(url: &str) -> Promise;
}

/// Where Trunk puts the module (`data-target-path` in index.html).
const MODULE: &str = "/conversation/postsiegel-conversation.js";

async fn call(name: &str, args: Array) -> Result<JsValue, JsValue> {
    let module = JsFuture::from(load(MODULE)).await?;
    let function: Function = Reflect::get(&module, &name.into())?.dyn_into()?;
    let result = function.apply(&JsValue::NULL, &args)?;
    match result.dyn_ref::<Promise>() {
        Some(promise) => JsFuture::from(promise.clone()).await,
        None => Ok(result),
    }
}

fn spawn_call(name: &'static str, args: Array) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = call(name, args).await;
    });
}

/// Loads the module and starts making the key while the citizen types.
pub fn prepare() {
    spawn_call("prepare", Array::new());
}

/// A conversation's certificate, asked for as the message is sent.
pub struct Conversation {
    pub alias: String,
    /// Bytes (DER) of the detached signature the message will carry.
    pub signature_length: usize,
}

pub async fn certificate(form: &str, token: &str, now: u64) -> Result<Conversation, JsValue> {
    let issued = call(
        "certificate",
        Array::of3(&form.into(), &token.into(), &(now as f64).into()),
    )
    .await?;
    let alias = Reflect::get(&issued, &"alias".into())?.as_string();
    let length = Reflect::get(&issued, &"signature_length".into())?.as_f64();
    match (alias, length) {
        (Some(alias), Some(length)) => Ok(Conversation {
            alias,
            signature_length: length as usize,
        }),
        _ => Err(JsValue::from_str("no certificate")),
    }
}

/// Takes up conversation `alias`'s key kept in this browser, to write again in it; `Err`
/// when the browser does not hold it.
pub async fn resume(alias: &str, now: u64) -> Result<Conversation, JsValue> {
    let length = call("resume", Array::of2(&alias.into(), &(now as f64).into()))
        .await?
        .as_f64()
        .ok_or_else(|| JsValue::from_str("no signature length"))?;
    Ok(Conversation {
        alias: alias.to_owned(),
        signature_length: length as usize,
    })
}

/// The upload's signature (base64) by conversation `alias`'s key over `statement`.
pub async fn sign_statement(alias: &str, statement: &str) -> Result<String, JsValue> {
    call(
        "sign_statement",
        Array::of2(&alias.into(), &statement.into()),
    )
    .await?
    .as_string()
    .ok_or_else(|| JsValue::from_str("no signature"))
}

/// What signs the message of conversation `alias` made at `now`.
pub fn signer(alias: String, now: u64) -> Box<smime::webcrypto::Signer> {
    Box::new(move |digest: [u8; 32]| {
        let args = Array::of3(
            &alias.as_str().into(),
            &Uint8Array::from(&digest[..]),
            &(now as f64).into(),
        );
        Box::pin(async move {
            let der = call("signature", args).await.map_err(|_| {
                smime::webcrypto::WebCryptoError::Failed("the signature failed".to_owned())
            })?;
            Ok(Uint8Array::new(&der).to_vec())
        })
    })
}

/// Shows the answers of the message with status `token` inside `element`.
pub fn mount_answers(element: web_sys::HtmlElement, token: &str, lang: &str) {
    spawn_call(
        "mount_answers",
        Array::of3(&element, &token.into(), &lang.into()),
    );
}

/// Offers the backup file of conversation `alias`'s key inside `element` (the receipt);
/// `required` for an embedded form, whose stored key the status page never sees.
pub fn mount_backup(element: web_sys::HtmlElement, alias: &str, required: bool, lang: &str) {
    let args = Array::of4(&element, &alias.into(), &required.into(), &lang.into());
    spawn_call("mount_backup", args);
}

/// Tells the module the page's language (once it shows answers).
pub fn set_language(lang: &str) {
    spawn_call("set_language", Array::of1(&lang.into()));
}
