//! The status page of a message: where it is (queued, handed over, never "read"), what
//! came back after hand-over, and (shown by the conversation module) the answers its
//! conversation received.

mod continuing;

use leptos::prelude::*;
use wire::DeliveryState;

use crate::api;
use crate::i18n::{Lang, format, text, use_lang};
use crate::routes::set_title;

/// Where a message is: queued, handed over (never "read"), failed, and what came back
/// after hand-over (a bounce, a delay, a confirmation of receipt) with its words.
#[component]
pub fn Status(token: String) -> impl IntoView {
    let lang = use_lang();
    Effect::new(move |_| set_title(&text(lang.get(), "status_heading")));
    let status = LocalResource::new({
        let token = token.clone();
        move || {
            let token = token.clone();
            async move { api::get::<wire::Status>(&format!("/api/status/{token}")).await }
        }
    });
    let answers = answers_mount(token, status, lang);
    view! {
        <h1>{move || text(lang.get(), "status_heading")}</h1>
        <div role="status">
            {move || match status.get() {
                None => view! { <p>{text(lang.get(), "status_loading")}</p> }.into_any(),
                Some(Err(_)) => view! { <p>{text(lang.get(), "status_unknown")}</p> }.into_any(),
                Some(Ok(found)) => {
                    let state = state_words(lang.get(), &found);
                    let report = found.report.clone().map(|report| report_view(lang.get(), report));
                    let requested = (found.confirmation_requested
                        && matches!(found.state, DeliveryState::Queued | DeliveryState::Delivered | DeliveryState::Delayed))
                        .then(|| view! { <p class="note">{text(lang.get(), "status_confirmation_requested")}</p> });
                    view! {
                        <p>
                            {text(lang.get(), "receipt_number")} ": "
                            <strong class="receipt-number">{found.receipt}</strong>
                        </p>
                        <p class="state">{state}</p>
                        {report}
                        {requested}
                    }
                        .into_any()
                }
            }}
        </div>
        {answers}
        {move || {
            let live = status.get().and_then(Result::ok).and_then(|found| found.conversation)
                .filter(|conversation| conversation.closed_at.is_none());
            // The conversation module hides it (`section.continue`) when it closes the
            // conversation on this page.
            live.map(|conversation| view! {
                <continuing::ContinueConversation conversation lang />
            })
        }}
    }
}

/// Where the answers go: the conversation module (`crate::conversation`) shows them, loaded
/// only for a message that opened a conversation, as it weighs more than the whole form.
fn answers_mount(
    token: String,
    status: LocalResource<Result<wire::Status, api::Failure>>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let mount = NodeRef::<leptos::html::Div>::new();
    let mounted = StoredValue::new(false);
    Effect::new(move |_| {
        let code = lang.get().code();
        let conversation = matches!(status.get(), Some(Ok(found)) if found.conversation.is_some());
        let Some(element) = mount.get().filter(|_| conversation) else {
            return;
        };
        if mounted.get_value() {
            crate::conversation::set_language(code);
        } else {
            mounted.set_value(true);
            let element = wasm_bindgen::JsCast::unchecked_into(element);
            crate::conversation::mount_answers(element, &token, code);
        }
    });
    view! { <div class="answers-mount" node_ref=mount></div> }
}

/// `2026-12-02T10:00:00Z` → `2026-12-02 10:00:00`.
fn shown_time(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").trim_end_matches('Z').to_owned()
}

fn state_words(lang: Lang, found: &wire::Status) -> String {
    let time = shown_time(found.finished_at.as_deref().unwrap_or_default());
    let report_time = shown_time(found.report.as_ref().map_or("", |r| r.received_at.as_str()));
    let times = [
        ("time", time.as_str()),
        ("report_time", report_time.as_str()),
    ];
    let key = match found.state {
        DeliveryState::Queued => "status_queued",
        DeliveryState::Delivered => "status_delivered",
        DeliveryState::Delayed => "status_delayed",
        DeliveryState::FailedAfterHandover => "status_failed_after_handover",
        DeliveryState::ConfirmedReceived => "status_confirmed_received",
        DeliveryState::Opened => "status_opened",
        DeliveryState::DeletedUnread => "status_deleted_unread",
        DeliveryState::Failed => "status_failed",
    };
    format(lang, key, &times)
}

/// Whether the report is vouched for, and its words.
fn report_view(lang: Lang, report: wire::Report) -> impl IntoView {
    let trust = if report.verified {
        "status_report_verified"
    } else {
        "status_report_unverified"
    };
    let words = (!report.detail.is_empty())
        .then(|| format(lang, "status_report_words", &[("detail", &report.detail)]));
    view! {
        <p class="report">{text(lang, trust)}</p>
        {words.map(|w| view! { <p class="report-words">{w}</p> })}
    }
}
