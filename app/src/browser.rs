//! Small helpers over the browser window, shared by the pages: this device's storage and
//! moving the keyboard focus.

use leptos::prelude::document;
use wasm_bindgen::JsCast;

/// `localStorage`, when the browser allows it (private modes may not).
pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Moves the keyboard focus to the first element matching `selector`.
pub fn focus(selector: &str) {
    if let Some(element) = document()
        .query_selector(selector)
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// Resolves after `ms` milliseconds (setTimeout).
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
