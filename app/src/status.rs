//! The status page of a message: where it is (queued, handed over, never "read"), what
//! came back after hand-over, and the answers its conversation received.

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
    let status = LocalResource::new(move || {
        let token = token.clone();
        async move { api::get::<wire::Status>(&format!("/api/status/{token}")).await }
    });
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
                    let conversation = conversation_view(lang.get(), &found);
                    view! {
                        <p>
                            {text(lang.get(), "receipt_number")} ": "
                            <strong class="receipt-number">{found.receipt}</strong>
                        </p>
                        <p class="state">{state}</p>
                        {report}
                        {requested}
                        {conversation}
                    }
                        .into_any()
                }
            }}
        </div>
    }
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

/// The conversation this message opened: the answers that arrived (still encrypted, each
/// with the date it is deleted), when it ends, or that the citizen closed it. Plain lines
/// of text, so that it adds little to the app's download.
fn conversation_view(lang: Lang, found: &wire::Status) -> Option<impl IntoView + use<>> {
    let conversation = found.conversation.as_ref()?;
    let mut lines = vec![match &conversation.closed_at {
        Some(closed) => timed(lang, "status_conversation_closed", closed),
        None => timed(lang, "status_conversation_ends", &conversation.ends_at),
    }];
    if found.answers.is_empty() && conversation.closed_at.is_none() {
        lines.push(text(lang, "status_no_answer_yet"));
    }
    let answers = found
        .answers
        .iter()
        .map(|answer| {
            let lines = answer_lines(lang, answer);
            view! { <li class="answer">{paragraphs(lines)}</li> }
        })
        .collect_view();
    Some(view! {
        <section class="answers" aria-labelledby="answers-heading">
            <h2 id="answers-heading">{text(lang, "status_answers_heading")}</h2>
            {paragraphs(lines)}
            <ul class="answer-list">{answers}</ul>
        </section>
    })
}

/// When it came and when it goes; who sent it and whether it was read the answer page says
/// (issue 17), to keep this page, part of the form's download, small.
fn answer_lines(lang: Lang, answer: &wire::AnswerArrived) -> Vec<String> {
    vec![
        timed(lang, "status_answer_arrived", &answer.received_at),
        timed(lang, "status_answer_kept_until", &answer.kept_until),
    ]
}

fn timed(lang: Lang, key: &str, rfc3339: &str) -> String {
    format(lang, key, &[("time", &shown_time(rfc3339))])
}

fn paragraphs(lines: Vec<String>) -> impl IntoView {
    lines
        .into_iter()
        .map(|line| view! { <p>{line}</p> })
        .collect_view()
}
