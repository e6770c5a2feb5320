#![cfg(not(target_arch = "wasm32"))]
//! Properties of the MIME encoder for arbitrary input.

use base64::Engine;
use proptest::prelude::*;
use smime::mime::{
    Attachment, Entity, Message, base64_len, base64_lines, compose, encoded_words,
    rfc2231_parameter,
};

/// Undoes RFC 2231 (with continuations) for one parameter in a header value.
fn decode_rfc2231(header: &str, name: &str) -> String {
    let unfolded = header.replace("\r\n ", " ");
    let mut pieces: Vec<(usize, String)> = Vec::new();
    for param in unfolded.split(';').map(str::trim) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let Some(rest) = key.strip_prefix(name).and_then(|k| k.strip_prefix('*')) else {
            continue;
        };
        let index = rest.trim_end_matches('*').parse().unwrap_or(0);
        let value = value.strip_prefix("utf-8''").unwrap_or(value);
        pieces.push((index, value.to_owned()));
    }
    pieces.sort();
    let encoded: String = pieces.into_iter().map(|(_, v)| v).collect();
    let mut bytes = Vec::new();
    let raw = encoded.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            bytes.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #[test]
    fn base64_lines_round_trip_and_stay_short(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut out = Vec::new();
        base64_lines(&mut out, &body);
        prop_assert_eq!(out.len(), base64_len(body.len()));
        let text = String::from_utf8(out).unwrap();
        prop_assert!(text.split("\r\n").all(|line| line.len() <= 76));
        let joined: String = text.split("\r\n").collect();
        prop_assert_eq!(base64::engine::general_purpose::STANDARD.decode(joined).unwrap(), body);
    }

    #[test]
    fn file_names_survive_rfc2231(name in "\\PC{1,200}") {
        let header = format!("attachment;{}", rfc2231_parameter("filename", &name));
        prop_assert!(header.split("\r\n").all(|line| line.len() <= 78), "{}", header);
        prop_assert!(header.is_ascii());
        prop_assert_eq!(decode_rfc2231(&header, "filename"), name);
    }

    #[test]
    fn subjects_become_short_ascii_words(subject in "\\PC{0,300}") {
        let encoded = encoded_words(&subject);
        prop_assert!(encoded.is_ascii());
        prop_assert!(encoded.split("\r\n").all(|line| line.len() + "Subject: ".len() <= 78));
    }

    #[test]
    fn any_message_composes_to_short_ascii_lines(
        text in "\\PC{0,500}",
        name in "\\PC{1,80}",
        subject in "\\PC{0,120}",
        content in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let attachments = [Attachment::new(&name, "application/pdf", &content )];
        let message = Message {
            form: "f", unit: None, recipient: "Amt", sender_name: "N", sender_email: "n@example.org",
            email_verified: false, answer_address: None, thread: None, sender_phone: None, subject: &subject, reference: None,
            text: &text, submitted_at: 0, attachments: &attachments,
        };
        let entity = compose(&message);
        prop_assert!(entity.is_ascii());
        let entity = String::from_utf8(entity).unwrap();
        prop_assert!(entity.split("\r\n").all(|line| line.len() <= 78 && !line.contains('\n') && !line.contains('\r')));
        prop_assert!(entity.ends_with("--=_postsiegel_part_boundary_=--\r\n"));
        prop_assert_eq!(entity.matches("--=_postsiegel_part_boundary_=\r\n").count(), 3);
    }

    /// The entity read in pieces of any sizes is the entity made at once, and each
    /// attachment's body in it is what the one-buffer encoder makes of its bytes.
    #[test]
    fn an_entity_read_in_pieces_is_the_whole(
        contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 0..3),
        pieces in proptest::collection::vec(1usize..400, 1..20),
    ) {
        let attachments: Vec<Attachment> =
            contents.iter().map(|c| Attachment::new("a.pdf", "application/pdf", c)).collect();
        let message = Message {
            form: "f", unit: None, recipient: "Amt", sender_name: "N", sender_email: "n@example.org",
            email_verified: false, answer_address: None, thread: None, sender_phone: None, subject: "S", reference: None,
            text: "T", submitted_at: 0, attachments: &attachments,
        };
        let whole = compose(&message);
        let mut entity = Entity::new(&message);
        prop_assert_eq!(entity.len(), whole.len() as u64);
        let mut read = Vec::new();
        for piece in pieces.iter().cycle() {
            let mut buffer = vec![0; *piece];
            let n = entity.read(&mut buffer);
            read.extend_from_slice(&buffer[..n]);
            if n < *piece {
                break;
            }
        }
        prop_assert!(read == whole);
        for content in &contents {
            let mut body = Vec::new();
            base64_lines(&mut body, content);
            prop_assert!(whole.windows(body.len().max(1)).any(|w| body.is_empty() || w == &body[..]));
        }
    }
}
