use leptos::prelude::*;

mod api;
mod app;
mod i18n;
mod write;

fn main() {
    console_error_panic_hook::set_once();
    // The static page holds only a <noscript> notice; everything visible is made here.
    mount_to_body(app::App);
}
