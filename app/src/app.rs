use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_params_map;
use leptos_router::{ParamSegment, StaticSegment};

use crate::api::{self, Failure, FormPage, SearchResult};
use crate::i18n::{self, Lang, Language, format, text, use_lang};
use crate::write::Write;

#[component]
pub fn App() -> impl IntoView {
    let lang = RwSignal::new(i18n::initial());
    provide_context(Language(lang));
    Effect::new(move |_| i18n::apply(lang.get()));
    view! {
        <Router>
            <header class="site-header">
                <p class="brand">{move || text(lang.get(), "brand")}</p>
                <button
                    class="language"
                    lang=move || lang.get().other().code()
                    aria-label=move || text(lang.get(), "language_switch_label")
                    on:click=move |_| lang.update(|l| *l = l.other())
                >
                    {move || text(lang.get(), "language_switch")}
                </button>
            </header>
            <main id="main" class="page">
                <Routes fallback=|| view! { <Home/> }>
                    <Route path=StaticSegment("") view=Home/>
                    <Route
                        path=(StaticSegment("kontakt"), ParamSegment("authority"))
                        view=ContactForm
                    />
                    <Route path=(StaticSegment("status"), ParamSegment("token")) view=Status/>
                    <Route
                        path=(
                            StaticSegment("kontakt"),
                            ParamSegment("authority"),
                            ParamSegment("unit"),
                        )
                        view=ContactForm
                    />
                </Routes>
            </main>
        </Router>
    }
}

/// The start page: search as you type.
#[component]
fn Home() -> impl IntoView {
    let lang = use_lang();
    let query = RwSignal::new(String::new());
    let result: RwSignal<Option<Result<SearchResult, Failure>>> = RwSignal::new(None);
    // Answers can overtake each other; only the newest query's answer is shown.
    let generation = StoredValue::new(0u64);
    let search = move |term: String| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        if term.trim().is_empty() {
            result.set(None);
            return;
        }
        spawn_local(async move {
            let answer =
                api::get::<SearchResult>(&format!("/api/forms?q={}", api::encode(&term))).await;
            if generation.get_value() == mine {
                result.set(Some(answer));
            }
        });
    };
    view! {
        <h1>{move || text(lang.get(), "home_title")}</h1>
        <p class="lead">{move || text(lang.get(), "home_lead")}</p>
        <div class="search">
            <label for="search">{move || text(lang.get(), "search_label")}</label>
            <p id="search-hint" class="hint">{move || text(lang.get(), "search_hint")}</p>
            <input
                id="search"
                type="search"
                autocomplete="off"
                aria-describedby="search-hint"
                prop:value=move || query.get()
                on:input=move |event| {
                    let value = event_target_value(&event);
                    query.set(value.clone());
                    search(value);
                }
            />
        </div>
        <div aria-live="polite" class="results">
            {move || match result.get() {
                None => ().into_any(),
                Some(Err(_)) => {
                    view! { <p class="error">{text(lang.get(), "search_failed")}</p> }.into_any()
                }
                Some(Ok(found)) if found.hits.is_empty() => {
                    view! { <p>{text(lang.get(), "search_none")}</p> }.into_any()
                }
                Some(Ok(found)) => {
                    let count = found.total.to_string();
                    view! {
                        <p class="count">
                            {format(lang.get(), "search_results", &[("count", &count)])}
                        </p>
                        <ul class="hits">
                            {found
                                .hits
                                .into_iter()
                                .map(|hit| {
                                    let kind = text(lang.get(), &format!("kind_{}", hit.kind));
                                    view! {
                                        <li>
                                            <A href=format!("/kontakt/{}", hit.slug)>{hit.title}</A>
                                            <span class="where">
                                                {format!(" – {kind}, {} {}", hit.postal_code, hit.place)}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

/// A form's page: whom the message goes to and how it is encrypted, or, when the form is
/// not offered, why and how else to reach the authority.
#[component]
fn ContactForm() -> impl IntoView {
    let lang = use_lang();
    let params = use_params_map();
    let slug = move || {
        let params = params.get();
        match (params.get("authority"), params.get("unit")) {
            (Some(a), Some(u)) => format!("{a}/{u}"),
            (Some(a), None) => a,
            _ => String::new(),
        }
    };
    let form = LocalResource::new(move || {
        let slug = slug();
        async move { api::get::<FormPage>(&format!("/api/forms/{slug}")).await }
    });
    view! {
        {move || match form.get() {
            None => view! { <p>{text(lang.get(), "form_loading")}</p> }.into_any(),
            Some(Err(Failure::Code(code))) if code == "form_not_found" => {
                view! {
                    <h1>{text(lang.get(), "home_title")}</h1>
                    <p class="error">{text(lang.get(), "form_not_found")}</p>
                    <p><A href="/">{text(lang.get(), "back_to_search")}</A></p>
                }
                    .into_any()
            }
            Some(Err(_)) => {
                view! { <p class="error">{text(lang.get(), "form_failed")}</p> }.into_any()
            }
            Some(Ok(page)) if !page.available => unavailable(lang.get(), page).into_any(),
            Some(Ok(page)) => available(lang.get(), page).into_any(),
        }}
    }
}

fn available(lang: Lang, page: FormPage) -> impl IntoView {
    let write = page.clone();
    let notice = imprint(lang, page.authority.clone());
    let delivery = page.delivery.expect("an offered form has a delivery");
    let via = delivery.via_authority.as_ref().map(|_| {
        format(
            lang,
            "form_via_authority",
            &[("authority", &page.authority.name)],
        )
    });
    view! {
        <h1>{page.title.clone()}</h1>
        <section class="recipient" aria-labelledby="recipient-heading">
            <h2 id="recipient-heading">{text(lang, "form_recipient")}</h2>
            <p class="recipient-name">{page.title}</p>
            <p>{format!("{}: {}", text(lang, "form_mailbox"), delivery.mailbox)}</p>
            {via.map(|via| view! { <p class="note">{via}</p> })}
            <details>
                <summary>{text(lang, "form_encrypted_for")}</summary>
                <ul>
                    {delivery
                        .certificates
                        .into_iter()
                        .map(|c| {
                            let until = c.not_after.chars().take(10).collect::<String>();
                            view! {
                                <li class="certificate">
                                    {format(
                                        lang,
                                        "form_certificate",
                                        &[
                                            ("subject", &c.subject),
                                            ("until", &until),
                                            ("fingerprint", &c.sha256_fingerprint),
                                        ],
                                    )}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </details>
        </section>
        <Write page=write/>
        {notice}
    }
}

/// The imprint and privacy notice every form carries, from the directory's details.
fn imprint(lang: Lang, authority: api::Authority) -> impl IntoView {
    let line = |key: &str, value: &Option<String>| {
        value.clone().map(|value| {
            view! {
                <dt>{text(lang, key)}</dt>
                <dd>{value}</dd>
            }
        })
    };
    view! {
        <details class="imprint">
            <summary>{text(lang, "imprint_heading")}</summary>
            <dl>
                <dt>{text(lang, "imprint_authority")}</dt>
                <dd>
                    {format!(
                        "{}, {}, {} {}",
                        authority.name,
                        authority.street,
                        authority.postal_code,
                        authority.place,
                    )}
                </dd>
                {line("imprint_representative", &authority.representative)}
                {line("imprint_content", &authority.content_responsible)}
                {line("imprint_dpo", &authority.data_protection_officer)}
            </dl>
            <p>{text(lang, "privacy_text")}</p>
        </details>
        <p class="signature-note">{text(lang, "signature_note")}</p>
    }
}

fn unavailable(lang: Lang, page: FormPage) -> impl IntoView {
    let contact = page.contact;
    let reasons: Vec<String> = page
        .reasons
        .iter()
        .map(|r| {
            let key = format!("reason_{}", r.code);
            let worded = text(lang, &key);
            if worded == key {
                text(lang, "reason_unknown")
            } else {
                worded
            }
        })
        .collect();
    view! {
        <h1>{page.title}</h1>
        <section class="unavailable" role="status">
            <h2>{text(lang, "form_unavailable_title")}</h2>
            <p>{text(lang, "form_unavailable_reasons")}</p>
            <ul>{reasons.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul>
        </section>
        <section class="contact">
            <h2>{format(lang, "form_other_ways", &[("name", &contact.name)])}</h2>
            <dl>
                <dt>{text(lang, "contact_address")}</dt>
                <dd>
                    {format!("{}, {} {}", contact.street, contact.postal_code, contact.place)}
                </dd>
                {contact
                    .phone
                    .map(|phone| {
                        let href = format!("tel:{}", phone.replace(' ', ""));
                        view! {
                            <dt>{text(lang, "contact_phone")}</dt>
                            <dd><a href=href>{phone}</a></dd>
                        }
                    })}
                {contact
                    .email
                    .map(|email| {
                        let href = format!("mailto:{email}");
                        view! {
                            <dt>{text(lang, "contact_email")}</dt>
                            <dd><a href=href>{email}</a></dd>
                        }
                    })}
                {contact
                    .website
                    .map(|site| {
                        let href = site.clone();
                        view! {
                            <dt>{text(lang, "contact_website")}</dt>
                            <dd><a href=href>{site}</a></dd>
                        }
                    })}
            </dl>
        </section>
        <p><A href="/">{text(lang, "back_to_search")}</A></p>
    }
}

/// Where a message is: queued, handed to the mailbox (never "read"), or failed.
#[component]
fn Status() -> impl IntoView {
    let lang = use_lang();
    let params = use_params_map();
    let status = LocalResource::new(move || {
        let token = params.get().get("token").unwrap_or_default();
        async move { api::get::<api::Status>(&format!("/api/status/{token}")).await }
    });
    view! {
        <h1>{move || text(lang.get(), "status_heading")}</h1>
        <div role="status">
            {move || match status.get() {
                None => view! { <p>{text(lang.get(), "status_loading")}</p> }.into_any(),
                Some(Err(_)) => view! { <p>{text(lang.get(), "status_unknown")}</p> }.into_any(),
                Some(Ok(found)) => {
                    let time = found
                        .finished_at
                        .unwrap_or_default()
                        .replace('T', " ")
                        .trim_end_matches('Z')
                        .to_owned();
                    let state = match found.state.as_str() {
                        "delivered" => format(lang.get(), "status_delivered", &[("time", &time)]),
                        "failed" => text(lang.get(), "status_failed"),
                        _ => text(lang.get(), "status_queued"),
                    };
                    view! {
                        <p>
                            {text(lang.get(), "receipt_number")} ": "
                            <strong class="receipt-number">{found.receipt}</strong>
                        </p>
                        <p class="state">{state}</p>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}
