use leptos::prelude::*;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <header class="site-header">
            <p class="brand">"Postsiegel"</p>
        </header>
        <main id="main" class="page">
            <h1>"Sicheres Kontaktformular"</h1>
            <p class="lead">
                "Schreiben Sie einer Behörde vertraulich. Ihre Nachricht und Ihre Anhänge werden "
                "in Ihrem Browser verschlüsselt, bevor sie ihn verlassen."
            </p>
        </main>
    }
}
