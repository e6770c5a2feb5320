//! The S/MIME mail the relay hands to SMTP, byte for byte, and what its wrapping costs.
//!
//! The mail is written here rather than by a mail builder so that its size is known exactly
//! before the citizen encrypts: a form publishes `max_upload_bytes`, the largest upload
//! whose finished mail still fits the receiving mailbox's limit, and both the app's size
//! budget and the relay's limit use only that number.

use std::io::Write;

use base64::Engine;
use smime::mime::{is_message_id, rfc5322_date};

/// Base64 lines of the body: 76 characters, as RFC 2045 allows at most.
const LINE: usize = 76;

/// The neutral subject: the real one travels encrypted.
pub const SUBJECT: &str = "Vertrauliche Nachricht über das Kontaktformular";

/// Receipt numbers are never longer than this (see `receipt_number`); the size bound
/// assumes the longest.
pub const MAX_RECEIPT_LEN: usize = 14;

/// RFC 5321 limits a forward path to 256 octets, so an address has at most 254.
pub const MAX_ADDRESS_LEN: usize = 254;

/// References names at most this many messages: the first and the latest.
pub const MAX_REFERENCES: usize = 8;

/// What varies between two mails of one form.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The portal's sender, e.g. `Postsiegel <kontaktformular@portal.example>`.
    pub from: &'a str,
    /// The form's mailbox.
    pub to: &'a str,
    /// The citizen's verified address, when the form puts it there.
    pub reply_to: Option<&'a str>,
    /// The message's return address, when the citizen asked for a confirmation of
    /// receipt: the authority's mail program sends its MDN there.
    pub notification_to: Option<&'a str>,
    pub receipt: &'a str,
    /// Seconds since the Unix epoch.
    pub date: u64,
    /// Fixed at acceptance, without the angle brackets.
    pub message_id: &'a str,
    /// AES-GCM (AuthEnvelopedData) rather than AES-CBC (EnvelopedData).
    pub authenticated: bool,
    /// A message written again in a conversation: what it answers.
    pub thread: Option<&'a wire::Thread>,
}

impl Envelope<'_> {
    /// Whether every value fits its header line: no line breaks or other control
    /// characters anywhere, addresses without spaces or angle brackets. Checked again here,
    /// whatever checked them before: these go into the mail's header as they are.
    pub fn check(&self) -> Result<(), InvalidHeader> {
        let line = |text: &str| !text.chars().any(char::is_control);
        let address = |text: &str| {
            !text.is_empty()
                && text.len() <= MAX_ADDRESS_LEN
                && text
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        };
        let valid = line(self.from)
            && address(self.to)
            && self.reply_to.is_none_or(address)
            && self.notification_to.is_none_or(address)
            && self.receipt.len() <= MAX_RECEIPT_LEN
            && address(self.receipt)
            && address(self.message_id)
            && self.thread.is_none_or(|thread| {
                is_message_id(&thread.in_reply_to)
                    && thread.references.len() <= MAX_REFERENCES
                    && thread.references.iter().all(|id| is_message_id(id))
            });
        if valid { Ok(()) } else { Err(InvalidHeader) }
    }
}

/// A value that would break the mail's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a value that does not fit a mail header line")]
pub struct InvalidHeader;

/// The boundary of a mail the portal signs (multipart/signed); base64 never contains `=_`.
pub const SIGNED_BOUNDARY: &str = "=_postsiegel_signed_=";

/// The header block of an unsigned mail, ending with the empty line.
pub fn header(envelope: &Envelope) -> Vec<u8> {
    outer_header(envelope, false)
}

/// The mail's own header block. Unsigned, it describes the encrypted part itself; signed,
/// a multipart/signed whose first part is the encrypted one.
pub fn outer_header(envelope: &Envelope, signed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(640);
    let mut line = |text: String| {
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    line(format!("From: {}", envelope.from));
    line(format!("To: <{}>", envelope.to));
    if let Some(reply_to) = envelope.reply_to {
        line(format!("Reply-To: <{reply_to}>"));
    }
    if let Some(notification_to) = envelope.notification_to {
        line(format!("Disposition-Notification-To: <{notification_to}>"));
    }
    line(format!(
        "Subject: {} {}",
        encoded_word(SUBJECT),
        envelope.receipt
    ));
    // Always the same length: the day of the month has two digits.
    line(format!("Date: {}", rfc5322_date(envelope.date)));
    line(format!("Message-ID: <{}>", envelope.message_id));
    if let Some(thread) = envelope.thread {
        line(format!("In-Reply-To: <{}>", thread.in_reply_to));
        let references: Vec<String> = thread
            .references
            .iter()
            .map(|id| format!("<{id}>"))
            .collect();
        // One per line: folded, each line stays short whatever the ids.
        line(format!("References: {}", references.join("\r\n ")));
    }
    line("MIME-Version: 1.0".into());
    if signed {
        line(format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
             micalg=sha-256; boundary=\"{SIGNED_BOUNDARY}\""
        ));
        line(String::new());
    } else {
        out.extend_from_slice(&encrypted_part_header(envelope.authenticated));
    }
    out
}

/// The header lines of the encrypted part, ending with the empty line.
pub fn encrypted_part_header(authenticated: bool) -> Vec<u8> {
    let smime_type = if authenticated {
        "authEnveloped-data"
    } else {
        "enveloped-data"
    };
    format!(
        "Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=smime.p7m\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=smime.p7m\r\n\r\n"
    )
    .into_bytes()
}

/// What a signed mail's body holds before the encrypted part's header.
pub fn signed_body_start() -> Vec<u8> {
    format!("--{SIGNED_BOUNDARY}\r\n").into_bytes()
}

/// What a signed mail's body holds after the encrypted part's base64 lines: the
/// signature part and the closing boundary. (The CRLF that ends the last base64 line is
/// part of the signed content; the one before the boundary belongs to the boundary.)
pub fn signed_body_end(signature: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "\r\n--{SIGNED_BOUNDARY}\r\n\
         Content-Type: application/pkcs7-signature; name=smime.p7s\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
    )
    .into_bytes();
    write_body_from(&mut out, &mut &signature[..]).expect("writing to memory");
    out.extend_from_slice(format!("--{SIGNED_BOUNDARY}--\r\n").as_bytes());
    out
}

/// Writes the whole mail: the header, then the ciphertext in base64 lines.
pub fn write_mail(
    out: &mut impl Write,
    envelope: &Envelope,
    ciphertext: &[u8],
) -> std::io::Result<()> {
    out.write_all(&header(envelope))?;
    write_body_from(out, &mut &ciphertext[..])
}

/// Like [`write_mail`], reading the ciphertext from `input` a few lines at a time, so that a
/// 25 MB message never sits in memory.
pub fn write_mail_from(
    out: &mut impl Write,
    envelope: &Envelope,
    input: &mut impl std::io::Read,
) -> std::io::Result<()> {
    out.write_all(&header(envelope))?;
    write_body_from(out, input)
}

/// The body alone: the ciphertext from `input` in base64 lines.
pub fn write_body_from(
    out: &mut (impl Write + ?Sized),
    input: &mut impl std::io::Read,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; LINE / 4 * 3 * 1024];
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match input.read(&mut buffer[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        for chunk in buffer[..filled].chunks(LINE / 4 * 3) {
            out.write_all(
                base64::engine::general_purpose::STANDARD
                    .encode(chunk)
                    .as_bytes(),
            )?;
            out.write_all(b"\r\n")?;
        }
        if filled < buffer.len() {
            return Ok(());
        }
    }
}

/// The bytes the body takes for `ciphertext_len` bytes of ciphertext.
pub fn body_len(ciphertext_len: u64) -> u64 {
    let encoded = ciphertext_len.div_ceil(3) * 4;
    encoded + 2 * encoded.div_ceil(LINE as u64)
}

/// The longest header this form's mails can have: every variable part at its longest.
pub fn header_len_bound(from: &str, to: &str, reply_to: bool, authenticated: bool) -> u64 {
    longest_header(from, to, reply_to, authenticated).len() as u64
}

/// Everything of the mail but the ciphertext's base64 lines, at its longest: the header,
/// and for a signed mail (`signature_len` bytes of signature) the parts around it.
pub fn wrapping_len_bound(
    from: &str,
    to: &str,
    reply_to: bool,
    authenticated: bool,
    signature_len: Option<usize>,
) -> u64 {
    match signature_len {
        None => header_len_bound(from, to, reply_to, authenticated),
        Some(len) => {
            (longest_outer_header(from, to, reply_to, authenticated, true).len()
                + signed_body_start().len()
                + encrypted_part_header(authenticated).len()
                + signed_body_end(&vec![0; len]).len()) as u64
        }
    }
}

/// The header with every variable part at its longest.
pub fn longest_header(from: &str, to: &str, reply_to: bool, authenticated: bool) -> Vec<u8> {
    longest_outer_header(from, to, reply_to, authenticated, false)
}

fn longest_outer_header(
    from: &str,
    to: &str,
    reply_to: bool,
    authenticated: bool,
    signed: bool,
) -> Vec<u8> {
    let longest_reply_to = "x".repeat(MAX_ADDRESS_LEN);
    let longest_receipt = "X".repeat(MAX_RECEIPT_LEN);
    let longest_message_id = message_id(&longest_receipt, &[0xff; 16], from);
    outer_header(
        &Envelope {
            from,
            to,
            reply_to: reply_to.then_some(longest_reply_to.as_str()),
            // Not in the bound: `notification_header_len` is added where a listener runs.
            notification_to: None,
            receipt: &longest_receipt,
            // Dates have one length: the day of the month is always two digits.
            date: 0,
            message_id: &longest_message_id,
            authenticated,
            // Not in the bound: `thread_header_len` is added for forms with answers.
            thread: None,
        },
        signed,
    )
}

/// The most bytes In-Reply-To and References add to a conversation's mail.
pub fn thread_header_len() -> u64 {
    let id = "x".repeat(smime::mime::MAX_MESSAGE_ID_LEN);
    let longest = wire::Thread {
        in_reply_to: id.clone(),
        references: vec![id; MAX_REFERENCES],
    };
    let envelope = |thread| Envelope {
        from: "a@b.example",
        to: "c@d.example",
        reply_to: None,
        notification_to: None,
        receipt: "X",
        date: 0,
        message_id: "m@b.example",
        authenticated: false,
        thread,
    };
    (header(&envelope(Some(&longest))).len() - header(&envelope(None)).len()) as u64
}

/// The largest ciphertext whose mail, header included, is at most `mailbox_limit` bytes.
pub fn max_upload_bytes(mailbox_limit: u64, header_len: u64) -> u64 {
    let Some(room) = mailbox_limit.checked_sub(header_len) else {
        return 0;
    };
    // body_len grows monotonically: search the largest n with body_len(n) <= room.
    let (mut fits, mut too_big) = (0u64, room + 1);
    while too_big - fits > 1 {
        let middle = fits + (too_big - fits) / 2;
        if body_len(middle) <= room {
            fits = middle;
        } else {
            too_big = middle;
        }
    }
    fits
}

/// A Message-ID in the portal's domain (taken from the From address).
pub fn message_id(receipt: &str, random: &[u8; 16], from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map_or("postsiegel.invalid", |(_, d)| d.trim_end_matches('>'));
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{receipt}.{random}@{domain}")
}

/// The portal's sender (`Name <address>` or a bare address) with another address: the
/// same display name, so that the authority sees the portal either way.
pub fn from_address(mail_from: &str, address: &str) -> String {
    match mail_from.rsplit_once('<') {
        Some((name, _)) if !name.trim().is_empty() => format!("{} <{address}>", name.trim()),
        _ => format!("<{address}>"),
    }
}

/// The characters of a return token: lower-case base32 (RFC 4648), as mail systems may
/// lower-case a local part.
const TOKEN_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A return token: 130 random bits in 26 characters, unguessable, so that only the
/// servers that saw a mail can answer to its return address.
pub fn return_token(random: &[u8; 17]) -> String {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = String::with_capacity(RETURN_TOKEN_LEN);
    for byte in random {
        bits = (bits << 8) | u32::from(*byte);
        held += 8;
        while held >= 5 && out.len() < RETURN_TOKEN_LEN {
            held -= 5;
            out.push(TOKEN_ALPHABET[((bits >> held) & 31) as usize] as char);
        }
    }
    out
}

pub const RETURN_TOKEN_LEN: usize = 26;

/// The envelope sender (and MDN address) of one mail: `r-<token>@<return domain>`.
pub fn return_address(token: &str, return_domain: &str) -> String {
    format!("r-{token}@{return_domain}")
}

/// The token of a return address on `return_domain`, if it is one (any case).
pub fn return_token_of(address: &str, return_domain: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let token = local.to_ascii_lowercase();
    let token = token.strip_prefix("r-")?;
    (domain.eq_ignore_ascii_case(return_domain)
        && token.len() == RETURN_TOKEN_LEN
        && token.bytes().all(|b| TOKEN_ALPHABET.contains(&b)))
    .then(|| token.to_owned())
}

/// The bytes a `Disposition-Notification-To` line adds to a mail's header.
pub fn notification_header_len(return_domain: &str) -> u64 {
    let address = return_address(&"x".repeat(RETURN_TOKEN_LEN), return_domain);
    format!("Disposition-Notification-To: <{address}>\r\n").len() as u64
}

/// The Message-ID of an outbox mail (code, receipt, notice), without angle brackets:
/// its outbox id in the portal's domain.
pub fn notice_message_id(outbox_id: &str, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map_or("postsiegel.invalid", |(_, d)| d.trim_end_matches('>'));
    format!("{}@{domain}", outbox_id.replace([':', '/'], "."))
}

/// An RFC 2047 encoded word (Q encoding) for a header text with umlauts.
fn encoded_word(text: &str) -> String {
    let mut out = String::from("=?UTF-8?Q?");
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(byte as char),
            b' ' => out.push('_'),
            _ => out.push_str(&format!("={byte:02X}")),
        }
    }
    out.push_str("?=");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_value_can_break_a_header_line() {
        let good = sample(Some("erika@example.org"));
        assert_eq!(good.check(), Ok(()));
        for reply_to in [
            "erika@example.org>\r\nBcc: x@y.example",
            "erika@example.org\nBcc: x@y.example",
            "a b@example.org",
            "",
        ] {
            let bad = Envelope {
                reply_to: Some(reply_to),
                ..good.clone()
            };
            assert_eq!(bad.check(), Err(InvalidHeader), "{reply_to:?}");
        }
        let bad_from = Envelope {
            from: "Postsiegel\r\nBcc: x@y.example <a@b.example>",
            ..good.clone()
        };
        assert_eq!(bad_from.check(), Err(InvalidHeader));
    }

    fn sample(reply_to: Option<&str>) -> Envelope<'_> {
        Envelope {
            from: "Postsiegel <kontaktformular@portal.example>",
            to: "poststelle@lra-musterhausen.de",
            reply_to,
            notification_to: None,
            receipt: "2026-7K3M-Q9TX",
            date: 1_795_802_400,
            message_id: "2026-7K3M-Q9TX.00@portal.example",
            authenticated: false,
            thread: None,
        }
    }

    #[test]
    fn dates_are_rfc_5322_in_utc() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_802_400),
            "Fri, 27 Nov 2026 18:00:00 +0000"
        );
    }

    #[test]
    fn the_body_is_base64_in_lines_of_76_and_body_len_predicts_it() {
        for n in [0usize, 1, 2, 3, 56, 57, 58, 114, 1000, 100_003] {
            let ciphertext: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let mut mail = Vec::new();
            write_mail(&mut mail, &sample(None), &ciphertext).unwrap();
            let mut streamed = Vec::new();
            // A reader that hands out odd pieces, as files and sockets may.
            let mut reader = std::io::Read::chain(&ciphertext[..n / 2], &ciphertext[n / 2..]);
            write_mail_from(&mut streamed, &sample(None), &mut reader).unwrap();
            assert_eq!(streamed, mail, "n = {n}");
            let body = &mail[header(&sample(None)).len()..];
            assert_eq!(body.len() as u64, body_len(n as u64), "n = {n}");
            let text = std::str::from_utf8(body).unwrap();
            assert!(text.split("\r\n").all(|line| line.len() <= 76));
            let joined: String = text.split("\r\n").collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap();
            assert_eq!(decoded, ciphertext);
        }
    }

    #[test]
    fn the_largest_upload_fits_exactly_even_with_the_longest_headers() {
        let from = "Postsiegel <kontaktformular@portal.example>";
        let to = "gewerbeamt@musterhausen.de";
        let longest_reply_to = format!("{}@example.de", "r".repeat(MAX_ADDRESS_LEN - 11));
        assert_eq!(longest_reply_to.len(), MAX_ADDRESS_LEN);
        for limit in [1_000_000u64, 10_000_000, 10_000_001, 10_000_002, 25_000_000] {
            let bound = header_len_bound(from, to, true, false);
            let max = max_upload_bytes(limit, bound);
            let receipt = "X".repeat(MAX_RECEIPT_LEN);
            let id = message_id(&receipt, &[0xab; 16], from);
            let envelope = Envelope {
                from,
                to,
                reply_to: Some(&longest_reply_to),
                notification_to: None,
                receipt: &receipt,
                date: 1_795_802_400,
                message_id: &id,
                authenticated: false,
                thread: None,
            };
            let mail_len = |n: u64| header(&envelope).len() as u64 + body_len(n);
            assert!(mail_len(max) <= limit, "limit {limit}");
            assert!(
                mail_len(max + 1) > limit,
                "limit {limit}: {max} is not the largest"
            );
            // About 0.74 of the limit: base64 and its line breaks cost 4/3 · 78/76.
            assert!((max as f64 / limit as f64 - 0.7307).abs() < 0.001);
        }
    }

    #[test]
    fn a_signed_mails_wrapping_is_exactly_what_the_bound_says() {
        let from = "Postsiegel <kontaktformular@portal.example>";
        let to = "gewerbeamt@musterhausen.de";
        let receipt = "X".repeat(MAX_RECEIPT_LEN);
        let id = message_id(&receipt, &[0xab; 16], from);
        let reply_to = format!("{}@example.de", "r".repeat(MAX_ADDRESS_LEN - 11));
        let envelope = Envelope {
            from,
            to,
            reply_to: Some(&reply_to),
            notification_to: None,
            receipt: &receipt,
            date: 1_795_802_400,
            message_id: &id,
            authenticated: false,
            thread: None,
        };
        let signature = vec![0x30; 1234];
        let ciphertext = vec![7u8; 1000];
        let mut mail = outer_header(&envelope, true);
        mail.extend(signed_body_start());
        mail.extend(encrypted_part_header(false));
        write_body_from(&mut mail, &mut &ciphertext[..]).unwrap();
        mail.extend(signed_body_end(&signature));
        assert_eq!(
            mail.len() as u64,
            wrapping_len_bound(from, to, true, false, Some(1234)) + body_len(1000)
        );
        let text = String::from_utf8(mail).unwrap();
        assert!(text.contains("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"=_postsiegel_signed_=\"\r\n\r\n--=_postsiegel_signed_=\r\nContent-Type: application/pkcs7-mime;"));
        assert!(text.ends_with("--=_postsiegel_signed_=--\r\n"));
    }

    #[test]
    fn the_header_is_neutral_and_names_the_smime_type() {
        let text = String::from_utf8(header(&sample(Some("citizen@example.org")))).unwrap();
        assert!(text.contains("Subject: =?UTF-8?Q?Vertrauliche_Nachricht_=C3=BCber_das_Kontaktformular?= 2026-7K3M-Q9TX\r\n"));
        assert!(text.contains("Reply-To: <citizen@example.org>\r\n"));
        assert!(text.contains(
            "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
        ));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(text.is_ascii());
    }
}
