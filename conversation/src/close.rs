//! Closing the conversation early, from the status page: after a confirmation, the browser
//! signs `wire::close_statement` with the conversation's key; the portal deletes the
//! answers, revokes the certificate and refuses further mail to the alias.

use base64::Engine;
use leptos::prelude::*;

use crate::i18n::{Lang, text};
use crate::key;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Offered,
    Confirming,
    Busy,
    Failed(&'static str),
}

/// The button, its confirmation, and `closed` told once the portal closed it.
#[component]
pub fn CloseConversation(
    alias: String,
    closed: Callback<()>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let step = RwSignal::new(Step::Offered);
    let confirm = move |_| {
        step.set(Step::Busy);
        let alias = alias.clone();
        leptos::task::spawn_local(async move {
            match close(&alias).await {
                Ok(()) => closed.run(()),
                Err(why) => step.set(Step::Failed(why)),
            }
        });
    };
    view! {
        <section class="close" aria-labelledby="close-heading">
            <h3 id="close-heading">{move || text(lang.get(), "close_heading")}</h3>
            {move || match step.get() {
                Step::Offered | Step::Failed(_) => view! {
                    <button type="button" on:click=move |_| step.set(Step::Confirming)>
                        {text(lang.get(), "close_offer")}
                    </button>
                }
                .into_any(),
                Step::Confirming => view! {
                    <p class="note warning" id="close-warning">{text(lang.get(), "close_warning")}</p>
                    <button type="button" aria-describedby="close-warning" on:click=confirm.clone()>
                        {text(lang.get(), "close_confirm")}
                    </button>
                    " "
                    <button type="button" on:click=move |_| step.set(Step::Offered)>
                        {text(lang.get(), "close_cancel")}
                    </button>
                }
                .into_any(),
                Step::Busy => view! { <p>{text(lang.get(), "close_busy")}</p> }.into_any(),
            }}
            <p class="field-error" role="alert">
                {move || match step.get() {
                    Step::Failed(why) => text(lang.get(), why),
                    _ => String::new(),
                }}
            </p>
        </section>
    }
}

async fn close(alias: &str) -> Result<(), &'static str> {
    let kept = key::kept(alias).await.map_err(|_| "close_no_key")?;
    let statement = wire::close_statement(alias);
    let signature = key::sign_kept(&kept.pkcs8, statement.as_bytes())
        .await
        .map_err(|_| "close_failed")?;
    let body = serde_json::to_string(&wire::SignedRequest {
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
    })
    .expect("plain data serialises");
    crate::portal::fetch(
        &format!("/api/conversations/{alias}/close"),
        Some(("POST", &body)),
        &[],
    )
    .await
    .map_err(|_| "close_failed")?;
    // The form's module offers writing again on the same page (`app/src/status.rs`):
    // hidden here, so that the form's download need not listen for it.
    if let Some(offer) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("section.continue").ok().flatten())
    {
        let _ = offer.set_attribute("hidden", "");
    }
    Ok(())
}
