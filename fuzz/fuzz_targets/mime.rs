//! What a citizen types goes into the MIME entity: whatever it is, the entity stays 7-bit,
//! its lines within 78 characters, and its parts exactly the ones given.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smime::mime::{Attachment, Message, compose};

#[derive(Arbitrary, Debug)]
struct Typed {
    form: String,
    unit: Option<String>,
    recipient: String,
    name: String,
    email: String,
    verified: bool,
    phone: Option<String>,
    subject: String,
    reference: Option<String>,
    text: String,
    submitted_at: u32,
    attachments: Vec<(String, Vec<u8>)>,
}

fuzz_target!(|typed: Typed| {
    let attachments: Vec<Attachment> = typed
        .attachments
        .iter()
        .map(|(name, content)| Attachment::new(name, "application/pdf", content))
        .collect();
    let entity = compose(&Message {
        form: &typed.form,
        unit: typed.unit.as_deref(),
        recipient: &typed.recipient,
        sender_name: &typed.name,
        sender_email: &typed.email,
        email_verified: typed.verified, answer_address: None, thread: None,
        sender_phone: typed.phone.as_deref(),
        subject: &typed.subject,
        reference: typed.reference.as_deref(),
        text: &typed.text,
        submitted_at: u64::from(typed.submitted_at),
        attachments: &attachments,
    });
    let entity = String::from_utf8(entity).expect("7-bit");
    assert!(entity.is_ascii());
    assert!(entity.split("\r\n").all(|line| line.len() <= 78 && !line.contains(['\r', '\n'])));
    assert!(entity.ends_with("--=_postsiegel_part_boundary_=--\r\n"));
    let parts = entity.matches("--=_postsiegel_part_boundary_=\r\n").count();
    assert_eq!(parts, 2 + attachments.len());
});
