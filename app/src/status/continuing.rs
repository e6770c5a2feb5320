//! Writing again in a conversation, from its status page: the same form as the first
//! message (the conversation's form as it is now, its current certificates), without an
//! address to confirm; the message is signed with the key this browser keeps for the
//! conversation, and its mail threads under what it answers.

use leptos::prelude::*;
use wire::{ConversationState, FormPage};

use crate::api;
use crate::i18n::{Lang, text};
use crate::send::Continuing;
use crate::write::Write;

#[derive(Clone)]
enum Step {
    Offered,
    Opening,
    Refused(&'static str),
    Writing(Box<FormPage>),
}

/// The offer to write again, then the form.
#[component]
pub fn ContinueConversation(
    conversation: ConversationState,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let step = RwSignal::new(Step::Offered);
    let continuing = Continuing {
        alias: conversation.alias.clone(),
        thread: conversation.thread.clone(),
    };
    let form = StoredValue::new(conversation.form);
    let alias = StoredValue::new(conversation.alias);
    let open = move |_| {
        step.set(Step::Opening);
        leptos::task::spawn_local(async move {
            step.set(opened(&form.get_value(), &alias.get_value()).await);
        });
    };
    // Only the step rebuilds what is below: the form keeps what was typed when the
    // language changes.
    view! {
        <section class="continue" aria-labelledby="continue-heading">
            <h2 id="continue-heading">{move || text(lang.get(), "continue_heading")}</h2>
            {move || match step.get() {
                Step::Writing(page) => view! {
                    <Write page=*page continuing=continuing.clone() />
                }
                .into_any(),
                Step::Offered | Step::Refused(_) => view! {
                    <p>{move || text(lang.get(), "continue_intro")}</p>
                    <button type="button" class="continue-offer" aria-describedby="continue-error" on:click=open>
                        {move || text(lang.get(), "continue_offer")}
                    </button>
                }
                .into_any(),
                Step::Opening => view! { <p>{move || text(lang.get(), "continue_opening")}</p> }
                    .into_any(),
            }}
            <p id="continue-error" class="field-error" role="alert">
                {move || match step.get() {
                    Step::Refused(why) => text(lang.get(), why),
                    _ => String::new(),
                }}
            </p>
        </section>
    }
}

/// The form, once this browser holds the conversation's key and the form is offered.
async fn opened(form: &str, alias: &str) -> Step {
    let now = (js_sys::Date::now() / 1000.0) as u64;
    if crate::conversation::resume(alias, now).await.is_err() {
        return Step::Refused("continue_no_key");
    }
    match api::get::<FormPage>(&format!("/api/forms/{form}")).await {
        Ok(page) if page.available && page.answers => Step::Writing(Box::new(page)),
        _ => Step::Refused("continue_form_unavailable"),
    }
}
