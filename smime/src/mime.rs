//! The MIME entity that gets encrypted (RFC 2045-2049, 5322): `multipart/mixed` with the
//! message as text (a readable header block on top), the form fields as JSON for
//! case-management systems, and each attachment. Every body is base64 in 76-character lines
//! with CRLF, so the entity is 7-bit clean and its boundary can never occur inside a part.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// `=_` cannot occur in base64, in RFC 2047 B-words or in RFC 2231 percent-encoding.
const BOUNDARY: &str = "=_postsiegel_part_boundary_=";
/// Bytes of input per 76-character base64 line.
const LINE_INPUT: usize = 57;

/// What the citizen typed, plus what the form knows.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The form's stable id (its slug) and the unit's, if the form belongs to one.
    pub form: &'a str,
    pub unit: Option<&'a str>,
    /// Who the form delivers to, as shown to the citizen.
    pub recipient: &'a str,
    pub sender_name: &'a str,
    pub sender_email: &'a str,
    /// Whether the portal confirmed the address with a code.
    pub email_verified: bool,
    pub sender_phone: Option<&'a str>,
    pub subject: &'a str,
    /// An Aktenzeichen, case number or similar.
    pub reference: Option<&'a str>,
    pub text: &'a str,
    /// Seconds since the Unix epoch (the caller's clock).
    pub submitted_at: u64,
    pub attachments: &'a [Attachment<'a>],
}

#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    pub file_name: &'a str,
    /// By content (see [`crate::files`]), never by name.
    pub media_type: &'a str,
    pub content: &'a [u8],
}

/// The machine-readable part: what a case-management system imports.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FormRecord {
    pub format: String,
    pub form: String,
    pub unit: Option<String>,
    pub recipient: String,
    pub submitted_at: String,
    pub sender: SenderRecord,
    pub subject: String,
    pub reference: Option<String>,
    pub attachments: Vec<AttachmentRecord>,
    /// Fields the sender typed and nobody checked.
    pub unchecked: Vec<String>,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SenderRecord {
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub file_name: String,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
}

pub const FORM_RECORD_FORMAT: &str = "postsiegel-submission/1";
pub const FORM_RECORD_FILE_NAME: &str = "kontaktformular.json";

/// Builds the MIME entity. The output is produced once, into one buffer sized in advance.
pub fn compose(message: &Message) -> Vec<u8> {
    let text = readable_text(message);
    let record = serde_json::to_vec_pretty(&form_record(message)).expect("plain data serialises");
    let attachment_bytes: usize = message
        .attachments
        .iter()
        .map(|a| base64_len(a.content.len()) + 512)
        .sum();
    let mut out = Vec::with_capacity(
        1024 + base64_len(text.len()) + base64_len(record.len()) + attachment_bytes,
    );

    header(&mut out, "MIME-Version", "1.0");
    header(&mut out, "Date", &rfc5322_date(message.submitted_at));
    // Protected headers (Thunderbird shows the encrypted subject instead of the neutral one).
    header(&mut out, "Subject", &encoded_words(message.subject));
    header(
        &mut out,
        "Content-Type",
        &format!("multipart/mixed;\r\n boundary=\"{BOUNDARY}\";\r\n protected-headers=\"v1\""),
    );
    out.extend_from_slice(b"\r\nThis is an encrypted message in MIME format.\r\n");

    part(
        &mut out,
        "text/plain; charset=utf-8",
        "inline",
        None,
        text.as_bytes(),
    );
    part(
        &mut out,
        "application/json; charset=utf-8",
        "attachment",
        Some(FORM_RECORD_FILE_NAME),
        &record,
    );
    for attachment in message.attachments {
        part(
            &mut out,
            attachment.media_type,
            "attachment",
            Some(&clean_file_name(attachment.file_name)),
            attachment.content,
        );
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn part(
    out: &mut Vec<u8>,
    media_type: &str,
    disposition: &str,
    file_name: Option<&str>,
    body: &[u8],
) {
    out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
    match file_name {
        Some(name) => {
            header(
                out,
                "Content-Type",
                &format!("{media_type};{}", rfc2231_parameter("name", name)),
            );
            header(
                out,
                "Content-Disposition",
                &format!("{disposition};{}", rfc2231_parameter("filename", name)),
            );
        }
        None => {
            header(out, "Content-Type", media_type);
            header(out, "Content-Disposition", disposition);
        }
    }
    header(out, "Content-Transfer-Encoding", "base64");
    out.extend_from_slice(b"\r\n");
    base64_lines(out, body);
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The length of `n` bytes as base64 in CRLF-terminated 76-character lines.
pub fn base64_len(n: usize) -> usize {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(76) * 2
}

/// Appends `body` as base64, 76 characters and CRLF per line.
pub fn base64_lines(out: &mut Vec<u8>, body: &[u8]) {
    let start = out.len();
    out.resize(start + base64_len(body.len()), 0);
    let mut at = start;
    for line in body.chunks(LINE_INPUT) {
        let written = BASE64
            .encode_slice(line, &mut out[at..])
            .expect("buffer sized by base64_len");
        at += written;
        out[at..at + 2].copy_from_slice(b"\r\n");
        at += 2;
    }
    debug_assert_eq!(at, out.len());
}

/// A header parameter per RFC 2231: `name*=utf-8''…` with percent-encoding, split into
/// `name*0*=…; name*1*=…` continuations folded onto their own lines when long, so that
/// umlauts, spaces and long names survive and no line exceeds 78 characters.
pub fn rfc2231_parameter(name: &str, value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() * 3);
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    // " filename*12*=" plus 50 characters plus ";" stays well within 78.
    const PIECE: usize = 50;
    let simple = format!("{name}*=utf-8''{encoded}");
    if simple.len() <= 70 {
        return format!("\r\n {simple}");
    }
    let mut pieces = Vec::new();
    let mut rest = encoded.as_str();
    let mut first = true;
    while !rest.is_empty() {
        let mut cut = rest.len().min(PIECE);
        // Never split a %XX escape.
        while cut < rest.len() && rest[..cut].rfind('%').is_some_and(|p| p + 3 > cut) {
            cut -= 1;
        }
        let prefix = if first { "utf-8''" } else { "" };
        pieces.push(format!("{name}*{}*={prefix}{}", pieces.len(), &rest[..cut]));
        rest = &rest[cut..];
        first = false;
    }
    pieces
        .iter()
        .map(|p| format!("\r\n {p}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// RFC 2047 B-encoded words (UTF-8), each within the 75-character limit, folded.
pub fn encoded_words(text: &str) -> String {
    if !text.is_empty()
        && text.bytes().all(|b| (0x20..0x7F).contains(&b))
        && text.len() <= 60
        && !text.contains("=?")
    {
        return text.to_owned();
    }
    // 39 input bytes give 52 base64 characters: 64 with "=?utf-8?B?" and "?=", so that even
    // the first line ("Subject: ") stays within 78.
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + 39).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?utf-8?B?{}?=",
            BASE64.encode(&text.as_bytes()[start..end])
        ));
        start = end;
    }
    if words.is_empty() {
        return String::new();
    }
    words.join("\r\n ")
}

/// The last path component, without control characters; never empty.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "anhang".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn form_record(message: &Message) -> FormRecord {
    FormRecord {
        format: FORM_RECORD_FORMAT.to_owned(),
        form: message.form.to_owned(),
        unit: message.unit.map(str::to_owned),
        recipient: message.recipient.to_owned(),
        submitted_at: rfc3339(message.submitted_at),
        sender: SenderRecord {
            name: message.sender_name.to_owned(),
            email: message.sender_email.to_owned(),
            email_verified: message.email_verified,
            phone: message.sender_phone.map(str::to_owned),
        },
        subject: message.subject.to_owned(),
        reference: message.reference.map(str::to_owned),
        attachments: message
            .attachments
            .iter()
            .map(|a| AttachmentRecord {
                file_name: clean_file_name(a.file_name),
                media_type: a.media_type.to_owned(),
                size: a.content.len() as u64,
                sha256: Sha256::digest(a.content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
            .collect(),
        unchecked: unchecked_fields(message)
            .into_iter()
            .map(|(key, _)| key.to_owned())
            .collect(),
    }
}

/// The fields the sender typed that nobody checked: (JSON key, German label).
fn unchecked_fields(message: &Message) -> Vec<(&'static str, &'static str)> {
    let mut fields = vec![("sender.name", "Name")];
    if !message.email_verified {
        fields.push(("sender.email", "E-Mail-Adresse"));
    }
    if message.sender_phone.is_some() {
        fields.push(("sender.phone", "Telefon"));
    }
    fields.push(("subject", "Betreff"));
    if message.reference.is_some() {
        fields.push(("reference", "Aktenzeichen"));
    }
    fields
}

/// The header block at the top of the text, then the message, with CRLF line ends.
fn readable_text(message: &Message) -> String {
    let mut lines: Vec<String> = vec![
        "Nachricht über das sichere Kontaktformular".to_owned(),
        "==========================================".to_owned(),
        format!("An:              {}", message.recipient),
        format!(
            "Formular:        {}{}",
            message.form,
            message.unit.map(|u| format!(" / {u}")).unwrap_or_default()
        ),
        format!("Eingegangen:     {}", human_date(message.submitted_at)),
        format!(
            "Name:            {} (ungeprüft)",
            one_line(message.sender_name)
        ),
        format!(
            "E-Mail:          {} ({})",
            one_line(message.sender_email),
            if message.email_verified {
                "mit Code bestätigt"
            } else {
                "ungeprüft"
            }
        ),
    ];
    if let Some(phone) = message.sender_phone {
        lines.push(format!("Telefon:         {} (ungeprüft)", one_line(phone)));
    }
    lines.push(format!(
        "Betreff:         {} (ungeprüft)",
        one_line(message.subject)
    ));
    if let Some(reference) = message.reference {
        lines.push(format!(
            "Aktenzeichen:    {} (ungeprüft)",
            one_line(reference)
        ));
    }
    if message.attachments.is_empty() {
        lines.push("Anhänge:         keine".to_owned());
    } else {
        for (i, a) in message.attachments.iter().enumerate() {
            lines.push(format!(
                "{}{} ({}, {} Bytes)",
                if i == 0 {
                    "Anhänge:         "
                } else {
                    "                 "
                },
                clean_file_name(a.file_name),
                a.media_type,
                a.content.len()
            ));
        }
    }
    let unchecked: Vec<&str> = unchecked_fields(message)
        .iter()
        .map(|(_, label)| *label)
        .collect();
    lines.extend([
        String::new(),
        format!(
            "Ungeprüft heißt: vom Absender selbst eingegeben, von niemandem überprüft ({}).",
            unchecked.join(", ")
        ),
        "Achtung: Eine Antwort per gewöhnlicher E-Mail an diese Adresse würde unverschlüsselt übertragen.".to_owned(),
        "------------------------------------------".to_owned(),
        String::new(),
        String::new(),
    ]);
    let mut text = lines.join("\r\n");
    text.push_str(&crlf(message.text));
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    text
}

fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Normalises line ends to CRLF, as text/plain requires.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out
}

fn date_time(unix_seconds: u64) -> der::DateTime {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix_seconds))
        .unwrap_or(der::DateTime::INFINITY)
}

/// RFC 5322 date in UTC, e.g. `Fri, 27 Nov 2026 15:30:00 +0000`.
pub fn rfc5322_date(unix_seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = date_time(unix_seconds);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[((unix_seconds / 86_400) % 7) as usize],
        t.day(),
        MONTHS[usize::from(t.month()) - 1],
        t.year(),
        t.hour(),
        t.minutes(),
        t.seconds()
    )
}

/// RFC 3339 in UTC, e.g. `2026-11-27T15:30:00Z`.
pub fn rfc3339(unix_seconds: u64) -> String {
    let t = date_time(unix_seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    )
}

fn human_date(unix_seconds: u64) -> String {
    let t = date_time(unix_seconds);
    format!(
        "{:02}.{:02}.{:04}, {:02}:{:02} Uhr (UTC)",
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minutes()
    )
}
