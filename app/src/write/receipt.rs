//! While sending and after: the step and the two progress bars, then the receipt with the
//! status link and a copy of exactly what was encrypted.

use leptos::prelude::*;
use wire::Accepted;

use crate::display::use_display;
use crate::i18n::{Lang, text};
use crate::send::Progress;

/// What the citizen keeps after sending: the receipt, and a copy of exactly what was
/// encrypted (the MIME entity), made here, to save as an .eml file.
#[derive(Clone)]
pub struct Sent {
    pub accepted: Accepted,
    pub copy_url: String,
    /// The conversation the message opened, whose key the receipt offers to back up.
    pub alias: Option<String>,
}

impl Sent {
    /// The copy's `blob:` URL lives as long as the page.
    pub fn new(sent: crate::send::Sent) -> Sent {
        Sent {
            accepted: sent.accepted,
            copy_url: web_sys::Url::create_object_url_with_blob(&sent.entity).unwrap_or_default(),
            alias: sent.alias,
        }
    }
}

/// The words for a step of sending (announced once per step, not every percent).
pub fn progress_step(progress: Progress) -> &'static str {
    match progress {
        Progress::Checking => "progress_checking",
        Progress::Encrypting(_) => "progress_encrypting",
        Progress::Uploading(_) => "progress_uploading",
    }
}

/// The two bars.
pub fn progress_view(lang: RwSignal<Lang>, progress: RwSignal<Progress>) -> impl IntoView {
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

pub fn receipt_view(lang: RwSignal<Lang>, sent: Sent) -> impl IntoView {
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
            {sent.alias.map(|alias| backup_mount(alias, embedded, lang))}
        </section>
    }
}

/// Where the conversation module offers the key's backup file.
fn backup_mount(alias: String, embedded: bool, lang: RwSignal<Lang>) -> impl IntoView {
    let mount = NodeRef::<leptos::html::Div>::new();
    let mounted = StoredValue::new(false);
    Effect::new(move |_| {
        let code = lang.get().code();
        let Some(element) = mount.get() else { return };
        if mounted.get_value() {
            crate::conversation::set_language(code);
        } else {
            mounted.set_value(true);
            let element = wasm_bindgen::JsCast::unchecked_into(element);
            crate::conversation::mount_backup(element, &alias, embedded, code);
        }
    });
    view! { <div class="backup-mount" node_ref=mount></div> }
}
