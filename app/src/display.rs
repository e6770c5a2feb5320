//! How the page looks for this citizen: larger text and high contrast (switches in the header,
//! as on BayernPortal, kept on this device), and the compact layout of a form framed by an
//! authority's site (`?embed=1`). Each is a class on `<html>`, so the style sheet decides.

use leptos::prelude::*;

use crate::browser::storage;

const KEY: &str = "postsiegel-display";

#[derive(Clone, Copy)]
pub struct Display {
    pub large_text: RwSignal<bool>,
    pub high_contrast: RwSignal<bool>,
    /// Framed by an authority's site: compact, and never leads to another form.
    pub embedded: bool,
}

impl Display {
    pub fn from_page() -> Display {
        let saved = storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .unwrap_or_default();
        let asked = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
            .and_then(|params| params.get("embed"))
            .is_some_and(|value| value == "1");
        // In any frame, asked or not: a framed page must never lead to another form.
        let framed = web_sys::window().is_some_and(|w| {
            w.top()
                .ok()
                .flatten()
                .is_some_and(|top| !js_sys::Object::is(&top, &w))
        });
        let embedded = asked || framed;
        Display {
            large_text: RwSignal::new(saved.split(',').any(|s| s == "large-text")),
            high_contrast: RwSignal::new(saved.split(',').any(|s| s == "high-contrast")),
            embedded,
        }
    }

    /// Puts the classes on `<html>` and keeps the choice, whenever it changes.
    pub fn apply(self) {
        Effect::new(move |_| {
            let chosen = [
                ("large-text", self.large_text.get()),
                ("high-contrast", self.high_contrast.get()),
                ("embedded", self.embedded),
            ];
            if let Some(root) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.document_element())
            {
                for (class, on) in chosen {
                    let _ = root.class_list().toggle_with_force(class, on);
                }
            }
            let kept: Vec<&str> = chosen[..2]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(class, _)| *class)
                .collect();
            if let Some(storage) = storage() {
                let _ = storage.set_item(KEY, &kept.join(","));
            }
        });
    }
}

pub fn use_display() -> Display {
    expect_context::<Display>()
}
