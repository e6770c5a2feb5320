//! The benchmark page's Rust side (`webbench/page/`): it builds the MIME entity and encrypts
//! it the way the app does, and opens an answer the way the conversation module does, so
//! that Playwright can time them beside WebCrypto alone and PKI.js in the same browser.
#![cfg(target_arch = "wasm32")]

use smime::envelope::{Algorithms, Recipient};
use smime::mime::{Attachment, Message, compose};
use smime::webcrypto::{Content, encrypt_to_blob};
use wasm_bindgen::prelude::*;

/// The MIME entity of a message with `attachment` (a PDF, say), as the app composes it.
#[wasm_bindgen]
pub fn mime_entity(attachment: &[u8]) -> js_sys::Uint8Array {
    let attachments = [Attachment::new(
        "Bauantrag Anlage.pdf",
        "application/pdf",
        attachment,
    )];
    let entity = compose(&Message {
        form: "landratsamt-musterhausen/bauamt",
        unit: Some("bauamt"),
        recipient: "Landratsamt Musterhausen – Bauamt",
        sender_name: "Erika Mustermann",
        sender_email: "erika@example.org",
        email_verified: true,
        answer_address: None,
        thread: None,
        sender_phone: None,
        subject: "Bauantrag",
        reference: None,
        text: "Sehr geehrte Damen und Herren,\n\nanbei die Unterlagen.\n",
        submitted_at: 1_795_786_200,
        attachments: &attachments,
    });
    js_sys::Uint8Array::from(&entity[..])
}

/// Encrypts `entity` (left in JavaScript) for the certificate, as the app does: RSA in
/// Rust, AES through WebCrypto in pieces of `piece_bytes`; resolves to the upload Blob.
#[wasm_bindgen]
pub async fn encrypt(
    certificate: Vec<u8>,
    entity: js_sys::Uint8Array,
    piece_bytes: u32,
) -> Result<web_sys::Blob, JsError> {
    let certificate = smime::certificate::parse_certificates(&certificate)?.remove(0);
    let recipient = Recipient::from_certificate(&certificate)?;
    Ok(encrypt_to_blob(
        &[recipient],
        Algorithms::default(),
        Content::Js(&entity),
        piece_bytes as usize,
        &mut rand_core::OsRng,
        |_, _| {},
    )
    .await?)
}

thread_local! {
    /// The answer to open, where the conversation module has it when it decrypts: in wasm
    /// memory, as the mail's parse left it (base64 decoded).
    static ANSWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps `cms` (an answer) in wasm memory for [`open_answer`]; untimed.
#[wasm_bindgen]
pub fn keep_answer(cms: Vec<u8>) {
    ANSWER.with_borrow_mut(|answer| *answer = cms);
}

/// Opens the kept answer (encrypted to `certificate`) with the PKCS#8 `key` exactly as the
/// conversation module does, from the CMS in wasm memory to the MIME entity in wasm memory
/// (where its MIME parse reads it): the content key in Rust, AES-CBC's bulk through
/// WebCrypto in 4 MiB pieces (or, with `all_in_rust`, by RustCrypto, as before). Resolves
/// to the entity's length.
#[wasm_bindgen]
pub async fn open_answer(
    certificate: Vec<u8>,
    key: Vec<u8>,
    all_in_rust: bool,
) -> Result<usize, JsError> {
    use rsa::pkcs8::DecodePrivateKey;
    let certificate = smime::certificate::parse_certificates(&certificate)?.remove(0);
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&key)?;
    let cms = ANSWER.with_borrow_mut(std::mem::take);
    let entity = match smime::open::unwrap(&cms, &certificate, &key)? {
        smime::open::Unwrapped::Cbc {
            key,
            iv,
            ciphertext,
        } if !all_in_rust => smime::webcrypto::decrypt_cbc(&key, &iv, &ciphertext, 4 << 20).await?,
        unwrapped => unwrapped.decrypt()?,
    };
    ANSWER.with_borrow_mut(|answer| *answer = cms);
    Ok(entity.len())
}
