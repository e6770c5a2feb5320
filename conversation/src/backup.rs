//! The key's backup file, as the citizen sees it: made on the receipt under a passphrase
//! they choose (required in an embedded form, whose storage the status page never sees),
//! and taken in on a device without the key. The file itself is `smime::backup`'s PKCS#12.

use leptos::prelude::*;

use crate::i18n::{Lang, format, text};
use crate::key::{self, KeyError};

/// Shorter passphrases fall to offline guessing even at 600 000 PBKDF2 rounds.
const MIN_PASSPHRASE_CHARS: usize = 12;

/// Why a passphrase field or the file field shows an error: the resource key of its words.
fn import_error(error: &KeyError) -> (Field, &'static str) {
    use smime::backup::BackupError;
    match error {
        KeyError::Backup(BackupError::WrongPassphrase) => {
            (Field::Passphrase, "import_wrong_passphrase")
        }
        KeyError::Backup(BackupError::Passphrase) => {
            (Field::Passphrase, "backup_passphrase_characters")
        }
        KeyError::OtherConversation => (Field::File, "import_other_conversation"),
        KeyError::Backup(_) => (Field::File, "import_not_a_backup"),
        _ => (Field::File, "import_failed"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    File,
    Passphrase,
}

/// The receipt's offer: a backup file of conversation `alias`'s key.
#[component]
pub fn SaveBackup(alias: String, required: bool, lang: RwSignal<Lang>) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let error = RwSignal::new(None::<&'static str>);
    let busy = RwSignal::new(false);
    let file = RwSignal::new(None::<String>);
    let alias_shown = alias.clone();
    let file_name = format!(
        "postsiegel-{}.p12",
        alias.split('@').next().unwrap_or("antwort")
    );
    let make = move |_| {
        let (chosen, again) = (passphrase.get_untracked(), repeated.get_untracked());
        let problem = if chosen.chars().count() < MIN_PASSPHRASE_CHARS {
            Some("backup_passphrase_short")
        } else if chosen != again {
            Some("backup_passphrase_mismatch")
        } else {
            None
        };
        error.set(problem);
        if problem.is_some() {
            return;
        }
        busy.set(true);
        let alias = alias.clone();
        leptos::task::spawn_local(async move {
            match key::backup(&alias, &chosen).await {
                Ok(bytes) => file.set(Some(crate::download::url(&bytes, "application/pkcs12"))),
                Err(KeyError::Backup(smime::backup::BackupError::Passphrase)) => {
                    error.set(Some("backup_passphrase_characters"))
                }
                Err(_) => error.set(Some("backup_failed")),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="backup" aria-labelledby="backup-heading">
            <h2 id="backup-heading">{move || text(lang.get(), "backup_heading")}</h2>
            {required_words(&alias_shown, required).map(|key| view! { <p class="note warning">{move || text(lang.get(), key)}</p> })}
            <p>{move || text(lang.get(), "backup_why")}</p>
            <PassphraseField id="backup-passphrase" label="backup_passphrase" hint=Some("backup_passphrase_hint")
                value=passphrase error=Signal::derive(move || error.get().filter(|e| *e != "backup_passphrase_mismatch")) lang new=true/>
            <PassphraseField id="backup-repeat" label="backup_repeat" hint=None
                value=repeated error=Signal::derive(move || error.get().filter(|e| *e == "backup_passphrase_mismatch")) lang new=true/>
            <button type="button" on:click=make disabled=move || busy.get()>
                {move || text(lang.get(), "backup_make")}
            </button>
            <div aria-live="polite">
                {move || busy.get().then(|| view! { <p>{text(lang.get(), "backup_busy")}</p> })}
                {move || file.get().map(|href| view! {
                    <p>
                        <a class="backup-file" href=href download=file_name.clone()>
                            {format(lang.get(), "backup_download", &[("file", &file_name)])}
                        </a>
                    </p>
                    <p class="hint">{text(lang.get(), "backup_keep")}</p>
                })}
            </div>
        </section>
    }
}

/// Why the receipt requires the backup file, if it does: the browser refused to keep the
/// key, or the form is embedded (the status page never sees the frame's storage).
fn required_words(alias: &str, embedded: bool) -> Option<&'static str> {
    if !key::stored(alias) {
        Some("backup_required_no_storage")
    } else if embedded {
        Some("backup_required")
    } else {
        None
    }
}

/// A password input with its label, hint and error, the error next to it and announced.
#[component]
fn PassphraseField(
    id: &'static str,
    label: &'static str,
    hint: Option<&'static str>,
    value: RwSignal<String>,
    error: Signal<Option<&'static str>>,
    lang: RwSignal<Lang>,
    new: bool,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match hint {
        Some(_) => format!("{hint_id} {error_id}"),
        None => error_id.clone(),
    };
    view! {
        <div class="field">
            <label for=id>{move || text(lang.get(), label)}</label>
            {hint.map(|hint| view! { <p id=hint_id class="hint">{move || text(lang.get(), hint)}</p> })}
            <input
                id=id
                type="password"
                autocomplete=if new { "new-password" } else { "current-password" }
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby=described
                prop:value=move || value.get()
                on:input=move |e| value.set(event_target_value(&e))
            />
            <p id=error_id class="field-error" role="alert">
                {move || error.get().map(|key| text(lang.get(), key))}
            </p>
        </div>
    }
}

/// Taking the key in from a backup file, on a device without it; `imported` is told when
/// the key is kept here.
#[component]
pub fn ImportBackup(alias: String, imported: Callback<()>, lang: RwSignal<Lang>) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let error = RwSignal::new(None::<(Field, &'static str)>);
    let busy = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Input>::new();
    let take = move |_| {
        let Some(picked) = input.get().and_then(|i| i.files()).and_then(|f| f.get(0)) else {
            error.set(Some((Field::File, "import_no_file")));
            return;
        };
        busy.set(true);
        error.set(None);
        let (alias, chosen) = (alias.clone(), passphrase.get_untracked());
        leptos::task::spawn_local(async move {
            let result = match read_file(&picked).await {
                Some(bytes) => key::import(&alias, &bytes, &chosen).await,
                None => Err(KeyError::Certificate),
            };
            busy.set(false);
            match result {
                Ok(()) => imported.run(()),
                Err(why) => error.set(Some(import_error(&why))),
            }
        });
    };
    let error_of = move |field: Field| {
        Signal::derive(move || error.get().filter(|(f, _)| *f == field).map(|(_, key)| key))
    };
    let file_error = error_of(Field::File);
    view! {
        <section class="import" aria-labelledby="import-heading">
            <h3 id="import-heading">{move || text(lang.get(), "import_heading")}</h3>
            <p>{move || text(lang.get(), "import_why")}</p>
            <div class="field">
                <label for="import-file">{move || text(lang.get(), "import_file")}</label>
                <input id="import-file" type="file" accept=".p12,.pfx,application/pkcs12,application/x-pkcs12"
                    node_ref=input aria-invalid=move || file_error.get().is_some().to_string()
                    aria-describedby="import-file-error"/>
                <p id="import-file-error" class="field-error" role="alert">
                    {move || file_error.get().map(|key| text(lang.get(), key))}
                </p>
            </div>
            <PassphraseField id="import-passphrase" label="import_passphrase" hint=None
                value=passphrase error=error_of(Field::Passphrase) lang new=false/>
            <button type="button" on:click=take disabled=move || busy.get()>
                {move || text(lang.get(), "import_take")}
            </button>
            {move || busy.get().then(|| view! { <p aria-live="polite">{text(lang.get(), "import_busy")}</p> })}
        </section>
    }
}

async fn read_file(file: &web_sys::File) -> Option<Vec<u8>> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}
