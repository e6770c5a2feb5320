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
#[derive(Clone)]
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
    /// The conversation's alias, where the authority's Reply goes encrypted (the message is
    /// then signed with the alias's certificate, see [`Entity::signed`]): the entity's From
    /// and Reply-To.
    pub answer_address: Option<&'a str>,
    /// A message written again in a conversation: what it answers (In-Reply-To and
    /// References, inside as in the mail's own header, so that the authority's mail
    /// program threads it).
    pub thread: Option<Thread<'a>>,
    pub sender_phone: Option<&'a str>,
    pub subject: &'a str,
    /// An Aktenzeichen, case number or similar.
    pub reference: Option<&'a str>,
    pub text: &'a str,
    /// Seconds since the Unix epoch (the caller's clock).
    pub submitted_at: u64,
    pub attachments: &'a [Attachment<'a>],
}

/// Message-IDs without angle brackets.
#[derive(Clone, Copy, Debug)]
pub struct Thread<'a> {
    pub in_reply_to: &'a str,
    pub references: &'a [String],
}

/// A Message-ID (without angle brackets) that may go into a header as it is: printable
/// ASCII without brackets or spaces, with an `@`, at most [`MAX_MESSAGE_ID_LEN`] bytes.
pub fn is_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MESSAGE_ID_LEN
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// Longer Message-IDs (from answers, written anywhere) are not repeated.
pub const MAX_MESSAGE_ID_LEN: usize = 250;

#[derive(Clone, Copy)]
pub struct Attachment<'a> {
    pub file_name: &'a str,
    /// By content (see [`crate::files`]), never by name.
    pub media_type: &'a str,
    pub content: Body<'a>,
    /// Of the content, for the form record. The browser has it from WebCrypto, which is
    /// many times faster there than SHA-256 in wasm.
    pub sha256: [u8; 32],
}

impl<'a> Attachment<'a> {
    /// An attachment whose bytes are in memory; its digest is computed here.
    pub fn new(file_name: &'a str, media_type: &'a str, content: &'a [u8]) -> Attachment<'a> {
        Attachment {
            file_name,
            media_type,
            content: Body::Memory(content),
            sha256: Sha256::digest(content).into(),
        }
    }
}

/// Where an attachment's bytes are. The entity reads them in order, some lines at a time,
/// so that they never need to be whole in the memory that builds it: in the browser they
/// stay in a JS `ArrayBuffer`, outside wasm memory.
pub trait Source {
    fn size(&self) -> u64;
    /// Fills `out` with the bytes at `offset..offset + out.len()`, which lie within `size`.
    fn read_at(&self, offset: u64, out: &mut [u8]);
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) {
        let start = offset as usize;
        out.copy_from_slice(&self[start..start + out.len()]);
    }
}

/// An attachment's bytes: in this memory, or wherever a [`Source`] reads them from.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Memory(&'a [u8]),
    Source(&'a dyn Source),
}

impl Source for Body<'_> {
    fn size(&self) -> u64 {
        match self {
            Body::Memory(bytes) => bytes.size(),
            Body::Source(source) => source.size(),
        }
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) {
        match self {
            Body::Memory(bytes) => bytes.read_at(offset, out),
            Body::Source(source) => source.read_at(offset, out),
        }
    }
}

impl Source for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) {
        self.as_slice().read_at(offset, out)
    }
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

/// Builds the whole MIME entity in one buffer (what [`Entity`] produces piece by piece).
pub fn compose(message: &Message) -> Vec<u8> {
    let mut entity = Entity::new(message);
    let mut out = vec![0; entity.len() as usize];
    let written = entity.read(&mut out);
    debug_assert_eq!(written, out.len());
    out
}

/// The MIME entity, produced piece by piece: its length is known before its first byte
/// (CMS needs it up front), and each attachment is read from its [`Source`] only as its
/// base64 is written, so the entity needs no more memory than a buffer of lines.
pub struct Entity<'a> {
    segments: Vec<Segment<'a>>,
    len: u64,
    /// The segment being read and how many of its bytes are out.
    current: usize,
    done: u64,
    /// Attachment bytes read for the lines being encoded, and their base64.
    input: Vec<u8>,
    encoded: Vec<u8>,
    /// For a signed entity ([`Entity::signed`]): the digest of the signed part so far.
    signed: Option<SignedPart>,
}

struct SignedPart {
    /// The segments the signature covers.
    segments: std::ops::Range<usize>,
    /// None once the caller hashes the signed part itself ([`Entity::hashed_elsewhere`]).
    digest: Option<Sha256>,
}

enum Segment<'a> {
    Bytes(Vec<u8>),
    /// The body as base64 in 76-character lines with CRLF.
    Base64(Body<'a>),
    /// The signature's base64 lines, of a length fixed in advance; empty until
    /// [`Entity::set_signature`], and reading stops before it until then.
    Signature {
        der_len: usize,
        lines: Option<Vec<u8>>,
    },
}

impl Segment<'_> {
    fn len(&self) -> u64 {
        match self {
            Segment::Bytes(bytes) => bytes.len() as u64,
            Segment::Base64(source) => base64_len_u64(source.size()),
            Segment::Signature { der_len, .. } => base64_len_u64(*der_len as u64),
        }
    }
}

/// The boundary of `multipart/signed` around the entity; neither base64 nor the entity's
/// own lines can hold it.
const SIGNED_BOUNDARY: &str = "=_postsiegel_signed_boundary_=";

/// Why a signature does not go into a signed entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signed part has not been read to its end yet, or is signed already")]
    NotReady,
    #[error("the signature is {actual} bytes, not the {expected} announced")]
    Length { expected: usize, actual: usize },
}

/// Bytes of a base64 line with its CRLF.
const LINE_OUTPUT: usize = 78;
/// Lines encoded per read of an attachment.
const BATCH_LINES: usize = 1024;

impl<'a> Entity<'a> {
    pub fn new(message: &Message<'a>) -> Entity<'a> {
        let text = readable_text(message);
        let record =
            serde_json::to_vec_pretty(&form_record(message)).expect("plain data serialises");
        let mut head = Vec::with_capacity(2048 + base64_len(text.len() + record.len()));
        // Protected headers (Thunderbird shows the encrypted subject instead of the neutral one).
        message_headers(&mut head, message);
        header(
            &mut head,
            "Content-Type",
            &format!("multipart/mixed;\r\n boundary=\"{BOUNDARY}\";\r\n protected-headers=\"v1\""),
        );
        head.extend_from_slice(b"\r\nThis is an encrypted message in MIME format.\r\n");
        part_header(&mut head, "text/plain; charset=utf-8", "inline", None);
        base64_lines(&mut head, text.as_bytes());
        part_header(
            &mut head,
            "application/json; charset=utf-8",
            "attachment",
            Some(FORM_RECORD_FILE_NAME),
        );
        base64_lines(&mut head, &record);
        let mut segments = Vec::with_capacity(2 * message.attachments.len() + 1);
        for attachment in message.attachments {
            part_header(
                &mut head,
                attachment.media_type,
                "attachment",
                Some(&clean_file_name(attachment.file_name)),
            );
            segments.push(Segment::Bytes(std::mem::take(&mut head)));
            segments.push(Segment::Base64(attachment.content));
        }
        head.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        segments.push(Segment::Bytes(head));
        Entity::of(segments, None)
    }

    fn of(segments: Vec<Segment<'a>>, signed: Option<SignedPart>) -> Entity<'a> {
        Entity {
            len: segments.iter().map(Segment::len).sum(),
            segments,
            current: 0,
            done: 0,
            input: Vec::new(),
            encoded: Vec::new(),
            signed,
        }
    }

    /// The entity of `message` signed (RFC 8551 `multipart/signed`) with a detached CMS
    /// signature of `signature_len` bytes (DER): its length is known before its first byte,
    /// as CMS needs. Read it to where [`Self::signed_digest`] gives the SHA-256 of the
    /// signed part, sign that, [`Self::set_signature`], and read on: one pass over the
    /// attachments. The outer headers repeat the inner Date, Subject, From and Reply-To, as
    /// mail programs look for them there.
    pub fn signed(message: &Message<'a>, signature_len: usize) -> Entity<'a> {
        let inner = Entity::new(message);
        let mut head = Vec::with_capacity(512);
        message_headers(&mut head, message);
        multipart_signed_head(&mut head, SIGNED_BOUNDARY);
        let mut segments = vec![Segment::Bytes(head)];
        let signed_segments = 1..1 + inner.segments.len();
        segments.extend(inner.segments);
        let mut signature_head = Vec::new();
        signature_part_head(&mut signature_head, SIGNED_BOUNDARY);
        segments.push(Segment::Bytes(signature_head));
        segments.push(Segment::Signature {
            der_len: signature_len,
            lines: None,
        });
        segments.push(Segment::Bytes(
            format!("--{SIGNED_BOUNDARY}--\r\n").into_bytes(),
        ));
        Entity::of(
            segments,
            Some(SignedPart {
                segments: signed_segments,
                digest: Some(Sha256::new()),
            }),
        )
    }

    /// The SHA-256 of the signed part, once it has been read to its end and until the
    /// signature is set; `None` for an entity that is not signed.
    pub fn signed_digest(&self) -> Option<[u8; 32]> {
        self.due_signature()?;
        Some(self.signed.as_ref()?.digest.clone()?.finalize().into())
    }

    /// Of a signed entity: where the signed part lies, in bytes of the entity.
    pub fn signed_range(&self) -> Option<std::ops::Range<u64>> {
        let segments = &self.signed.as_ref()?.segments;
        let start: u64 = self.segments[..segments.start]
            .iter()
            .map(Segment::len)
            .sum();
        let len: u64 = self.segments[segments.clone()]
            .iter()
            .map(Segment::len)
            .sum();
        Some(start..start + len)
    }

    /// The caller hashes the signed part itself (the browser's SHA-256, many times faster
    /// than this one in wasm), from the bytes in [`Self::signed_range`]:
    /// [`Self::signed_digest`] then gives `None`. Before the first read.
    pub fn hashed_elsewhere(&mut self) {
        if let Some(signed) = &mut self.signed {
            signed.digest = None;
        }
    }

    /// The signature's segment, if everything before it has been read and it is not set.
    fn due_signature(&self) -> Option<usize> {
        self.signed.as_ref()?;
        let exhausted = self.done == self.segments.get(self.current)?.len();
        let at = self.current + usize::from(exhausted);
        matches!(
            self.segments.get(at)?,
            Segment::Signature { lines: None, .. }
        )
        .then_some(at)
    }

    /// Puts the detached signature (DER, as announced to [`Self::signed`]) in its place.
    pub fn set_signature(&mut self, der: &[u8]) -> Result<(), SignatureError> {
        let at = self.due_signature().ok_or(SignatureError::NotReady)?;
        self.current = at;
        self.done = 0;
        let Segment::Signature { der_len, lines } = &mut self.segments[at] else {
            return Err(SignatureError::NotReady);
        };
        if der.len() != *der_len {
            return Err(SignatureError::Length {
                expected: *der_len,
                actual: der.len(),
            });
        }
        let mut out = Vec::with_capacity(base64_len(der.len()));
        base64_lines(&mut out, der);
        *lines = Some(out);
        Ok(())
    }

    /// The entity's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the entity's next bytes into `out` and says how many: all of `out`, unless
    /// the entity ends first (or, signed, its signature is due: see [`Self::signed`]).
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut written = 0;
        while written < out.len() && self.current < self.segments.len() {
            let segment_len = self.segments[self.current].len();
            if self.done == segment_len {
                self.current += 1;
                self.done = 0;
                continue;
            }
            let room = &mut out[written..];
            let n = match self.segments[self.current] {
                Segment::Bytes(ref bytes)
                | Segment::Signature {
                    lines: Some(ref bytes),
                    ..
                } => {
                    let rest = &bytes[self.done as usize..];
                    let n = rest.len().min(room.len());
                    room[..n].copy_from_slice(&rest[..n]);
                    n
                }
                Segment::Base64(body) => self.base64(body, room),
                Segment::Signature { lines: None, .. } => break,
            };
            if let Some(signed) = &mut self.signed
                && signed.segments.contains(&self.current)
                && let Some(digest) = &mut signed.digest
            {
                digest.update(&out[written..written + n]);
            }
            written += n;
            self.done += n as u64;
        }
        written
    }

    /// The next base64 of `source` into `room`: whole lines straight from a batch of input,
    /// or, where a line does not fit, that one line encoded on its own and copied in part.
    fn base64(&mut self, source: Body, room: &mut [u8]) -> usize {
        let size = source.size();
        let line_index = self.done / LINE_OUTPUT as u64;
        let input_at = line_index * LINE_INPUT as u64;
        let in_line = (self.done % LINE_OUTPUT as u64) as usize;
        if in_line == 0 && room.len() >= LINE_OUTPUT {
            let lines = (room.len() / LINE_OUTPUT).min(BATCH_LINES);
            let input_len = ((lines * LINE_INPUT) as u64).min(size - input_at) as usize;
            self.input.resize(input_len, 0);
            source.read_at(input_at, &mut self.input);
            // One call for the batch, then the lines copied out: many times faster than a
            // call per line.
            self.encoded.resize(input_len.div_ceil(3) * 4, 0);
            BASE64
                .encode_slice(&self.input, &mut self.encoded)
                .expect("sized for the batch");
            let mut at = 0;
            for line in self.encoded.chunks(LINE_OUTPUT - 2) {
                room[at..at + line.len()].copy_from_slice(line);
                room[at + line.len()..at + line.len() + 2].copy_from_slice(b"\r\n");
                at += line.len() + 2;
            }
            return at;
        }
        let line_len = (LINE_INPUT as u64).min(size - input_at) as usize;
        let mut input = [0u8; LINE_INPUT];
        source.read_at(input_at, &mut input[..line_len]);
        let mut line = [0u8; LINE_OUTPUT];
        let line_output = encode_line(&input[..line_len], &mut line);
        let n = (line_output - in_line).min(room.len());
        room[..n].copy_from_slice(&line[in_line..in_line + n]);
        n
    }
}

/// One line of base64 and its CRLF; returns the bytes written.
fn encode_line(input: &[u8], out: &mut [u8]) -> usize {
    let written = BASE64
        .encode_slice(input, out)
        .expect("room for a whole line");
    out[written..written + 2].copy_from_slice(b"\r\n");
    written + 2
}

/// A part's boundary line and headers, up to the blank line before its body.
fn part_header(out: &mut Vec<u8>, media_type: &str, disposition: &str, file_name: Option<&str>) {
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
}

/// MIME-Version, Date, Subject, and for a conversation From and Reply-To (the alias).
fn message_headers(out: &mut Vec<u8>, message: &Message) {
    header(out, "MIME-Version", "1.0");
    header(out, "Date", &rfc5322_date(message.submitted_at));
    header(out, "Subject", &encoded_words(message.subject));
    if let Some(alias) = message.answer_address {
        header(out, "From", &format!("<{alias}>"));
        header(out, "Reply-To", &format!("<{alias}>"));
    }
    if let Some(thread) = message.thread.filter(|t| is_message_id(t.in_reply_to)) {
        header(out, "In-Reply-To", &format!("<{}>", thread.in_reply_to));
        // One id per line, folded.
        let mut name = "References: ";
        for id in thread.references.iter().filter(|id| is_message_id(id)) {
            out.extend_from_slice(format!("{name}<{id}>\r\n").as_bytes());
            name = " ";
        }
    }
}

/// The `multipart/signed` header and preamble up to the signed part's first line.
pub fn multipart_signed_head(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n \
             micalg=sha-256; boundary=\"{boundary}\"\r\n\r\n\
             This is a signed message (S/MIME).\r\n--{boundary}\r\n"
        )
        .as_bytes(),
    );
}

/// After the signed part: the boundary and the signature part's headers, up to its base64.
pub fn signature_part_head(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
        )
        .as_bytes(),
    );
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The length of `n` bytes as base64 in CRLF-terminated 76-character lines.
pub fn base64_len(n: usize) -> usize {
    base64_len_u64(n as u64) as usize
}

fn base64_len_u64(n: u64) -> u64 {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(76) * 2
}

/// Appends `body` as base64, 76 characters and CRLF per line.
pub fn base64_lines(out: &mut Vec<u8>, body: &[u8]) {
    let start = out.len();
    out.resize(start + base64_len(body.len()), 0);
    let mut at = start;
    for line in body.chunks(LINE_INPUT) {
        at += encode_line(line, &mut out[at..]);
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
                size: a.content.size(),
                sha256: a.sha256.iter().map(|b| format!("{b:02x}")).collect(),
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
    ];
    if message.thread.is_some() {
        lines.push(
            "Unterhaltung:    Fortsetzung, mit dem Schlüssel der Unterhaltung signiert".to_owned(),
        );
    }
    lines.extend([
        format!(
            "Name:            {} (ungeprüft)",
            one_line(message.sender_name)
        ),
        format!(
            "E-Mail:          {} ({})",
            one_line(message.sender_email),
            match (message.thread, message.email_verified) {
                (Some(_), _) => "Antwortadresse der Unterhaltung",
                (None, true) => "mit Code bestätigt",
                (None, false) => "ungeprüft",
            }
        ),
    ]);
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
                a.content.size()
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
        match message.answer_address {
            Some(_) => "Antworten: Mit „Antworten“ in Ihrem Mailprogramm geht Ihre Antwort verschlüsselt an den Absender, über das Portal (dafür ist diese Nachricht signiert). Eine E-Mail an die Adresse oben wäre unverschlüsselt.".to_owned(),
            None => "Achtung: Eine Antwort per gewöhnlicher E-Mail an diese Adresse würde unverschlüsselt übertragen.".to_owned(),
        },
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
