//! `/antworten`: for the authority's staff, whose mail server quotes this address when the
//! portal refuses an answer that is not encrypted. How to trust the answers CA once (with
//! the fingerprint to compare) and how to answer, per mail program.

use leptos::prelude::*;
use wire::{AnswersInfo, ErrorCode};

use crate::api::{self, Failure};
use crate::i18n::{Lang, format, text, use_lang};
use crate::routes::set_title;

#[component]
pub fn AnswersHelp() -> impl IntoView {
    let lang = use_lang();
    Effect::new(move |_| set_title(&text(lang.get(), "help_title")));
    let info = LocalResource::new(|| api::get::<AnswersInfo>("/api/answers"));
    view! {
        <h1>{move || text(lang.get(), "help_title")}</h1>
        {move || match info.get() {
            None => view! { <p role="status">{text(lang.get(), "status_loading")}</p> }.into_any(),
            Some(Err(Failure::Code(ErrorCode::AnswersNotOffered))) => {
                view! { <p>{text(lang.get(), "help_not_offered")}</p> }.into_any()
            }
            Some(Err(_)) => view! { <p role="alert">{text(lang.get(), "help_unreachable")}</p> }.into_any(),
            Some(Ok(info)) => steps(lang.get(), info).into_any(),
        }}
    }
}

/// Trust the CA once, then press Reply with encryption on.
fn steps(lang: Lang, info: AnswersInfo) -> impl IntoView {
    let intro = format(lang, "help_intro", &[("domain", &info.domain)]);
    let days = format(
        lang,
        "help_days",
        &[("days", &info.conversation_days.to_string())],
    );
    view! {
        <p>{intro}</p>
        <p>{days}</p>
        <ol class="help-steps">
            <li>
                <p>{text(lang, "help_step_trust")}</p>
                <p>
                    <a href=info.ca_certificate_url.clone() download="postsiegel-antwort-ca.pem">
                        {text(lang, "help_ca_download")}
                    </a>
                </p>
                <p>
                    {text(lang, "help_fingerprint")} ": "
                    <code class="fingerprint" translate="no">{info.fingerprint_sha256.clone()}</code>
                </p>
            </li>
            <li>{text(lang, "help_step_reply")}</li>
            <li>{text(lang, "help_step_refused")}</li>
        </ol>
        {clients(lang, &info)}
    }
}

fn clients(lang: Lang, info: &AnswersInfo) -> impl IntoView + use<> {
    view! {
        <h2>{text(lang, "help_clients_heading")}</h2>
        <ul class="help-clients">
            <li>{text(lang, "help_thunderbird")}</li>
            <li>{text(lang, "help_outlook")}</li>
            <li>
                {text(lang, "help_kmail")} " "
                <a href=info.crl_url.clone()>{text(lang, "help_crl")}</a>
            </li>
        </ul>
    }
}
