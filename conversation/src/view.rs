//! The answers on a message's status page: when each arrived and when it goes, and, on
//! request, the answer itself decrypted here with its text and its attachments as
//! downloads. Mounted by the form's module into an element of its status page.

use std::cell::Cell;

use leptos::prelude::*;
use wire::AnswerArrived;

use crate::answer::{self, Answer, Unreadable};
use crate::backup::{ImportBackup, SaveBackup};
use crate::close::CloseConversation;
use crate::i18n::{Lang, format, text};
use crate::sender::Sender;

thread_local! {
    static LANG: Cell<Option<RwSignal<Lang>>> = const { Cell::new(None) };
}

/// The module's one language signal, set to `lang`.
fn language(lang: Lang) -> RwSignal<Lang> {
    LANG.with(|cell| match cell.get() {
        Some(signal) => {
            signal.set(lang);
            signal
        }
        None => {
            let signal = RwSignal::new(lang);
            cell.set(Some(signal));
            signal
        }
    })
}

pub fn set_language(lang: Lang) {
    language(lang);
}

pub fn mount(element: web_sys::HtmlElement, token: String, lang: Lang) {
    let lang = language(lang);
    leptos::mount::mount_to(element, move || view! { <Answers token lang/> }).forget();
}

/// The receipt's offer of a backup file for conversation `alias`.
pub fn mount_backup(element: web_sys::HtmlElement, alias: String, required: bool, lang: Lang) {
    let lang = language(lang);
    leptos::mount::mount_to(element, move || view! { <SaveBackup alias required lang/> }).forget();
}

/// `2026-12-02T10:00:00Z` → `2026-12-02 10:00:00`.
fn shown_time(rfc3339: &str) -> String {
    let time = rfc3339.replace('T', " ");
    let time = time.trim_end_matches('Z');
    // mail-parser writes offsets (`+00:00`); the portal's times are UTC with `Z`.
    time.strip_suffix("+00:00").unwrap_or(time).to_owned()
}

fn timed(lang: Lang, key: &str, rfc3339: &str) -> String {
    format(lang, key, &[("time", &shown_time(rfc3339))])
}

#[component]
fn Answers(token: String, lang: RwSignal<Lang>) -> impl IntoView {
    let status = LocalResource::new({
        let token = token.clone();
        move || {
            let token = token.clone();
            async move {
                let body = crate::portal::fetch(&format!("/api/status/{token}"), None, &[]).await?;
                serde_json::from_slice::<wire::Status>(&body).map_err(|e| e.to_string())
            }
        }
    });
    view! {
        <section class="answers" aria-labelledby="answers-heading">
            <h2 id="answers-heading">{move || text(lang.get(), "answers_heading")}</h2>
            {move || match status.get() {
                None => view! { <p>{text(lang.get(), "answers_loading")}</p> }.into_any(),
                Some(Err(_)) => view! { <p>{text(lang.get(), "answers_unknown")}</p> }.into_any(),
                Some(Ok(found)) => {
                    let refresh = Callback::new(move |()| status.refetch());
                    view! { <Conversation token=token.clone() found refresh lang/> }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn Conversation(
    token: String,
    found: wire::Status,
    refresh: Callback<()>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    // Mounted only for a message that opened a conversation.
    let Some(conversation) = found.conversation.clone() else {
        return view! { <p>{move || text(lang.get(), "answers_unknown")}</p> }.into_any();
    };
    let (closed, ends) = (conversation.closed_at.clone(), conversation.ends_at.clone());
    let key_here = key_here(conversation.alias.clone(), lang);
    let none_yet = found.answers.is_empty() && closed.is_none();
    let close = closed.is_none().then(|| {
        view! { <CloseConversation alias=conversation.alias.clone() closed=refresh lang/> }
    });
    let answers = found
        .answers
        .into_iter()
        .map(|arrived| {
            view! { <AnswerItem token=token.clone() conversation=conversation.clone() arrived lang/> }
        })
        .collect_view();
    view! {
        <p role="status">
            {move || match &closed {
                Some(at) => timed(lang.get(), "conversation_closed", at),
                None => timed(lang.get(), "conversation_ends", &ends),
            }}
        </p>
        {none_yet.then(|| view! { <p>{move || text(lang.get(), "no_answer_yet")}</p> })}
        <p class="note">{move || text(lang.get(), "key_where")}</p>
        {key_here}
        <ul class="answer-list">{answers}</ul>
        {close}
    }
    .into_any()
}

#[derive(Clone)]
enum Reading {
    Closed,
    Busy,
    Shown(Answer),
    Failed(Unreadable),
}

#[component]
fn AnswerItem(
    token: String,
    conversation: wire::ConversationState,
    arrived: AnswerArrived,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let reading = RwSignal::new(Reading::Closed);
    let id = arrived.id.clone();
    let read = move |_| {
        reading.set(Reading::Busy);
        let (token, conversation, id) = (token.clone(), conversation.clone(), id.clone());
        leptos::task::spawn_local(async move {
            reading.set(match answer::open(&token, &conversation, &id).await {
                Ok(answer) => Reading::Shown(answer),
                Err(why) => Reading::Failed(why),
            });
        });
    };
    let opened = arrived.opened_at.clone();
    let received_at = arrived.received_at.clone();
    view! {
        <li class="answer">
            <p>{move || timed(lang.get(), "answer_arrived", &arrived.received_at)}</p>
            <p>{move || timed(lang.get(), "answer_kept_until", &arrived.kept_until)}</p>
            {opened.map(|at| view! { <p>{move || timed(lang.get(), "answer_opened", &at)}</p> })}
            <button
                type="button"
                on:click=read
                disabled=move || matches!(reading.get(), Reading::Busy | Reading::Shown(_))
            >
                {move || text(lang.get(), "answer_read")}
            </button>
            <div class="answer-reader" aria-live="polite">
                {move || match reading.get() {
                    Reading::Closed => ().into_any(),
                    Reading::Busy => view! { <p>{text(lang.get(), "answer_reading")}</p> }.into_any(),
                    Reading::Failed(why) => view! {
                        <p class="error" role="alert">{text(lang.get(), unreadable_key(why))}</p>
                    }
                    .into_any(),
                    Reading::Shown(answer) => {
                        view! { <Shown answer received_at=received_at.clone() lang/> }.into_any()
                    }
                }}
            </div>
        </li>
    }
}

fn unreadable_key(why: Unreadable) -> &'static str {
    match why {
        Unreadable::NoKey => "answer_no_key",
        Unreadable::Unreachable => "answer_unreachable",
        Unreadable::Undecryptable => "answer_undecryptable",
    }
}

/// The answer, dated as its sender's mail program dated it, or else as the portal received it.
#[component]
fn Shown(answer: Answer, received_at: String, lang: RwSignal<Lang>) -> impl IntoView {
    let date = answer.date.clone().unwrap_or(received_at);
    let files = answer
        .attachments
        .iter()
        .enumerate()
        .map(|(index, file)| attachment_item(index, file, lang))
        .collect_view();
    let no_files = answer.attachments.is_empty();
    view! {
        <article class="answer-shown" aria-labelledby="answer-shown-heading">
            <h3 id="answer-shown-heading">{move || timed(lang.get(), "answer_heading", &date)}</h3>
            <p class="answer-sender">{move || sender_words(lang.get(), &answer.sender)}</p>
            <div class="answer-text">{answer.text.clone()}</div>
            <h4>{move || text(lang.get(), "answer_attachments")}</h4>
            {no_files.then(|| view! { <p>{move || text(lang.get(), "answer_no_attachments")}</p> })}
            <ul class="answer-files">{files}</ul>
        </article>
    }
}

/// On a device without the conversation's key, the way to take it in from its backup file.
fn key_here(alias: String, lang: RwSignal<Lang>) -> impl IntoView {
    let imported = RwSignal::new(false);
    let present = LocalResource::new({
        let alias = alias.clone();
        move || {
            let alias = alias.clone();
            async move { crate::key::kept(&alias).await.is_ok() }
        }
    });
    move || match (present.get(), imported.get()) {
        (_, true) => {
            view! { <p class="note" role="status">{text(lang.get(), "import_done")}</p> }.into_any()
        }
        (Some(false), false) => {
            let done = Callback::new(move |()| imported.set(true));
            view! { <ImportBackup alias=alias.clone() imported=done lang/> }.into_any()
        }
        _ => ().into_any(),
    }
}

/// One attachment: its download, and a warning beside it if the file checks found one.
fn attachment_item(
    index: usize,
    file: &crate::answer::Attachment,
    lang: RwSignal<Lang>,
) -> impl IntoView + use<> {
    let href = crate::download::url(&file.bytes, &file.media_type);
    let (name, size) = (file.name.clone(), file.bytes.len().to_string());
    let label = name.clone();
    let caution_id = format!("attachment-caution-{index}");
    let caution = file.caution;
    let media_type = file.media_type.clone();
    view! {
        <li>
            <a href=href download=name type=media_type aria-describedby=caution.map(|_| caution_id.clone())>
                {move || format(lang.get(), "answer_attachment_size", &[("name", &label), ("size", &size)])}
            </a>
            {caution.map(|key| view! { <p id=caution_id class="caution">{move || text(lang.get(), key)}</p> })}
        </li>
    }
}

fn sender_words(lang: Lang, sender: &Sender) -> String {
    match sender {
        Sender::Authority(mailbox) => {
            format(lang, "answer_sender_authority", &[("mailbox", mailbox)])
        }
        Sender::NotVerified => text(lang, "answer_sender_unverified"),
    }
}
