//! The attachments: picked or dropped, checked here against the form's policy (each refusal
//! worded next to the field), with a live size budget from the form's upload limit.

use leptos::prelude::*;
use leptos::task::spawn_local;
use smime::files::FileType;
use smime::webcrypto::JsBytes;

use super::fields::Field;
use crate::i18n::{Lang, format, text, use_lang};
use crate::send::Attached;

/// The files attached so far and what was refused.
#[derive(Clone, Copy)]
pub struct Files {
    /// Local: the files' bytes stay in JavaScript, which is one thread.
    pub attached: RwSignal<Vec<Attached>, LocalStorage>,
    errors: RwSignal<Vec<String>>,
}

impl Files {
    pub fn new() -> Files {
        Files {
            attached: RwSignal::new_local(Vec::new()),
            errors: RwSignal::new(Vec::new()),
        }
    }
}

/// What an upload of this text and these files will weigh, generously: the entity's base64
/// (4/3 plus line breaks), its headers, the CMS around it.
fn upload_estimate(text_len: usize, files: &[Attached]) -> u64 {
    let base64 = |n: usize| (n.div_ceil(3) * 4) as u64 * 78 / 76 + 4;
    let files: u64 = files
        .iter()
        .map(|f| base64(f.content.0.length() as usize) + 600)
        .sum();
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

/// What the form accepts, as citizens know the kinds: "PDF, JPEG, PNG, Word (DOCX)".
fn type_names(allowed: &[FileType]) -> String {
    allowed
        .iter()
        .map(|kind| match kind {
            FileType::Pdf => "PDF",
            FileType::Jpg => "JPEG",
            FileType::Png => "PNG",
            FileType::Docx => "Word (DOCX)",
            FileType::Odt => "OpenDocument (ODT)",
            FileType::Txt => "Text (TXT)",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn files_of(list: &web_sys::FileList) -> Vec<web_sys::File> {
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Reads and checks `picked`; each goes on the list or gets its refusal. A file's bytes
/// stay in JavaScript: the checks read them a window at a time, WebCrypto digests them
/// meanwhile on its own thread.
async fn add(
    picked: Vec<web_sys::File>,
    files: Files,
    allowed: &[FileType],
    message: Field,
    max: u64,
    lang: Lang,
) {
    let policy = smime::files::FilePolicy {
        allowed: allowed.to_vec(),
    };
    let mut errors = Vec::new();
    for file in picked {
        let name = file.name();
        let unreadable = || format(lang, "file_unreadable", &[("name", &name)]);
        let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await else {
            errors.push(unreadable());
            continue;
        };
        let content = JsBytes(js_sys::Uint8Array::new(&buffer));
        let digest = smime::webcrypto::sha256(&content.0);
        let checked = smime::files::check_file(&content, &policy);
        let Ok(sha256) = digest.await else {
            errors.push(unreadable());
            continue;
        };
        match checked {
            Err(refusal) => errors.push(format(
                lang,
                "file_refused",
                &[("name", &name), ("reason", &text(lang, refusal.code()))],
            )),
            Ok(kind) => {
                let mut all = files.attached.get_untracked();
                all.push(Attached {
                    name: name.clone(),
                    media_type: kind.media_type(),
                    content,
                    sha256,
                });
                if upload_estimate(message.value.get_untracked().len(), &all) > max {
                    errors.push(format(lang, "file_too_large", &[("name", &name)]));
                } else {
                    files.attached.set(all);
                }
            }
        }
    }
    files.errors.set(errors);
}

/// The files field: picker, drop zone, the list with a way to remove each, the budget.
pub fn attachments(
    files: Files,
    allowed: Vec<FileType>,
    max_upload: u64,
    message: Field,
) -> impl IntoView {
    let lang = use_lang();
    let names = StoredValue::new(type_names(&allowed));
    let allowed = StoredValue::new(allowed);
    // Files picked or dropped go through the same checks.
    let add_files = move |picked: Vec<web_sys::File>| {
        spawn_local(async move {
            let lang = lang.get_untracked();
            add(
                picked,
                files,
                &allowed.get_value(),
                message,
                max_upload,
                lang,
            )
            .await;
        });
    };
    let pick = move |event: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let input: web_sys::HtmlInputElement = event.target().expect("an input").unchecked_into();
        let picked = input
            .files()
            .map(|list| files_of(&list))
            .unwrap_or_default();
        input.set_value("");
        add_files(picked);
    };
    let drop = move |event: leptos::ev::DragEvent| {
        event.prevent_default();
        let picked = event
            .data_transfer()
            .and_then(|transfer| transfer.files())
            .map(|list| files_of(&list))
            .unwrap_or_default();
        add_files(picked);
    };
    let budget = move || {
        let used = upload_estimate(message.value.get().len(), &files.attached.get());
        format(
            lang.get(),
            "budget",
            &[
                ("used", &megabytes(lang.get(), used)),
                ("max", &megabytes(lang.get(), max_upload)),
            ],
        )
    };
    view! {
        <div
            class="field files"
            on:dragover=|event: leptos::ev::DragEvent| event.prevent_default()
            on:drop=drop
        >
            <label for="files">{move || text(lang.get(), "field_files")}</label>
            <p id="files-hint" class="hint">
                {move || names.with_value(|types| format(lang.get(), "field_files_hint", &[("types", types)]))}
            </p>
            <input
                id="files"
                type="file"
                multiple
                aria-describedby="files-hint files-budget files-error"
                on:change=pick
            />
            <p class="hint">{move || text(lang.get(), "files_drop")}</p>
            <ul class="attached">{move || attached_list(lang, files)}</ul>
            <p id="files-budget" class="budget">{budget}</p>
            <ul id="files-error" class="field-error" role="alert">
                {move || files.errors.get().into_iter().map(|e| view! { <li>{e}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// The attached files, each with a button that removes it.
fn attached_list(lang: RwSignal<Lang>, files: Files) -> impl IntoView {
    files
        .attached
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
                        on:click=move |_| files.attached.update(|all| { all.remove(index); })
                    >
                        "×"
                    </button>
                </li>
            }
        })
        .collect_view()
}
