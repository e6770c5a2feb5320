//! Writing and sending: the fields, the e-mail verification, and encryption in the browser.
//! Nothing leaves the browser unencrypted: the certificates are checked here against the
//! trust anchors, the MIME entity is built and encrypted here, only ciphertext is uploaded.

use base64::Engine;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use crate::api::{self, Accepted, FormPage, Refusal, Token};
use crate::browser::{focus, storage};
use crate::display::use_display;
use crate::i18n::{Lang, format, text, use_lang};

/// Where sending is; the bars show the fraction done (0 to 1).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Progress {
    Checking,
    Encrypting(f64),
    Uploading(f64),
}

/// What the citizen keeps after sending: the receipt, and a copy of exactly what was
/// encrypted (the MIME entity), made here, to save as an .eml file.
#[derive(Clone)]
struct Sent {
    accepted: Accepted,
    copy_url: String,
}

/// A `blob:` URL for the entity; it lives as long as the page.
fn copy_of(entity: &[u8]) -> Option<String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(entity));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("message/rfc822");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

fn files_of(list: &web_sys::FileList) -> Vec<web_sys::File> {
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

fn token_key(slug: &str) -> String {
    format!("postsiegel-token:{slug}")
}

/// Keeps the token on this device; only when the citizen ticked "remember".
fn remember_token(slug: &str, token: &Token) {
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(token)) {
        let _ = storage.set_item(&token_key(slug), &json);
    }
}

fn remembered_token(slug: &str) -> Option<Token> {
    let storage = storage()?;
    let json = storage.get_item(&token_key(slug)).ok().flatten()?;
    let token: Token = serde_json::from_str(&json).ok()?;
    if token.expires_at > now() {
        Some(token)
    } else {
        let _ = storage.remove_item(&token_key(slug));
        None
    }
}

/// How a refusal from the server reads for the citizen.
fn word(lang: Lang, refusal: &Refusal) -> String {
    let key = format!("error_{}", refusal.code);
    let attempts = refusal
        .params
        .get("attempts_left")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let worded = format(lang, &key, &[("attempts_left", &attempts)]);
    if worded == key {
        text(lang, "error_send")
    } else {
        worded
    }
}

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// An attachment that passed the checks.
#[derive(Clone)]
struct Attached {
    name: String,
    media_type: &'static str,
    bytes: std::sync::Arc<Vec<u8>>,
}

/// What an upload of this text and these files will weigh, generously: the entity's base64
/// (4/3 plus line breaks), its headers, the CMS around it.
fn upload_estimate(text_len: usize, files: &[Attached]) -> u64 {
    let base64 = |n: usize| (n.div_ceil(3) * 4) as u64 * 78 / 76 + 4;
    let files: u64 = files.iter().map(|f| base64(f.bytes.len()) + 600).sum();
    8_000 + base64(text_len) * 2 + files
}

fn megabytes(lang: Lang, bytes: u64) -> String {
    // In integers: float formatting would add kilobytes to the download.
    let tenths = (bytes + 50_000) / 100_000;
    let number = format!("{}.{}", tenths / 10, tenths % 10);
    match lang {
        Lang::De => number.replace('.', ","),
        Lang::En => number,
    }
}

#[derive(Clone, Copy)]
struct Field {
    value: RwSignal<String>,
    error: RwSignal<Option<String>>,
}

impl Field {
    fn new() -> Field {
        Field {
            value: RwSignal::new(String::new()),
            error: RwSignal::new(None),
        }
    }
}

/// One labelled field, its error next to it and announced.
fn field(id: &'static str, label: &'static str, field: Field, multiline: bool) -> impl IntoView {
    let lang = use_lang();
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    let input = if multiline {
        view! {
            <textarea
                id=id
                rows="8"
                aria-invalid=move || field.error.get().is_some().to_string()
                aria-describedby=described.clone()
                prop:value=move || field.value.get()
                on:input=move |e| field.value.set(event_target_value(&e))
            ></textarea>
        }
        .into_any()
    } else {
        view! {
            <input
                id=id
                type=if id == "phone" { "tel" } else { "text" }
                autocomplete=match id {
                    "name" => "name",
                    "phone" => "tel",
                    "code" => "one-time-code",
                    _ => "off",
                }
                aria-invalid=move || field.error.get().is_some().to_string()
                aria-describedby=described.clone()
                prop:value=move || field.value.get()
                on:input=move |e| field.value.set(event_target_value(&e))
            />
        }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{move || text(lang.get(), label)}</label>
            {input}
            <p id=error_id class="field-error" role="alert">
                {move || field.error.get()}
            </p>
        </div>
    }
}

#[component]
pub fn Write(page: FormPage) -> impl IntoView {
    let lang = use_lang();
    let name = Field::new();
    let email = Field::new();
    let phone = Field::new();
    let subject = Field::new();
    let reference = Field::new();
    let message = Field::new();
    // Fail closed: without WebCrypto in a secure context nothing can be encrypted here.
    let secure = web_sys::window().is_some_and(|w| w.is_secure_context())
        && smime::webcrypto::subtle().is_ok();
    let code = Field::new();
    let code_sent = RwSignal::new(false);
    // A token remembered on this device (only when the citizen asked for it), if still valid.
    let remembered = remembered_token(&page.slug);
    let token: RwSignal<Option<Token>> = RwSignal::new(remembered);
    let remember = RwSignal::new(false);
    let sending = RwSignal::new(false);
    let location = expect_context::<crate::routes::Location>();
    let progress = RwSignal::new(Progress::Checking);
    let send_error: RwSignal<Option<String>> = RwSignal::new(None);
    let accepted: RwSignal<Option<Sent>> = RwSignal::new(None);
    // Leaving mid-way sends nothing (the upload is one request, refused unless whole); the
    // browser asks first, so that nobody loses a message by a slip.
    let leaving = window_event_listener(leptos::ev::beforeunload, move |event| {
        if sending.get_untracked() {
            event.prevent_default();
            // Some browsers ask only when this is not empty; none shows the text.
            event.set_return_value("sending");
        }
    });
    on_cleanup(move || leaving.remove());
    let renewed: RwSignal<Option<String>> = RwSignal::new(None);
    let files: RwSignal<Vec<Attached>> = RwSignal::new(Vec::new());
    let file_errors: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    let allowed = page
        .policy
        .as_ref()
        .map(|p| p.allowed_types.clone())
        .unwrap_or_default();
    let max_upload = page.max_upload_bytes.unwrap_or(0);
    let verify_email = page.policy.as_ref().is_none_or(|p| p.verify_email);
    // Stored, so that the handlers below are Copy and can be used in every re-render.
    let page = StoredValue::new(page);
    let stored_page = page;

    let request_code = move |_| {
        let address = email.value.get_untracked();
        let body =
            serde_json::json!({ "form": page.with_value(|p| p.slug.clone()), "address": address })
                .to_string();
        spawn_local(async move {
            email.error.set(None);
            let answer: Result<serde_json::Value, Refusal> = api::post(
                "/api/verification/code",
                "application/json",
                &JsValue::from_str(&body),
                None,
            )
            .await;
            match answer {
                Ok(_) => code_sent.set(true),
                Err(refusal) => email.error.set(Some(word(lang.get_untracked(), &refusal))),
            }
        });
    };
    let confirm_code = move |_| {
        let slug = page.with_value(|p| p.slug.clone());
        let body = serde_json::json!({
            "form": slug,
            "address": email.value.get_untracked(),
            "code": code.value.get_untracked(),
            "remember": remember.get_untracked(),
        })
        .to_string();
        spawn_local(async move {
            code.error.set(None);
            match api::post::<Token>(
                "/api/verification/confirm",
                "application/json",
                &JsValue::from_str(&body),
                None,
            )
            .await
            {
                Ok(confirmed) => {
                    email.error.set(None);
                    if remember.get_untracked() {
                        remember_token(&slug, &confirmed);
                    }
                    token.set(Some(confirmed));
                }
                Err(refusal) => code.error.set(Some(word(lang.get_untracked(), &refusal))),
            }
        });
    };

    // What the form accepts, as citizens know the kinds: "PDF, JPEG, PNG, Word (DOCX)".
    let allowed_names = allowed
        .iter()
        .map(|kind| match kind {
            smime::files::FileType::Pdf => "PDF",
            smime::files::FileType::Jpg => "JPEG",
            smime::files::FileType::Png => "PNG",
            smime::files::FileType::Docx => "Word (DOCX)",
            smime::files::FileType::Odt => "OpenDocument (ODT)",
            smime::files::FileType::Txt => "Text (TXT)",
        })
        .collect::<Vec<_>>()
        .join(", ");
    let allowed_names = StoredValue::new(allowed_names);
    let allowed = StoredValue::new(allowed);
    // Files picked or dropped go through the same checks.
    let add_files = move |picked: Vec<web_sys::File>| {
        spawn_local(async move {
            let lang = lang.get_untracked();
            let mut errors = Vec::new();
            for file in picked {
                let name = file.name();
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await
                else {
                    continue;
                };
                let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                let policy = smime::files::FilePolicy {
                    allowed: allowed.get_value(),
                };
                match smime::files::check_file(&bytes, &policy) {
                    Err(refusal) => errors.push(format(
                        lang,
                        "file_refused",
                        &[("name", &name), ("reason", &text(lang, refusal.code()))],
                    )),
                    Ok(kind) => {
                        let candidate = Attached {
                            name: name.clone(),
                            media_type: kind.media_type(),
                            bytes: std::sync::Arc::new(bytes),
                        };
                        let mut all = files.get_untracked();
                        all.push(candidate);
                        let text_len = message.value.get_untracked().len();
                        if upload_estimate(text_len, &all) > max_upload {
                            errors.push(format(lang, "file_too_large", &[("name", &name)]));
                        } else {
                            files.set(all);
                        }
                    }
                }
            }
            file_errors.set(errors);
        });
    };

    let pick_files = move |event: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let input: web_sys::HtmlInputElement = event.target().expect("an input").unchecked_into();
        let picked = input
            .files()
            .map(|list| files_of(&list))
            .unwrap_or_default();
        input.set_value("");
        add_files(picked);
    };
    let drop_files = move |event: leptos::ev::DragEvent| {
        event.prevent_default();
        let picked = event
            .data_transfer()
            .and_then(|transfer| transfer.files())
            .map(|list| files_of(&list))
            .unwrap_or_default();
        add_files(picked);
    };

    let send = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let lang_now = lang.get_untracked();
        let mut complete = true;
        for field in [name, email, subject, message] {
            let empty = field.value.get_untracked().trim().is_empty();
            field
                .error
                .set(empty.then(|| text(lang_now, "error_required")));
            complete &= !empty;
        }
        if verify_email && token.get_untracked().is_none() && complete {
            email
                .error
                .set(Some(text(lang_now, "error_email_unverified")));
            complete = false;
        }
        if !complete {
            // To the first field in error, so that keyboard and screen-reader users land there.
            let first = [
                ("name", name),
                ("email", email),
                ("subject", subject),
                ("message", message),
            ]
            .into_iter()
            .find(|(_, f)| f.error.get_untracked().is_some());
            if let Some((id, _)) = first {
                focus(&format!("#{id}"));
            }
            return;
        }
        let page = page.get_value();
        location.hold(true);
        sending.set(true);
        progress.set(Progress::Checking);
        send_error.set(None);
        spawn_local(async move {
            let optional = |field: Field| {
                let value = field.value.get_untracked();
                (!value.trim().is_empty()).then_some(value)
            };
            let attachments = files.get_untracked();
            let typed = Typed {
                attachments,
                name: name.value.get_untracked(),
                email: email.value.get_untracked(),
                phone: optional(phone),
                subject: subject.value.get_untracked(),
                reference: optional(reference),
                message: message.value.get_untracked(),
            };
            let mut result = encrypt_and_send(&page, &typed, token.get_untracked(), progress).await;
            // The certificate changed since the page was loaded: fetch the form again, say
            // so, and encrypt for the new certificate, keeping everything typed.
            let changed =
                matches!(&result, Err(Problem::Refused(r)) if r.code == "certificate_changed");
            if changed
                && let Ok(fresh) = api::get::<FormPage>(&format!("/api/forms/{}", page.slug)).await
                && fresh.available
            {
                let fingerprints = fresh
                    .delivery
                    .iter()
                    .flat_map(|d| &d.certificates)
                    .map(|c| c.sha256_fingerprint.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                renewed.set(Some(fingerprints));
                result = encrypt_and_send(&fresh, &typed, token.get_untracked(), progress).await;
                stored_page.set_value(fresh);
            }
            sending.set(false);
            location.hold(false);
            match result {
                Ok((receipt, entity)) => {
                    accepted.set(Some(Sent {
                        accepted: receipt,
                        copy_url: copy_of(&entity).unwrap_or_default(),
                    }));
                    // The form is gone: focus moves to the receipt that replaced it.
                    request_animation_frame(|| focus(".receipt"));
                }
                Err(problem) => {
                    send_error.set(Some(problem.words(lang.get_untracked())));
                    // The button was disabled while sending and lost the focus: take it to
                    // what went wrong.
                    request_animation_frame(|| focus("#send-error"));
                }
            }
        });
    };

    view! {
        {move || match accepted.get() {
            Some(receipt) => view! {
                {move || renewed.get().map(|fingerprints| view! {
                    <p class="note">
                        {format(lang.get(), "certificate_renewed", &[("fingerprints", &fingerprints)])}
                    </p>
                })}
                {receipt_view(lang, receipt)}
            }
                .into_any(),
            None => view! {
                <form class="write" on:submit=send novalidate>
                    <h2>{move || text(lang.get(), "write_heading")}</h2>
                    {field("name", "field_name", name, false)}
                    <div class="field">
                        <label for="email">{move || text(lang.get(), "field_email")}</label>
                        <p id="email-hint" class="hint">
                            {move || text(lang.get(), "field_email_hint")}
                        </p>
                        <input
                            id="email"
                            type="email"
                            autocomplete="email"
                            aria-describedby="email-hint email-error"
                            aria-invalid=move || email.error.get().is_some().to_string()
                            prop:value=move || email.value.get()
                            prop:readOnly=move || token.get().is_some()
                            on:input=move |e| email.value.set(event_target_value(&e))
                        />
                        <p id="email-error" class="field-error" role="alert">
                            {move || email.error.get()}
                        </p>
                        {move || match token.get() {
                            Some(t) => view! {
                                <p class="verified">
                                    {format(lang.get(), "email_verified", &[("address", &t.address)])}
                                </p>
                            }
                                .into_any(),
                            None => view! {
                                <button type="button" on:click=request_code>
                                    {move || text(lang.get(), "email_send_code")}
                                </button>
                                <Show when=move || code_sent.get()>
                                    <p class="note" role="status">
                                        {move || format(
                                            lang.get(),
                                            "email_code_sent",
                                            &[("address", &email.value.get())],
                                        )}
                                    </p>
                                    {field("code", "field_code", code, false)}
                                    <div class="check">
                                        <input
                                            id="remember"
                                            type="checkbox"
                                            prop:checked=move || remember.get()
                                            on:change=move |e| remember.set(event_target_checked(&e))
                                        />
                                        <label for="remember">{move || text(lang.get(), "remember")}</label>
                                    </div>
                                    <button type="button" on:click=confirm_code>
                                        {move || text(lang.get(), "email_confirm")}
                                    </button>
                                </Show>
                            }
                                .into_any(),
                        }}
                    </div>
                    {field("phone", "field_phone", phone, false)}
                    {field("subject", "field_subject", subject, false)}
                    {field("reference", "field_reference", reference, false)}
                    {field("message", "field_message", message, true)}
                    <div
                        class="field files"
                        on:dragover=|event: leptos::ev::DragEvent| event.prevent_default()
                        on:drop=drop_files
                    >
                        <label for="files">{move || text(lang.get(), "field_files")}</label>
                        <p id="files-hint" class="hint">
                            {move || allowed_names.with_value(|types| format(lang.get(), "field_files_hint", &[("types", types)]))}
                        </p>
                        <input
                            id="files"
                            type="file"
                            multiple
                            aria-describedby="files-hint files-budget files-error"
                            on:change=pick_files
                        />
                        <p class="hint">{move || text(lang.get(), "files_drop")}</p>
                        <ul class="attached">
                            {move || {
                                files
                                    .get()
                                    .into_iter()
                                    .enumerate()
                                    .map(|(index, file)| {
                                        let label = format(lang.get(), "file_remove", &[("name", &file.name)]);
                                        view! {
                                            <li>
                                                <span class="file-name">{file.name.clone()}</span>
                                                <button
                                                    type="button"
                                                    aria-label=label
                                                    on:click=move |_| files.update(|all| { all.remove(index); })
                                                >
                                                    "×"
                                                </button>
                                            </li>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </ul>
                        <p id="files-budget" class="budget">
                            {move || {
                                let used = upload_estimate(message.value.get().len(), &files.get());
                                format(
                                    lang.get(),
                                    "budget",
                                    &[
                                        ("used", &megabytes(lang.get(), used)),
                                        ("max", &megabytes(lang.get(), max_upload)),
                                    ],
                                )
                            }}
                        </p>
                        <ul id="files-error" class="field-error" role="alert">
                            {move || file_errors.get().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}
                        </ul>
                    </div>
                    <p id="send-error" class="field-error" role="alert" tabindex="-1">
                        {move || send_error.get()}
                    </p>
                    {move || renewed.get().map(|fingerprints| view! {
                        <p class="note" role="status">
                            {format(lang.get(), "certificate_renewed", &[("fingerprints", &fingerprints)])}
                        </p>
                    })}
                    {(!secure).then(|| view! {
                        <p class="error insecure" role="alert">{move || text(lang.get(), "insecure")}</p>
                    })}
                    <button type="submit" class="send" disabled=move || sending.get() || !secure>
                        {move || {
                            if sending.get() { text(lang.get(), "sending") } else { text(lang.get(), "send") }
                        }}
                    </button>
                    // Always in the page, so that screen readers announce each step.
                    <p class="progress-step" role="status">
                        {move || sending.get().then(|| text(lang.get(), progress_step(progress.get())))}
                    </p>
                    <Show when=move || sending.get()>
                        {progress_view(lang, progress)}
                    </Show>
                </form>
            }
                .into_any(),
        }}
    }
}

/// The words for a step of sending (announced once per step, not every percent).
fn progress_step(progress: Progress) -> &'static str {
    match progress {
        Progress::Checking => "progress_checking",
        Progress::Encrypting(_) => "progress_encrypting",
        Progress::Uploading(_) => "progress_uploading",
    }
}

/// The two bars.
fn progress_view(lang: RwSignal<Lang>, progress: RwSignal<Progress>) -> impl IntoView {
    let percent = |fraction: f64| ((fraction * 100.0).clamp(0.0, 100.0) as u32).to_string();
    let encrypted = move || match progress.get() {
        Progress::Checking => 0.0,
        Progress::Encrypting(f) => f,
        Progress::Uploading(_) => 1.0,
    };
    let uploaded = move || match progress.get() {
        Progress::Uploading(f) => f,
        _ => 0.0,
    };
    view! {
        <div class="progress">
            <label for="encrypt-progress">{move || text(lang.get(), "progress_encrypt_label")}</label>
            <progress id="encrypt-progress" max="100" value=move || percent(encrypted())></progress>
            <label for="upload-progress">{move || text(lang.get(), "progress_upload_label")}</label>
            <progress id="upload-progress" max="100" value=move || percent(uploaded())></progress>
        </div>
    }
}

fn receipt_view(lang: RwSignal<Lang>, sent: Sent) -> impl IntoView {
    let receipt = sent.accepted;
    let status = format!("/status/{}", receipt.status_token);
    let copy_name = format!(
        "{}-{}.eml",
        text(lang.get_untracked(), "receipt_copy_file"),
        receipt.receipt
    );
    // A framed form never leads elsewhere: the status opens in a window of its own.
    let embedded = use_display().embedded;
    view! {
        // Focused when it appears, which reads it out; no live region besides.
        <section class="receipt" tabindex="-1">
            <h2>{move || text(lang.get(), "receipt_heading")}</h2>
            <p>
                {move || text(lang.get(), "receipt_number")} ": "
                <strong class="receipt-number">{receipt.receipt}</strong>
            </p>
            <p>{move || text(lang.get(), "receipt_next")}</p>
            <p>
                <a href=status target=embedded.then_some("_blank") rel="noopener">
                    {move || text(lang.get(), "receipt_status_link")}
                    {move || embedded.then(|| format!(" {}", text(lang.get(), "opens_new_window")))}
                </a>
            </p>
            {(!sent.copy_url.is_empty()).then(|| view! {
                <p>
                    <a class="copy" href=sent.copy_url download=copy_name>
                        {move || text(lang.get(), "receipt_copy")}
                    </a>
                </p>
                <p class="hint">{move || text(lang.get(), "receipt_copy_hint")}</p>
            })}
        </section>
    }
}

enum Problem {
    Certificate,
    Encryption,
    Refused(Refusal),
}

impl Problem {
    fn words(&self, lang: Lang) -> String {
        match self {
            Problem::Certificate => text(lang, "error_certificate"),
            Problem::Encryption => text(lang, "error_encryption"),
            Problem::Refused(refusal) => word(lang, refusal),
        }
    }
}

/// What the citizen typed.
struct Typed {
    attachments: Vec<Attached>,
    name: String,
    email: String,
    phone: Option<String>,
    subject: String,
    reference: Option<String>,
    message: String,
}

/// Checks the recipient certificates here, builds and encrypts the message here, uploads
/// only the ciphertext. Fails closed: any doubt, and nothing is sent.
async fn encrypt_and_send(
    page: &FormPage,
    typed: &Typed,
    token: Option<Token>,
    progress: RwSignal<Progress>,
) -> Result<(Accepted, Vec<u8>), Problem> {
    use smime::certificate::{CheckContext, check_encryption_certificate, parse_certificates};
    let delivery = page.delivery.as_ref().ok_or(Problem::Certificate)?;
    let anchors_pem = api::get_text(&delivery.trust_anchors)
        .await
        .map_err(|_| Problem::Certificate)?;
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
    // ECDSA signatures in the chains are verified by WebCrypto (the app is built without
    // Rust's ECDSA, for size); the check below trusts exactly those that held.
    let verified_elsewhere = smime::webcrypto::verify_ecdsa_signatures(
        &smime::certificate::ecdsa_signatures(&certificates, &anchors, &intermediates),
    )
    .await;
    let mut recipients = Vec::new();
    for certificate in certificates {
        let verdict = check_encryption_certificate(
            &certificate,
            &CheckContext {
                now: now(),
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
    let attachments: Vec<smime::mime::Attachment> = typed
        .attachments
        .iter()
        .map(|a| smime::mime::Attachment {
            file_name: &a.name,
            media_type: a.media_type,
            content: &a.bytes,
        })
        .collect();
    let entity = smime::mime::compose(&smime::mime::Message {
        form: &page.slug,
        unit: page.unit.as_ref().map(|u| u.slug.as_str()),
        recipient: &page.title,
        sender_name: &typed.name,
        sender_email: &typed.email,
        email_verified: token.is_some(),
        sender_phone: typed.phone.as_deref(),
        subject: &typed.subject,
        reference: typed.reference.as_deref(),
        text: &typed.message,
        submitted_at: now(),
        attachments: &attachments,
    });
    let algorithms = page
        .policy
        .as_ref()
        .map(|p| smime::envelope::Algorithms {
            content: p.content_encryption,
            key_transport: p.key_transport,
        })
        .unwrap_or_default();
    progress.set(Progress::Encrypting(0.0));
    let blob = smime::webcrypto::encrypt_to_blob(
        &recipients,
        algorithms,
        smime::webcrypto::Content::Wasm(&entity),
        1 << 20,
        &mut rand_core::OsRng,
        |done, total| progress.set(Progress::Encrypting(done as f64 / total.max(1) as f64)),
    )
    .await
    .map_err(|_| Problem::Encryption)?;
    progress.set(Progress::Uploading(0.0));
    let accepted = api::upload::<Accepted>(
        &format!("/api/submissions/{}", page.slug),
        &blob,
        token.as_ref().map(|t| t.token.as_str()),
        move |sent, total| {
            if total > 0.0 {
                progress.set(Progress::Uploading(sent / total));
            }
        },
    )
    .await
    .map_err(Problem::Refused)?;
    Ok((accepted, entity))
}
