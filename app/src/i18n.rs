//! The app's words: German first, English too. Every text lives in `app/i18n/*.json`; the
//! code only names keys. Server error codes are worded here too (`reason_<code>`).

use std::collections::HashMap;
use std::sync::LazyLock;

use leptos::prelude::*;

use crate::api::Refusal;
use crate::browser::storage;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }
}

fn load(json: &str) -> HashMap<String, String> {
    serde_json::from_str(json).expect("the resource files are valid JSON")
}

static DE: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| load(include_str!("../i18n/de.json")));
static EN: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| load(include_str!("../i18n/en.json")));

/// The text for `key`; a missing key shows itself, so that a test notices.
pub fn text(lang: Lang, key: &str) -> String {
    let table = match lang {
        Lang::De => &*DE,
        Lang::En => &*EN,
    };
    table.get(key).cloned().unwrap_or_else(|| key.to_owned())
}

/// The text for `key` with `{name}` placeholders filled in.
pub fn format(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    let mut out = text(lang, key);
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// How a refusal from the server reads for the citizen: `error_<code>` with its
/// parameters, or a plain "sending failed" for what has no words (or no code).
pub fn refusal(lang: Lang, refusal: &Refusal) -> String {
    let Some(code) = refusal.code else {
        return text(lang, "error_send");
    };
    let key = ["error_", code.as_str()].concat();
    let attempts = refusal
        .params
        .attempts_left
        .map(|n| n.to_string())
        .unwrap_or_default();
    let worded = format(lang, &key, &[("attempts_left", &attempts)]);
    if worded == key {
        text(lang, "error_send")
    } else {
        worded
    }
}

/// The language in use, shared through the component tree.
#[derive(Clone, Copy)]
pub struct Language(pub RwSignal<Lang>);

pub fn use_lang() -> RwSignal<Lang> {
    expect_context::<Language>().0
}

/// The language chosen earlier in this browser, else the browser's, else German.
pub fn initial() -> Lang {
    let stored = storage().and_then(|s| s.get_item("postsiegel-lang").ok().flatten());
    match stored.as_deref() {
        Some("en") => Lang::En,
        Some("de") => Lang::De,
        _ => Lang::De,
    }
}

/// Remembers the choice and tells assistive technology the page's language.
pub fn apply(lang: Lang) {
    if let Some(storage) = storage() {
        let _ = storage.set_item("postsiegel-lang", lang.code());
    }
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("lang", lang.code());
    }
}
