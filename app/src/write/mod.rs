//! Writing and sending: the fields, the address confirmation, the attachments, and the
//! send button that hands everything to the pipeline in `send.rs`, which checks, encrypts
//! and uploads. Nothing leaves the browser unencrypted.

mod attachments;
mod fields;
mod receipt;
mod verification;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wire::{ErrorCode, FormPage};

use crate::api;
use crate::browser::focus;
use crate::i18n::{Lang, format, refusal, text, use_lang};
use crate::send::{self, Continuing, Problem, Progress, Standing, Typed};
use attachments::{Files, attachments};
use fields::{Fields, field};
use receipt::{Sent, progress_step, progress_view, receipt_view};
use verification::{Verification, email_verification};

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

fn problem_words(lang: Lang, problem: &Problem) -> String {
    match problem {
        Problem::Certificate => text(lang, "error_certificate"),
        Problem::Encryption => text(lang, "error_encryption"),
        Problem::NoKey => text(lang, "error_no_key"),
        Problem::Refused(refused) => refusal(lang, refused),
    }
}

/// What sending needs to show: whether it runs, how far, how it ended.
#[derive(Clone, Copy)]
struct Sending {
    running: RwSignal<bool>,
    progress: RwSignal<Progress>,
    error: RwSignal<Option<String>>,
    done: RwSignal<Option<Sent>>,
    /// The new certificates' fingerprints, when the form was fetched again.
    renewed: RwSignal<Option<String>>,
}

impl Sending {
    fn new() -> Sending {
        Sending {
            running: RwSignal::new(false),
            progress: RwSignal::new(Progress::Checking),
            error: RwSignal::new(None),
            done: RwSignal::new(None),
            renewed: RwSignal::new(None),
        }
    }

    /// Leaving mid-way sends nothing (the upload is one request, refused unless whole);
    /// the browser asks first, so that nobody loses a message by a slip.
    fn ask_before_leaving(self) {
        let running = self.running;
        let leaving = window_event_listener(leptos::ev::beforeunload, move |event| {
            if running.get_untracked() {
                event.prevent_default();
                // Some browsers ask only when this is not empty; none shows the text.
                event.set_return_value("sending");
            }
        });
        on_cleanup(move || leaving.remove());
    }
}

/// Marks what is missing; true when the message may go. A message written again in a
/// conversation has no address to confirm.
fn complete(
    fields: Fields,
    verify_email: bool,
    verified: bool,
    continuing: bool,
    lang: Lang,
) -> bool {
    let mut complete = true;
    for (_, field) in fields.required(!continuing) {
        let empty = field.value.get_untracked().trim().is_empty();
        field.error.set(empty.then(|| text(lang, "error_required")));
        complete &= !empty;
    }
    if verify_email && !verified && !continuing && complete {
        fields
            .email
            .error
            .set(Some(text(lang, "error_email_unverified")));
        complete = false;
    }
    if !complete {
        // To the first field in error, so that keyboard and screen-reader users land there.
        let first = fields
            .required(!continuing)
            .into_iter()
            .find(|(_, f)| f.error.get_untracked().is_some());
        if let Some((id, _)) = first {
            focus(&format!("#{id}"));
        }
    }
    complete
}

/// Sends, and once more for the new certificates when they changed since the page loaded
/// (fetching the form again and saying so), keeping everything typed.
async fn send_all(
    page: StoredValue<FormPage>,
    typed: Typed,
    verification: Verification,
    continuing: Option<Continuing>,
    sending: Sending,
) -> Result<Sent, Problem> {
    let progress = move |step| sending.progress.set(step);
    let token = verification.token.get_untracked();
    let standing = Standing {
        token: token.as_ref().filter(|_| continuing.is_none()),
        continuing: continuing.as_ref(),
    };
    let first = page.get_value();
    let mut result = send::send(&first, &typed, standing, now(), progress).await;
    let changed =
        matches!(&result, Err(Problem::Refused(r)) if r.is(ErrorCode::CertificateChanged));
    if changed
        && let Ok(fresh) = api::get::<FormPage>(&format!("/api/forms/{}", first.slug)).await
        && fresh.available
    {
        let fingerprints = fresh
            .delivery
            .iter()
            .flat_map(|d| &d.certificates)
            .map(|c| c.sha256_fingerprint.clone())
            .collect::<Vec<_>>()
            .join(", ");
        sending.renewed.set(Some(fingerprints));
        result = send::send(&fresh, &typed, standing, now(), progress).await;
        page.set_value(fresh);
    }
    result.map(Sent::new)
}

/// The message form; with `continuing`, for a message written again in a conversation
/// (from its status page): no address to confirm, signed with the conversation's key.
#[component]
pub fn Write(page: FormPage, #[prop(optional)] continuing: Option<Continuing>) -> impl IntoView {
    let lang = use_lang();
    let fields = Fields::new();
    // Fail closed: without WebCrypto in a secure context nothing can be encrypted here.
    let secure = web_sys::window().is_some_and(|w| w.is_secure_context())
        && smime::webcrypto::subtle().is_ok();
    // An embedded form's storage belongs to the framing site, so the key made here is not
    // where the notification's link opens: its receipt requires the backup file.
    let answers = secure && page.answers && continuing.is_none();
    if answers {
        crate::conversation::prepare();
    }
    if secure {
        send::fetch_anchors_ahead(&page);
    }
    let verification = Verification::new(&page.slug, now());
    let files = Files::new();
    let sending = Sending::new();
    sending.ask_before_leaving();
    let location = expect_context::<crate::routes::Location>();
    let slug = page.slug.clone();
    let allowed = page
        .policy
        .as_ref()
        .map(|p| p.allowed_types.clone())
        .unwrap_or_default();
    let max_upload = page.max_upload_bytes.unwrap_or(0);
    let verify_email = page.policy.as_ref().is_none_or(|p| p.verify_email);
    let confirmations = page.privacy.report_days.is_some();
    let confirmation = RwSignal::new(false);
    let recipient = page.title.clone();
    // Stored, so that the handlers below are Copy and can be used in every re-render.
    let page = StoredValue::new(page);
    let continuing = StoredValue::new(continuing);

    let send = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let verified = verification.token.get_untracked().is_some();
        let again = continuing.with_value(Option::is_some);
        if !complete(fields, verify_email, verified, again, lang.get_untracked()) {
            return;
        }
        let typed = Typed {
            attachments: files.attached.get_untracked(),
            name: fields.name.value.get_untracked(),
            email: fields.email.value.get_untracked(),
            phone: fields.phone.optional(),
            subject: fields.subject.value.get_untracked(),
            reference: fields.reference.optional(),
            message: fields.message.value.get_untracked(),
            confirmation: confirmations && confirmation.get_untracked(),
            answers,
        };
        location.hold(true);
        sending.running.set(true);
        sending.progress.set(Progress::Checking);
        sending.error.set(None);
        spawn_local(async move {
            let result = send_all(page, typed, verification, continuing.get_value(), sending).await;
            sending.running.set(false);
            location.hold(false);
            match result {
                Ok(sent) => {
                    sending.done.set(Some(sent));
                    // The form is gone: focus moves to the receipt that replaced it.
                    request_animation_frame(|| focus(".receipt"));
                }
                Err(problem) => {
                    sending
                        .error
                        .set(Some(problem_words(lang.get_untracked(), &problem)));
                    // The button was disabled while sending and lost the focus: take it to
                    // what went wrong.
                    request_animation_frame(|| focus("#send-error"));
                }
            }
        });
    };

    let renewed = move || {
        sending.renewed.get().map(|fingerprints| {
            format(
                lang.get(),
                "certificate_renewed",
                &[("fingerprints", &fingerprints)],
            )
        })
    };
    view! {
        {move || match sending.done.get() {
            Some(sent) => view! {
                {move || renewed().map(|note| view! { <p class="note">{note}</p> })}
                {receipt_view(lang, sent)}
            }
                .into_any(),
            None => view! {
                <form class="write" on:submit=send novalidate>
                    <h2>{move || text(lang.get(), "write_heading")}</h2>
                    {field("name", "field_name", fields.name, false)}
                    {match continuing.with_value(Option::is_some) {
                        false => email_verification(slug.clone(), fields.email, verification).into_any(),
                        true => continuing_note(lang, recipient.clone()).into_any(),
                    }}
                    {field("phone", "field_phone", fields.phone, false)}
                    {field("subject", "field_subject", fields.subject, false)}
                    {field("reference", "field_reference", fields.reference, false)}
                    {field("message", "field_message", fields.message, true)}
                    {attachments(files, allowed.clone(), max_upload, fields.message)}
                    {confirmations.then(|| confirmation_choice(lang, confirmation))}
                    <p id="send-error" class="field-error" role="alert" tabindex="-1">
                        {move || sending.error.get()}
                    </p>
                    {move || renewed().map(|note| view! { <p class="note" role="status">{note}</p> })}
                    {(!secure).then(|| view! {
                        <p class="error insecure" role="alert">{move || text(lang.get(), "insecure")}</p>
                    })}
                    {send_button(lang, sending, secure)}
                </form>
            }
                .into_any(),
        }}
    }
}

/// In place of the address: where a message written again goes, and how.
fn continuing_note(lang: RwSignal<Lang>, recipient: String) -> impl IntoView {
    view! {
        <p class="note continuing-note">
            {move || format(lang.get(), "continue_note", &[("recipient", &recipient)])}
        </p>
    }
}

/// "Empfangsbestätigung anfordern": the mail then asks the authority's mail program for
/// an MDN, which the status page shows.
fn confirmation_choice(lang: RwSignal<Lang>, confirmation: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="check">
            <input
                id="confirmation"
                type="checkbox"
                aria-describedby="confirmation-hint"
                prop:checked=move || confirmation.get()
                on:change=move |e| confirmation.set(event_target_checked(&e))
            />
            <div>
                <label for="confirmation">{move || text(lang.get(), "confirmation_request")}</label>
                <p id="confirmation-hint" class="hint">{move || text(lang.get(), "confirmation_hint")}</p>
            </div>
        </div>
    }
}

/// The button, the step announced while sending, and the bars.
fn send_button(lang: RwSignal<Lang>, sending: Sending, secure: bool) -> impl IntoView {
    let running = sending.running;
    view! {
        <button type="submit" class="send" disabled=move || running.get() || !secure>
            {move || {
                if running.get() { text(lang.get(), "sending") } else { text(lang.get(), "send") }
            }}
        </button>
        // Always in the page, so that screen readers announce each step.
        <p class="progress-step" role="status">
            {move || running.get().then(|| text(lang.get(), progress_step(sending.progress.get())))}
        </p>
        <Show when=move || running.get()>
            {progress_view(lang, sending.progress)}
        </Show>
    }
}
