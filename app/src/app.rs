use leptos::prelude::*;
use leptos::task::spawn_local;

use wire::{AuthorityInfo, Embed, ErrorCode, FormPage, SearchResult};

use crate::api::{self, Failure};
use crate::browser::focus;
use crate::display::{Display, use_display};
use crate::i18n::{self, Lang, Language, format, text, use_lang};
use crate::routes::{Link, Location, Route, set_title};
use crate::status::Status;
use crate::write::Write;

#[component]
pub fn App() -> impl IntoView {
    let lang = RwSignal::new(i18n::initial());
    provide_context(Language(lang));
    Effect::new(move |_| i18n::apply(lang.get()));
    let display = Display::from_page();
    provide_context(display);
    display.apply();
    // A link to the content for keyboard users; moved by hand, as the router would take
    // "#main" for a page of its own.
    let skip = |event: leptos::ev::MouseEvent| {
        event.prevent_default();
        focus("#main");
    };
    let location = Location::start();
    provide_context(location);
    let route = location.route();
    view! {
        <a class="skip-link" href="#main" on:click=skip>
            {move || text(lang.get(), "skip_link")}
        </a>
        <header class="site-header">
            <p class="brand">{move || text(lang.get(), "brand")}</p>
            <div class="options">
                <button
                    class="option"
                    aria-pressed=move || display.large_text.get().to_string()
                    on:click=move |_| display.large_text.update(|on| *on = !*on)
                >
                    {move || text(lang.get(), "display_large_text")}
                </button>
                <button
                    class="option"
                    aria-pressed=move || display.high_contrast.get().to_string()
                    on:click=move |_| display.high_contrast.update(|on| *on = !*on)
                >
                    {move || text(lang.get(), "display_high_contrast")}
                </button>
                <button
                    class="option language"
                    lang=move || lang.get().other().code()
                    aria-label=move || text(lang.get(), "language_switch_label")
                    on:click=move |_| lang.update(|l| *l = l.other())
                >
                    {move || text(lang.get(), "language_switch")}
                </button>
            </div>
        </header>
        <main id="main" class="page" tabindex="-1">
            {move || match route.get() {
                Route::Search => view! { <Home/> }.into_any(),
                Route::Form(slug) => view! { <ContactForm slug=slug/> }.into_any(),
                Route::Status(token) => view! { <Status token=token/> }.into_any(),
            }}
        </main>
    }
}

/// The start page: search as you type.
#[component]
fn Home() -> impl IntoView {
    let lang = use_lang();
    Effect::new(move |_| set_title(&text(lang.get(), "home_title")));
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
                                    let kind = text(lang.get(), &format!("kind_{}", hit.kind.as_str()));
                                    view! {
                                        <li>
                                            <Link href=format!("/kontakt/{}", hit.slug)>{hit.title}</Link>
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

/// A text that follows the language switch. The form's page is built once (what was typed
/// lives in it); only its words change with the language.
fn tr(lang: RwSignal<Lang>, key: &'static str) -> impl Fn() -> String + Clone + 'static {
    move || text(lang.get(), key)
}

/// Like [`tr`], with `{name}` placeholders filled in.
fn trf<const N: usize>(
    lang: RwSignal<Lang>,
    key: &'static str,
    values: [(&'static str, String); N],
) -> impl Fn() -> String + Clone + 'static {
    move || {
        let values = values
            .each_ref()
            .map(|(name, value)| (*name, value.as_str()));
        format(lang.get(), key, &values)
    }
}

/// A form's page: whom the message goes to and how it is encrypted, or, when the form is
/// not offered, why and how else to reach the authority.
#[component]
fn ContactForm(slug: String) -> impl IntoView {
    let lang = use_lang();
    let form = LocalResource::new(move || {
        let slug = slug.clone();
        async move { api::get::<FormPage>(&format!("/api/forms/{slug}")).await }
    });
    view! {
        {move || match form.get() {
            None => view! { <p>{tr(lang, "form_loading")}</p> }.into_any(),
            Some(Err(Failure::Code(ErrorCode::FormNotFound))) => {
                view! {
                    <h1>{tr(lang, "home_title")}</h1>
                    <p class="error">{tr(lang, "form_not_found")}</p>
                    {back_to_search(lang)}
                }
                    .into_any()
            }
            Some(Err(_)) => view! { <p class="error">{tr(lang, "form_failed")}</p> }.into_any(),
            Some(Ok(page)) if !page.available => unavailable(lang, page).into_any(),
            Some(Ok(page)) => available(lang, page).into_any(),
        }}
    }
}

fn available(lang: RwSignal<Lang>, page: FormPage) -> impl IntoView {
    set_title(&page.title);
    let write = page.clone();
    let notice = imprint(lang, page.authority.clone(), page.privacy.retention_days);
    let delivery = page.delivery.expect("an offered form has a delivery");
    let via = delivery.via_authority.as_ref().map(|_| {
        trf(
            lang,
            "form_via_authority",
            [("authority", page.authority.name.clone())],
        )
    });
    view! {
        <h1>{page.title.clone()}</h1>
        <section class="recipient" aria-labelledby="recipient-heading">
            <h2 id="recipient-heading">{tr(lang, "form_recipient")}</h2>
            <p class="recipient-name">{page.title}</p>
            <p>{move || format!("{}: {}", text(lang.get(), "form_mailbox"), delivery.mailbox)}</p>
            {via.map(|via| view! { <p class="note">{via}</p> })}
            <details>
                <summary>{tr(lang, "form_encrypted_for")}</summary>
                <ul>
                    {delivery
                        .certificates
                        .into_iter()
                        .map(|c| {
                            let until = c.not_after.chars().take(10).collect::<String>();
                            view! {
                                <li class="certificate">
                                    {trf(
                                        lang,
                                        "form_certificate",
                                        [
                                            ("subject", c.subject),
                                            ("until", until),
                                            ("fingerprint", c.sha256_fingerprint),
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
        {for_authorities(lang, page.embed)}
    }
}

/// The imprint and privacy notice every form carries, from the directory's details.
fn imprint(lang: RwSignal<Lang>, authority: AuthorityInfo, retention_days: u64) -> impl IntoView {
    let line = |key: &'static str, value: &Option<String>| {
        value.clone().map(|value| {
            view! {
                <dt>{tr(lang, key)}</dt>
                <dd>{value}</dd>
            }
        })
    };
    view! {
        <details class="imprint">
            <summary>{tr(lang, "imprint_heading")}</summary>
            <dl>
                <dt>{tr(lang, "imprint_authority")}</dt>
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
            <p>{trf(lang, "privacy_text", [("days", retention_days.to_string())])}</p>
        </details>
        <p class="signature-note">{tr(lang, "signature_note")}</p>
    }
}

fn unavailable(lang: RwSignal<Lang>, page: FormPage) -> impl IntoView {
    set_title(&page.title);
    let contact = page.contact;
    // Codes the app has no words for still say something.
    let reasons: Vec<_> = page
        .reasons
        .iter()
        .map(|r| {
            let key = format!("reason_{}", r.code);
            move || {
                let worded = text(lang.get(), &key);
                if worded == key {
                    text(lang.get(), "reason_unknown")
                } else {
                    worded
                }
            }
        })
        .collect();
    view! {
        <h1>{page.title}</h1>
        <section class="unavailable" role="status">
            <h2>{tr(lang, "form_unavailable_title")}</h2>
            <p>{tr(lang, "form_unavailable_reasons")}</p>
            <ul>{reasons.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul>
        </section>
        <section class="contact">
            <h2>{trf(lang, "form_other_ways", [("name", contact.name.clone())])}</h2>
            <dl>
                <dt>{tr(lang, "contact_address")}</dt>
                <dd>
                    {format!("{}, {} {}", contact.street, contact.postal_code, contact.place)}
                </dd>
                {contact
                    .phone
                    .map(|phone| {
                        let href = format!("tel:{}", phone.replace(' ', ""));
                        view! {
                            <dt>{tr(lang, "contact_phone")}</dt>
                            <dd><a href=href>{phone}</a></dd>
                        }
                    })}
                {contact
                    .email
                    .map(|email| {
                        let href = format!("mailto:{email}");
                        view! {
                            <dt>{tr(lang, "contact_email")}</dt>
                            <dd><a href=href>{email}</a></dd>
                        }
                    })}
                {contact
                    .website
                    .map(|site| {
                        let href = site.clone();
                        let target = use_display().embedded.then_some("_blank");
                        view! {
                            <dt>{tr(lang, "contact_website")}</dt>
                            <dd><a href=href target=target rel="noopener">{site}</a></dd>
                        }
                    })}
            </dl>
        </section>
        {back_to_search(lang)}
    }
}

/// The way back to the search; not in a framed form, which never leads to another one.
fn back_to_search(lang: RwSignal<Lang>) -> impl IntoView {
    (!use_display().embedded)
        .then(|| view! { <p><Link href="/".to_owned()>{tr(lang, "back_to_search")}</Link></p> })
}

/// For the authority's web team (not in a framed form): the link to put on their site, and
/// the snippet that frames the form, with the origins allowed to do so.
fn for_authorities(lang: RwSignal<Lang>, embed: Embed) -> impl IntoView {
    if use_display().embedded {
        return None;
    }
    let origins = embed.allowed_origins.join(", ");
    let origins = move || {
        if origins.is_empty() {
            text(lang.get(), "authorities_no_origins")
        } else {
            format(lang.get(), "authorities_origins", &[("origins", &origins)])
        }
    };
    Some(view! {
        <details class="for-authorities">
            <summary>{tr(lang, "authorities_heading")}</summary>
            <p>{tr(lang, "authorities_link")}</p>
            <p class="code"><a href=embed.link.clone()>{embed.link.clone()}</a></p>
            <label for="embed-snippet">{tr(lang, "authorities_snippet")}</label>
            <textarea id="embed-snippet" class="code" readonly rows="4">{embed.snippet}</textarea>
            <p>{origins}</p>
        </details>
    })
}
