//! Sending a message, the security-critical path, without any Leptos: the recipient
//! certificates are checked here against the trust anchors, the MIME entity is built here,
//! encrypted here (WebCrypto), and only the ciphertext is uploaded. Fail closed: any doubt,
//! and nothing is sent. The page hands in what was typed and a callback for the progress.

use base64::Engine;
use smime::certificate::{CheckContext, check_encryption_certificate, parse_certificates};
use wire::{Accepted, FormPage, Token};

use crate::api::{self, Refusal};
use crate::conversation::Conversation;

/// An attachment that passed the checks; its bytes stay in JavaScript.
#[derive(Clone)]
pub struct Attached {
    pub name: String,
    pub media_type: &'static str,
    pub content: smime::webcrypto::JsBytes,
    pub sha256: [u8; 32],
}

/// What the citizen typed.
pub struct Typed {
    pub attachments: Vec<Attached>,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub subject: String,
    pub reference: Option<String>,
    pub message: String,
    /// Ask the authority's mail program for a confirmation of receipt.
    pub confirmation: bool,
    /// Open a conversation: the message is signed with a key made here, and the authority
    /// answers it encrypted (only with a verified address).
    pub answers: bool,
}

/// A message written again in a conversation, from its status page: signed with the key
/// this browser keeps for it, no address to confirm, threaded under what it answers.
#[derive(Clone, Debug)]
pub struct Continuing {
    pub alias: String,
    pub thread: wire::Thread,
}

/// Where sending is; the fraction done of a step (0 to 1).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Progress {
    Checking,
    Encrypting(f64),
    Uploading(f64),
}

/// Why nothing was sent.
#[derive(Debug)]
pub enum Problem {
    /// A recipient certificate did not pass the check here (or could not be read).
    Certificate,
    /// The browser could not encrypt.
    Encryption,
    /// The conversation's key is not in this browser (any more).
    NoKey,
    /// The server refused the upload.
    Refused(Refusal),
}

/// A message the portal accepted.
pub struct Sent {
    pub accepted: Accepted,
    /// The citizen's copy of the entity that was encrypted.
    pub entity: web_sys::Blob,
    /// The conversation it opened, if it asked for answers.
    pub alias: Option<String>,
}

/// How a message stands to its sender: the confirmed address (a token) or not, and the
/// conversation it opens or continues.
#[derive(Clone, Copy)]
pub struct Standing<'a> {
    pub token: Option<&'a Token>,
    pub continuing: Option<&'a Continuing>,
}

/// The whole way: the anchors fetched, the message checked and encrypted, uploaded.
pub async fn send(
    page: &FormPage,
    typed: &Typed,
    standing: Standing<'_>,
    now: u64,
    progress: impl Fn(Progress) + Clone + 'static,
) -> Result<Sent, Problem> {
    progress(Progress::Checking);
    let delivery = page.delivery.as_ref().ok_or(Problem::Certificate)?;
    let anchors_pem = anchors(&delivery.trust_anchors, ANCHORS_WITHIN_MS).await?;
    let conversation = match standing {
        Standing {
            continuing: Some(continuing),
            ..
        } => Some(
            crate::conversation::resume(&continuing.alias, now)
                .await
                .map_err(|_| Problem::NoKey)?,
        ),
        Standing {
            token: Some(token), ..
        } if typed.answers => Some(
            crate::conversation::certificate(&page.slug, &token.token, now)
                .await
                .map_err(|_| Problem::Encryption)?,
        ),
        _ => None,
    };
    let upload = encrypt(
        page,
        typed,
        standing,
        conversation.as_ref(),
        &anchors_pem,
        now,
        progress.clone(),
    )
    .await?;
    progress(Progress::Uploading(0.0));
    let accepted = upload_to_portal(
        page,
        typed,
        standing,
        conversation.as_ref(),
        &upload,
        progress,
    )
    .await?;
    // Made again from the same input, once the upload is in: the same bytes (the browser
    // test proves it), and no copy held while encrypting.
    let entity = entity_copy(page, typed, standing, conversation.as_ref(), now)?;
    Ok(Sent {
        accepted,
        entity,
        alias: conversation
            .filter(|_| standing.continuing.is_none())
            .map(|c| c.alias),
    })
}

/// The upload: to the form with the token and the conversation it opens, or, written
/// again, to the conversation, signed over its bytes with the conversation's key.
async fn upload_to_portal(
    page: &FormPage,
    typed: &Typed,
    standing: Standing<'_>,
    conversation: Option<&Conversation>,
    upload: &web_sys::Blob,
    progress: impl Fn(Progress) + 'static,
) -> Result<Accepted, Problem> {
    let mut headers: Vec<(&str, String)> = Vec::new();
    if typed.confirmation {
        headers.push((wire::CONFIRMATION_HEADER, "1".to_owned()));
    }
    let url = match standing.continuing {
        Some(continuing) => {
            let bytes = wasm_bindgen_futures::JsFuture::from(upload.array_buffer())
                .await
                .map_err(|_| Problem::Encryption)?;
            let digest = smime::webcrypto::sha256(&js_sys::Uint8Array::new(&bytes))
                .await
                .map_err(|_| Problem::Encryption)?;
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let statement = wire::message_statement(&continuing.alias, &hex);
            let signature = crate::conversation::sign_statement(&continuing.alias, &statement)
                .await
                .map_err(|_| Problem::NoKey)?;
            headers.push((wire::SIGNATURE_HEADER, signature));
            format!("/api/conversations/{}/messages", continuing.alias)
        }
        None => {
            if let Some(token) = standing.token {
                headers.push((wire::TOKEN_HEADER, token.token.clone()));
            }
            if let Some(conversation) = conversation {
                headers.push((wire::CONVERSATION_HEADER, conversation.alias.clone()));
            }
            format!("/api/submissions/{}", page.slug)
        }
    };
    api::upload::<Accepted>(&url, upload, &headers, move |sent, total| {
        if total > 0.0 {
            progress(Progress::Uploading(sent / total));
        }
    })
    .await
    .map_err(Problem::Refused)
}

thread_local! {
    /// The portal's trust anchors by URL, as fetched for this page: public, and the same
    /// for every form, so fetched once, when the form opens, not on the way to sending.
    static ANCHORS: std::cell::RefCell<std::collections::HashMap<String, String>> =
        Default::default();
}

/// How long the anchors' fetch gets, per attempt: a small public file, but WebKitGTK has,
/// rarely, left a request pending for good.
const ANCHORS_WITHIN_MS: i32 = 8_000;

/// Fetches the anchors the form's certificates are checked against, ahead of sending.
pub fn fetch_anchors_ahead(page: &FormPage) {
    if let Some(delivery) = &page.delivery {
        let url = delivery.trust_anchors.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = anchors(&url, ANCHORS_WITHIN_MS).await;
        });
    }
}

/// The anchors at `url`; a fetch that fails or does not answer in time is made once more.
async fn anchors(url: &str, within_ms: i32) -> Result<String, Problem> {
    if let Some(pem) = ANCHORS.with_borrow(|all| all.get(url).cloned()) {
        return Ok(pem);
    }
    for _attempt in 0..2 {
        let deadline = smime::webcrypto::Deadline::after(within_ms);
        if let Some(pem) = api::get_text(url, &deadline).await {
            ANCHORS.with_borrow_mut(|all| all.insert(url.to_owned(), pem.clone()));
            return Ok(pem);
        }
    }
    Err(Problem::Certificate)
}

/// Checks the form's certificates against `anchors_pem` at `now` and encrypts the message
/// to all of them, signed first for a `conversation`; no network but the signature's
/// module.
pub async fn encrypt(
    page: &FormPage,
    typed: &Typed,
    standing: Standing<'_>,
    conversation: Option<&Conversation>,
    anchors_pem: &str,
    now: u64,
    progress: impl Fn(Progress),
) -> Result<web_sys::Blob, Problem> {
    let delivery = page.delivery.as_ref().ok_or(Problem::Certificate)?;
    let anchors = parse_certificates(anchors_pem.as_bytes()).map_err(|_| Problem::Certificate)?;
    let decode = |b64: &String| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|der| parse_certificates(&der).ok())
            .and_then(|mut c| c.pop())
    };
    let intermediates: Vec<_> = delivery.intermediates.iter().filter_map(decode).collect();
    let certificates = delivery
        .certificates
        .iter()
        .map(|published| decode(&published.der).ok_or(Problem::Certificate))
        .collect::<Result<Vec<_>, _>>()?;
    // The chains' signatures are verified by WebCrypto: ECDSA because the app is built
    // without Rust's, RSA because it is many times faster there. The check below trusts
    // exactly those that held and verifies any other itself.
    let verified_elsewhere = smime::webcrypto::verify_signatures(
        &smime::certificate::webcrypto_signatures(&certificates, &anchors, &intermediates),
    )
    .await;
    let mut recipients = Vec::new();
    for certificate in certificates {
        let verdict = check_encryption_certificate(
            &certificate,
            &CheckContext {
                now,
                mailbox: &delivery.mailbox,
                anchors: &anchors,
                intermediates: &intermediates,
                verified_elsewhere: &verified_elsewhere,
            },
        );
        if !verdict.is_ok() {
            return Err(Problem::Certificate);
        }
        recipients.push(
            smime::envelope::Recipient::from_certificate(&certificate)
                .map_err(|_| Problem::Certificate)?,
        );
    }
    if recipients.is_empty() {
        return Err(Problem::Certificate);
    }
    let algorithms = page
        .policy
        .as_ref()
        .map(|p| smime::envelope::Algorithms {
            content: p.content_encryption,
            key_transport: p.key_transport,
        })
        .unwrap_or_default();
    progress(Progress::Encrypting(0.0));
    let attachments = attachments(typed);
    let message = message(page, typed, standing, conversation, now, &attachments);
    let signer;
    let mut entity;
    let content = match conversation {
        Some(conversation) => {
            signer = crate::conversation::signer(conversation.alias.clone(), now);
            entity = smime::mime::Entity::signed(&message, conversation.signature_length);
            smime::webcrypto::Content::Signed(&mut entity, &*signer)
        }
        None => {
            entity = smime::mime::Entity::new(&message);
            smime::webcrypto::Content::Entity(&mut entity)
        }
    };
    smime::webcrypto::encrypt_to_blob(
        &recipients,
        algorithms,
        content,
        PIECE_BYTES,
        &mut rand_core::OsRng,
        |done, total| progress(Progress::Encrypting(done as f64 / total.max(1) as f64)),
    )
    .await
    .map_err(|_| Problem::Encryption)
}

/// The attachments as the entity reads them: from JavaScript.
fn attachments(typed: &Typed) -> Vec<smime::mime::Attachment<'_>> {
    typed
        .attachments
        .iter()
        .map(|a| smime::mime::Attachment {
            file_name: &a.name,
            media_type: a.media_type,
            content: smime::mime::Body::Source(&a.content),
            sha256: a.sha256,
        })
        .collect()
}

/// The citizen's copy of the entity for what was typed, as a Blob made a piece at a time
/// (of a signed message: the part that was signed).
fn entity_copy(
    page: &FormPage,
    typed: &Typed,
    standing: Standing<'_>,
    conversation: Option<&Conversation>,
    now: u64,
) -> Result<web_sys::Blob, Problem> {
    let attachments = attachments(typed);
    let message = message(page, typed, standing, conversation, now, &attachments);
    let mut entity = smime::mime::Entity::new(&message);
    smime::webcrypto::entity_blob(&mut entity, "message/rfc822").map_err(|_| Problem::Encryption)
}

/// Bytes of the entity made and encrypted in one go, and so the size of its buffer in wasm
/// memory, whatever is attached. Chromium runs WebCrypto's AES on the calling thread with
/// a cost per call: 4 MiB pieces took 178 ms for the largest upload where 1 MiB took 241.
const PIECE_BYTES: usize = 4 << 20;

/// The message for what was typed, addressed to the form. Written again in a
/// conversation, its address is the conversation's alias (the citizen's own stays with
/// the portal), and it names what it answers.
fn message<'a>(
    page: &'a FormPage,
    typed: &'a Typed,
    standing: Standing<'a>,
    conversation: Option<&'a Conversation>,
    now: u64,
    attachments: &'a [smime::mime::Attachment<'a>],
) -> smime::mime::Message<'a> {
    let continuing = standing.continuing;
    smime::mime::Message {
        form: &page.slug,
        unit: page.unit.as_ref().map(|u| u.slug.as_str()),
        recipient: &page.title,
        sender_name: &typed.name,
        sender_email: continuing.map_or(&typed.email, |c| &c.alias),
        email_verified: standing.token.is_some(),
        answer_address: conversation.map(|c| c.alias.as_str()),
        thread: continuing.map(|c| smime::mime::Thread {
            in_reply_to: &c.thread.in_reply_to,
            references: &c.thread.references,
        }),
        sender_phone: typed.phone.as_deref(),
        subject: &typed.subject,
        reference: typed.reference.as_deref(),
        text: &typed.message,
        submitted_at: now,
        attachments,
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline in a real browser: what it uploads decrypts, with the recipient's key,
    //! to exactly the entity it reports, naming what was typed; a certificate that fails the
    //! check here stops it before anything is encrypted.

    use super::*;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_test::wasm_bindgen_test as test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    const CERT: &str = include_str!("../../smime/tests/fixtures/browser-test.pem");
    const KEY: &str = include_str!("../../smime/tests/fixtures/browser-test.key.pem");
    const MAILBOX: &str = "poststelle@browser-test.example";
    /// 2027-01-01, within the fixture's validity.
    const NOW: u64 = 1_798_761_600;

    fn page(mailbox: &str) -> FormPage {
        let certificate = parse_certificates(CERT.as_bytes()).unwrap().remove(0);
        let der = der::Encode::to_der(&certificate).unwrap();
        serde_json::from_value(serde_json::json!({
            "slug": "browser-test",
            "title": "Browser Test",
            "available": true,
            "reasons": [],
            "authority": {
                "slug": "browser-test", "name": "Browser Test", "street": "Weg 1",
                "postal_code": "12345", "place": "Testort", "website": null,
                "representative": null, "content_responsible": null,
                "data_protection_officer": null, "vat_id": null
            },
            "unit": null,
            "contact": {
                "name": "Browser Test", "street": "Weg 1", "postal_code": "12345",
                "place": "Testort", "phone": null, "email": null, "website": null
            },
            "delivery": {
                "mailbox": mailbox,
                "via_authority": null,
                "certificates": [{
                    "der": base64::engine::general_purpose::STANDARD.encode(der),
                    "sha256_fingerprint": "", "subject": "", "issuer": "",
                    "not_before": "", "not_after": ""
                }],
                "intermediates": [],
                "trust_anchors": "/unused"
            },
            "policy": {
                "allowed_types": ["pdf", "png"], "mailbox_limit_bytes": 10_000_000,
                "verify_email": true, "reply_to_verified": true,
                "content_encryption": "aes256-cbc", "key_transport": "rsa-pkcs1v15"
            },
            "max_upload_bytes": 7_000_000,
            "embed": { "link": "", "snippet": "", "allowed_origins": [] },
            "privacy": { "retention_days": 30 }
        }))
        .unwrap()
    }

    /// A PNG of more than one piece, so that the entity is made and encrypted in several.
    fn png() -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend((0..2_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        png
    }

    fn typed() -> Typed {
        let png = png();
        Typed {
            attachments: vec![Attached {
                name: "Grundriß.png".into(),
                media_type: "image/png",
                content: smime::webcrypto::JsBytes(js_sys::Uint8Array::from(&png[..])),
                sha256: smime::mime::Attachment::new("", "", &png).sha256,
            }],
            name: "Erika Mustermann".into(),
            email: "erika@example.org".into(),
            phone: None,
            subject: "Bauantrag".into(),
            reference: Some("AZ 12/2026".into()),
            message: "Sehr geehrte Damen und Herren, anbei der Grundriss.".into(),
            confirmation: false,
            answers: false,
        }
    }

    fn token() -> Token {
        Token {
            token: "t".into(),
            expires_at: NOW + 3600,
            address: "erika@example.org".into(),
        }
    }

    fn verified(token: &Token) -> Standing<'_> {
        Standing {
            token: Some(token),
            continuing: None,
        }
    }

    async fn bytes_of(blob: &web_sys::Blob) -> Vec<u8> {
        let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
            .await
            .unwrap();
        js_sys::Uint8Array::new(&buffer).to_vec()
    }

    /// The bodies of the entity's parts, base64 decoded: the text, the form record, the files.
    fn decoded_parts(entity: &[u8]) -> Vec<Vec<u8>> {
        let entity = String::from_utf8(entity.to_vec()).unwrap();
        let boundary = "--=_postsiegel_part_boundary_=";
        entity
            .split(boundary)
            .skip(1)
            .filter(|part| !part.starts_with("--"))
            .map(|part| {
                let (_, body) = part.split_once("\r\n\r\n").unwrap();
                let body: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap()
            })
            .collect()
    }

    #[test]
    async fn uploads_only_ciphertext_that_decrypts_to_what_was_typed() {
        let steps = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = steps.clone();
        let token = token();
        let encrypted = encrypt(
            &page(MAILBOX),
            &typed(),
            verified(&token),
            None,
            CERT,
            NOW,
            move |p| seen.borrow_mut().push(p),
        )
        .await
        .unwrap();
        let der = bytes_of(&encrypted).await;
        let certificate = parse_certificates(CERT.as_bytes()).unwrap().remove(0);
        let inspection = smime::inspect::inspect(&der).unwrap();
        assert!(inspection.addressed_exactly_to(std::slice::from_ref(&certificate)));
        assert_eq!(inspection.total_len, der.len() as u64);
        let plain = smime::testing::decrypt_cbc(&der, KEY);
        // The citizen's copy, made again once the upload is in, is what was encrypted.
        let typed = typed();
        let copy = entity_copy(&page(MAILBOX), &typed, verified(&token), None, NOW).unwrap();
        assert!(plain == bytes_of(&copy).await, "the copy differs");
        // Made piece by piece from bytes left in JavaScript, the entity is byte for byte
        // the one `smime::mime::compose` makes in one buffer.
        let png = png();
        let attachments = [smime::mime::Attachment::new(
            &typed.attachments[0].name,
            "image/png",
            &png,
        )];
        let page = page(MAILBOX);
        let whole = smime::mime::compose(&message(
            &page,
            &typed,
            verified(&token),
            None,
            NOW,
            &attachments,
        ));
        assert!(plain == whole, "the pieces differ from the whole");
        let parts = decoded_parts(&plain);
        let text = String::from_utf8_lossy(&parts[0]);
        for typed in [
            "Erika Mustermann",
            "erika@example.org",
            "AZ 12/2026",
            "anbei der Grundriss",
        ] {
            assert!(text.contains(typed), "{typed} missing from the text part");
        }
        assert!(parts[2] == png);
        assert!(String::from_utf8_lossy(&plain).contains("Grundri%C3%9F.png"));
        // Nothing readable of the message in what goes up.
        let clear = String::from_utf8_lossy(&der);
        assert!(!clear.contains("Erika") && !clear.contains("Bauantrag"));
        let steps = steps.borrow();
        assert_eq!(steps.first(), Some(&Progress::Encrypting(0.0)));
        assert_eq!(steps.last(), Some(&Progress::Encrypting(1.0)));
    }

    #[test]
    async fn a_certificate_that_fails_the_check_here_stops_it_before_encryption() {
        let other_ca = include_str!("../../smime/tests/fixtures/ecdsa-chain.pem");
        let cases = [
            (page(MAILBOX), other_ca, NOW, "not chained to the anchors"),
            (
                page("wer-anders@example.org"),
                CERT,
                NOW,
                "for another mailbox",
            ),
            (page(MAILBOX), CERT, NOW + 20 * 365 * 86_400, "expired"),
            (page(MAILBOX), "", NOW, "no anchors at all"),
        ];
        for (page, anchors, now, case) in cases {
            let encrypting = std::rc::Rc::new(std::cell::Cell::new(false));
            let seen = encrypting.clone();
            let token = token();
            let result = encrypt(
                &page,
                &typed(),
                verified(&token),
                None,
                anchors,
                now,
                move |p| seen.set(seen.get() || matches!(p, Progress::Encrypting(_))),
            )
            .await;
            assert!(matches!(result, Err(Problem::Certificate)), "{case}");
            assert!(!encrypting.get(), "{case}: encryption started");
        }
    }

    /// An anchors' fetch that does not answer (WebKitGTK, rarely, has left one pending for
    /// good) is made once more; one that never answers ends in the certificate problem the
    /// form shows, not in a send that waits for ever.
    #[test]
    async fn an_anchors_fetch_that_never_answers_is_made_again_then_ends_in_the_certificate_problem()
     {
        let url = "data:text/plain,-----BEGIN%20CERTIFICATE-----";
        let restore = hang_fetches(1.0);
        let fetched = anchors(url, 300).await;
        restore.call0(&JsValue::NULL).unwrap();
        assert_eq!(fetched.unwrap(), "-----BEGIN CERTIFICATE-----");

        ANCHORS.with_borrow_mut(|all| all.clear());
        let restore = hang_fetches(f64::INFINITY);
        let fetched = anchors(url, 300).await;
        restore.call0(&JsValue::NULL).unwrap();
        assert!(matches!(fetched, Err(Problem::Certificate)), "{fetched:?}");
    }

    /// Makes the next `count` calls of `fetch` return promises that never settle; gives
    /// the function that puts `fetch` back.
    fn hang_fetches(count: f64) -> js_sys::Function {
        js_sys::Function::new_with_args(
            "count",
            "const original = fetch;
             let left = count;
             globalThis.fetch = function (...args) {
               if (left > 0) { left -= 1; return new Promise(() => {}); }
               return original.apply(this, args);
             };
             return () => { globalThis.fetch = original; };",
        )
        .call1(&JsValue::NULL, &count.into())
        .unwrap()
        .unchecked_into()
    }

    #[test]
    async fn a_message_written_again_names_the_alias_and_what_it_answers() {
        let continuing = Continuing {
            alias: "antwort-abc@antwort.example".into(),
            thread: wire::Thread {
                in_reply_to: "bescheid@lra.example".into(),
                references: vec!["erste@portal.example".into(), "bescheid@lra.example".into()],
            },
        };
        let standing = Standing {
            token: None,
            continuing: Some(&continuing),
        };
        let mut typed = typed();
        typed.email = String::new();
        let encrypted = encrypt(&page(MAILBOX), &typed, standing, None, CERT, NOW, |_| {})
            .await
            .unwrap();
        let plain = smime::testing::decrypt_cbc(&bytes_of(&encrypted).await, KEY);
        let head = String::from_utf8_lossy(&plain);
        let head = head.split("\r\n\r\n").next().unwrap();
        assert!(
            head.contains("In-Reply-To: <bescheid@lra.example>\r\n"),
            "{head}"
        );
        assert!(
            head.contains("References: <erste@portal.example>\r\n <bescheid@lra.example>\r\n"),
            "{head}"
        );
        let text = String::from_utf8_lossy(&decoded_parts(&plain)[0]).into_owned();
        assert!(
            text.contains("antwort-abc@antwort.example (Antwortadresse der Unterhaltung)"),
            "{text}"
        );
    }
}
