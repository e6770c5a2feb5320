//! The module's words, German first, English too, in `conversation/i18n/*.json` (checked
//! with the form's by `scripts/check_i18n.py`).

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn of(code: &str) -> Lang {
        if code == "en" { Lang::En } else { Lang::De }
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
