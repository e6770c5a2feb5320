use leptos::prelude::*;

mod api;
mod app;
mod browser;
mod conversation;
mod display;
mod i18n;
mod routes;
mod send;
mod status;
mod write;

fn main() {
    // No panic hook that logs to the console (1 KB of the download): a panic aborts, which
    // traps, and `public/boot.js` tells the citizen what that means for the message.
    // The static page holds only the loading notice (see `public/boot.js`) and a <noscript>
    // one; everything visible is made here. Once mounted, the notice goes.
    mount_to_body(app::App);
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        if let Some(boot) = document.get_element_by_id("boot") {
            boot.remove();
        }
        if let Some(root) = document.document_element() {
            let _ = root.set_attribute("data-app", "ready");
        }
    }
}
