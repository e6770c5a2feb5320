//! The message's text fields: each labelled, its error next to it and announced.

use leptos::prelude::*;

use crate::i18n::{text, use_lang};

/// A field's value and its error, if any.
#[derive(Clone, Copy)]
pub struct Field {
    pub value: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
}

impl Field {
    pub fn new() -> Field {
        Field {
            value: RwSignal::new(String::new()),
            error: RwSignal::new(None),
        }
    }

    /// The value, or none when only blanks were typed.
    pub fn optional(self) -> Option<String> {
        let value = self.value.get_untracked();
        (!value.trim().is_empty()).then_some(value)
    }
}

/// Every field of the message but the files.
#[derive(Clone, Copy)]
pub struct Fields {
    pub name: Field,
    pub email: Field,
    pub phone: Field,
    pub subject: Field,
    pub reference: Field,
    pub message: Field,
}

impl Fields {
    pub fn new() -> Fields {
        Fields {
            name: Field::new(),
            email: Field::new(),
            phone: Field::new(),
            subject: Field::new(),
            reference: Field::new(),
            message: Field::new(),
        }
    }

    /// The required fields by their element id, in the order of the form; the address only
    /// where one is asked for (not for a message written again in a conversation).
    pub fn required(self, with_email: bool) -> Vec<(&'static str, Field)> {
        let mut required = vec![("name", self.name)];
        if with_email {
            required.push(("email", self.email));
        }
        required.extend([("subject", self.subject), ("message", self.message)]);
        required
    }
}

/// One labelled field, its error next to it and announced.
pub fn field(
    id: &'static str,
    label: &'static str,
    field: Field,
    multiline: bool,
) -> impl IntoView {
    let lang = use_lang();
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    let input = if multiline {
        view! {
            <textarea
                id=id
                rows="8"
                aria-invalid=move || field.error.get().is_some().to_string()
                aria-describedby=described.clone()
                prop:value=move || field.value.get()
                on:input=move |e| field.value.set(event_target_value(&e))
            ></textarea>
        }
        .into_any()
    } else {
        view! {
            <input
                id=id
                type=if id == "phone" { "tel" } else { "text" }
                autocomplete=match id {
                    "name" => "name",
                    "phone" => "tel",
                    "code" => "one-time-code",
                    _ => "off",
                }
                aria-invalid=move || field.error.get().is_some().to_string()
                aria-describedby=described.clone()
                prop:value=move || field.value.get()
                on:input=move |e| field.value.set(event_target_value(&e))
            />
        }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{move || text(lang.get(), label)}</label>
            {input}
            <p id=error_id class="field-error" role="alert">
                {move || field.error.get()}
            </p>
        </div>
    }
}
