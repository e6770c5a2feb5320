//! Confirming the citizen's address: a code by mail, typed here, answered with a token that
//! the upload carries. The token is kept on this device only when the citizen asks for it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;
use wire::{CodeConfirmation, CodeRequest, Token};

use super::fields::{Field, field};
use crate::api;
use crate::browser::storage;
use crate::i18n::{format, refusal, text, use_lang};

/// The state of the confirmation.
#[derive(Clone, Copy)]
pub struct Verification {
    /// The token, once the code was confirmed (or remembered from an earlier visit).
    pub token: RwSignal<Option<Token>>,
    code: Field,
    code_sent: RwSignal<bool>,
    remember: RwSignal<bool>,
}

impl Verification {
    /// With a token remembered on this device for `slug`, if still valid at `now`.
    pub fn new(slug: &str, now: u64) -> Verification {
        Verification {
            token: RwSignal::new(remembered_token(slug, now)),
            code: Field::new(),
            code_sent: RwSignal::new(false),
            remember: RwSignal::new(false),
        }
    }
}

fn token_key(slug: &str) -> String {
    format!("postsiegel-token:{slug}")
}

/// Keeps the token on this device; only when the citizen ticked "remember".
fn remember_token(slug: &str, token: &Token) {
    if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(token)) {
        let _ = storage.set_item(&token_key(slug), &json);
    }
}

fn remembered_token(slug: &str, now: u64) -> Option<Token> {
    let storage = storage()?;
    let json = storage.get_item(&token_key(slug)).ok().flatten()?;
    let token: Token = serde_json::from_str(&json).ok()?;
    if token.expires_at > now {
        Some(token)
    } else {
        let _ = storage.remove_item(&token_key(slug));
        None
    }
}

/// POSTs `body` as JSON.
async fn post_json<T: serde::de::DeserializeOwned>(
    url: &str,
    body: &impl serde::Serialize,
) -> Result<T, api::Refusal> {
    let json = serde_json::to_string(body).unwrap_or_default();
    api::post(url, "application/json", &JsValue::from_str(&json), None).await
}

/// Asks every few seconds, while the citizen waits for the code, whether its mail came
/// back undeliverable; if so, says so at the address, which is then likely wrong.
fn watch_code_delivery(
    delivery: String,
    email: Field,
    verification: Verification,
    lang: RwSignal<crate::i18n::Lang>,
) {
    spawn_local(async move {
        let url = format!("/api/verification/delivery/{}", api::encode(&delivery));
        // A bounce comes within seconds to minutes; the code is valid for ten.
        for _ in 0..120 {
            crate::browser::sleep(5_000).await;
            if verification.token.get_untracked().is_some()
                || !verification.code_sent.get_untracked()
            {
                return;
            }
            if let Ok(answer) = api::get::<wire::CodeDelivery>(&url).await
                && answer.bounced
            {
                verification.code_sent.set(false);
                email
                    .error
                    .set(Some(text(lang.get_untracked(), "email_code_bounced")));
                return;
            }
        }
    });
}

/// The e-mail field with its confirmation: ask for a code, type it, confirm.
pub fn email_verification(slug: String, email: Field, verification: Verification) -> impl IntoView {
    let lang = use_lang();
    let Verification {
        token,
        code,
        code_sent,
        remember,
    } = verification;
    let slug = StoredValue::new(slug);
    let request_code = move |_| {
        let request = CodeRequest {
            form: slug.get_value(),
            address: email.value.get_untracked(),
        };
        spawn_local(async move {
            email.error.set(None);
            let answer: Result<wire::CodeSent, _> =
                post_json("/api/verification/code", &request).await;
            match answer {
                Ok(sent) => {
                    code_sent.set(true);
                    watch_code_delivery(sent.delivery, email, verification, lang);
                }
                Err(refused) => email
                    .error
                    .set(Some(refusal(lang.get_untracked(), &refused))),
            }
        });
    };
    let confirm_code = move |_| {
        let request = CodeConfirmation {
            form: slug.get_value(),
            address: email.value.get_untracked(),
            code: code.value.get_untracked(),
            remember: remember.get_untracked(),
        };
        spawn_local(async move {
            code.error.set(None);
            match post_json::<Token>("/api/verification/confirm", &request).await {
                Ok(confirmed) => {
                    email.error.set(None);
                    if request.remember {
                        remember_token(&request.form, &confirmed);
                    }
                    token.set(Some(confirmed));
                }
                Err(refused) => code
                    .error
                    .set(Some(refusal(lang.get_untracked(), &refused))),
            }
        });
    };
    view! {
        <div class="field">
            <label for="email">{move || text(lang.get(), "field_email")}</label>
            <p id="email-hint" class="hint">
                {move || text(lang.get(), "field_email_hint")}
            </p>
            <input
                id="email"
                type="email"
                autocomplete="email"
                aria-describedby="email-hint email-error"
                aria-invalid=move || email.error.get().is_some().to_string()
                prop:value=move || email.value.get()
                prop:readOnly=move || token.get().is_some()
                on:input=move |e| email.value.set(event_target_value(&e))
            />
            <p id="email-error" class="field-error" role="alert">
                {move || email.error.get()}
            </p>
            {move || match token.get() {
                Some(t) => view! {
                    <p class="verified">
                        {format(lang.get(), "email_verified", &[("address", &t.address)])}
                    </p>
                }
                    .into_any(),
                None => view! {
                    <button type="button" on:click=request_code>
                        {move || text(lang.get(), "email_send_code")}
                    </button>
                    <Show when=move || code_sent.get()>
                        <p class="note" role="status">
                            {move || format(
                                lang.get(),
                                "email_code_sent",
                                &[("address", &email.value.get())],
                            )}
                        </p>
                        {field("code", "field_code", code, false)}
                        <div class="check">
                            <input
                                id="remember"
                                type="checkbox"
                                prop:checked=move || remember.get()
                                on:change=move |e| remember.set(event_target_checked(&e))
                            />
                            <label for="remember">{move || text(lang.get(), "remember")}</label>
                        </div>
                        <button type="button" on:click=confirm_code>
                            {move || text(lang.get(), "email_confirm")}
                        </button>
                    </Show>
                }
                    .into_any(),
            }}
        </div>
    }
}
