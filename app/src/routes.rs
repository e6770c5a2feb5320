//! The app's three kinds of page and moving between them with the History API. Small on
//! purpose: a router crate weighed some 15 KB (gzip) for three routes.

use leptos::prelude::*;
use wasm_bindgen::JsValue;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Search,
    /// `/kontakt/{authority}` or `/kontakt/{authority}/{unit}`: the slug after `/kontakt/`.
    Form(String),
    /// `/status/{token}`.
    Status(String),
}

impl Route {
    /// Unknown paths show the search, as the server sends the app for any page path.
    pub fn of(path: &str) -> Route {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments[..] {
            ["kontakt", authority] => Route::Form(authority.to_owned()),
            ["kontakt", authority, unit] => Route::Form(format!("{authority}/{unit}")),
            ["status", token] => Route::Status(token.to_owned()),
            _ => Route::Search,
        }
    }
}

fn current_path() -> String {
    window().location().pathname().unwrap_or_default()
}

/// The current route, following links and the browser's back and forward buttons.
#[derive(Clone, Copy)]
pub struct Location {
    path: RwSignal<String>,
    /// A message is being sent: the page stays until its receipt shows.
    held: RwSignal<bool>,
}

impl Location {
    pub fn start() -> Location {
        let path = RwSignal::new(current_path());
        let held = RwSignal::new(false);
        let listener = window_event_listener(leptos::ev::popstate, move |_| {
            if held.get_untracked() {
                // Back (or forward) while sending: undo it, or the page with the upload
                // would go and the receipt with it, while the message still leaves.
                let here = format!(
                    "{}{}",
                    path.get_untracked(),
                    window().location().search().unwrap_or_default()
                );
                if let Ok(history) = window().history() {
                    let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&here));
                }
            } else {
                path.set(current_path());
            }
        });
        on_cleanup(move || listener.remove());
        Location { path, held }
    }

    /// While `held`, the browser's back and forward buttons leave the page as it is.
    pub fn hold(self, held: bool) {
        self.held.set(held);
    }

    /// The route, changing only when it does (a link to the page shown rebuilds nothing,
    /// so nothing typed is lost).
    pub fn route(self) -> Memo<Route> {
        let path = self.path;
        Memo::new(move |_| Route::of(&path.get()))
    }

    /// Moves to `href` without loading the page again; the query (`?embed=1`) stays.
    pub fn go(self, href: &str) {
        let search = window().location().search().unwrap_or_default();
        let url = format!("{href}{search}");
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&url));
        }
        window().scroll_to_with_x_and_y(0.0, 0.0);
        self.path.set(href.to_owned());
        // The new page starts at its content, for keyboards and screen readers alike.
        crate::browser::focus("#main");
    }
}

/// The window's title: the page's own name, then the portal's, so that tabs and screen
/// readers tell pages apart.
pub fn set_title(page: &str) {
    document().set_title(&format!("{page} – Postsiegel"));
}

/// A link inside the app: a plain `<a href>` that, clicked without modifier keys, moves
/// here instead of loading the page again.
#[component]
pub fn Link(href: String, children: Children) -> impl IntoView {
    let location = expect_context::<Location>();
    let target = href.clone();
    let follow = move |event: leptos::ev::MouseEvent| {
        let modified = event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key();
        if event.button() == 0 && !modified {
            event.prevent_default();
            location.go(&target);
        }
    };
    view! { <a href=href on:click=follow>{children()}</a> }
}
