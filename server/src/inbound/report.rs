//! What a mail to a return address says: a delivery status notification (RFC 3464), a
//! message disposition notification (RFC 8098), a bounce in plain words, or nothing the
//! portal acts on. Pure: bytes in, a [`Reading`] out. mail-parser splits the MIME parts;
//! the report fields (`name: value` blocks) are read here, as no crate reads them.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// What the portal makes of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub verdict: Verdict,
    /// Every Message-ID the report names as the message it is about (without angle
    /// brackets, lower-cased): the returned message's or headers' own, an MDN's
    /// `Original-Message-ID`, or for a plain bounce any quoted `Message-ID:` line.
    pub message_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Undeliverable for good (a DSN `Action: failed`, or a plain bounce).
    Failed { detail: String },
    /// A DSN `Action: delayed`: a server still tries.
    Delayed { detail: String },
    /// An MDN.
    Disposition {
        disposition: Disposition,
        detail: String,
    },
    /// A DSN that reports success (`delivered`, `relayed`, `expanded`): nothing changes.
    Delivered,
    /// An automatic reply (RFC 3834 `Auto-Submitted: auto-replied`, e.g. out of office).
    AutoReply,
    /// Nothing recognisable as a report.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// `displayed`: shown to the reader (which is still not "read").
    Displayed,
    /// `deleted`: removed without being displayed.
    Deleted,
    /// Anything else (`dispatched`, `processed`): received by the mail program.
    Other,
}

/// The longest report text kept for people (the status page, the log of the status).
const DETAIL_LEN: usize = 300;

pub fn read(raw: &[u8]) -> Reading {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Reading {
            verdict: Verdict::Unknown,
            message_ids: Vec::new(),
        };
    };
    // By the parts, not the top-level type: Exchange wraps its multipart/report in a
    // multipart/mixed.
    let mut message_ids = returned_message_ids(&message);
    let verdict = if let Some(fields) =
        part_of(&message, &["delivery-status", "global-delivery-status"])
    {
        dsn_verdict(&fields)
    } else if let Some(fields) = part_of(
        &message,
        &[
            "disposition-notification",
            "global-disposition-notification",
        ],
    ) {
        message_ids.extend(field(&fields, "original-message-id").map(|id| message_id_text(&id)));
        mdn_verdict(&fields)
    } else {
        plain_verdict(&message, raw, &mut message_ids)
    };
    message_ids.sort();
    message_ids.dedup();
    Reading {
        verdict,
        message_ids,
    }
}

/// The decoded body of the first `message/<one of subtypes>` part, as text.
fn part_of(message: &Message, subtypes: &[&str]) -> Option<String> {
    message.parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        let wanted = ct.ctype().eq_ignore_ascii_case("message")
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|w| s.eq_ignore_ascii_case(w)));
        wanted.then(|| String::from_utf8_lossy(part.contents()).into_owned())
    })
}

/// The Message-IDs of what a report returns: a `message/rfc822` part (mail-parser parses
/// it as a message) or `text/rfc822-headers`.
fn returned_message_ids(message: &Message) -> Vec<String> {
    let mut ids = Vec::new();
    for part in &message.parts {
        match &part.body {
            PartType::Message(returned) => ids.extend(returned.message_id().map(message_id_text)),
            PartType::Text(text)
                if part.content_type().is_some_and(|ct| {
                    ct.subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
                }) =>
            {
                if let Some(headers) = MessageParser::default().parse_headers(text.as_bytes()) {
                    ids.extend(headers.message_id().map(message_id_text));
                }
            }
            _ => {}
        }
    }
    ids
}

/// RFC 3464 fields: blocks separated by empty lines, each `Name: value` with folded
/// continuation lines; names lower-cased. The first block is about the message, each
/// further one about a recipient.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

fn field(text: &str, name: &str) -> Option<String> {
    blocks(text)
        .into_iter()
        .flatten()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn dsn_verdict(fields: &str) -> Verdict {
    let mut delayed = None;
    let mut delivered = false;
    for block in blocks(fields).iter().skip(1) {
        let get = |name: &str| {
            block
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let action = get("action").unwrap_or("").to_ascii_lowercase();
        let status = get("status").unwrap_or("").trim();
        let diagnostic = get("diagnostic-code").map(type_and_value);
        let detail = short(
            [Some(status), diagnostic]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        );
        match action.as_str() {
            // A failed action is final whatever the status says; a 4.x.x status with it
            // is what a server writes when it gives up after retrying.
            "failed" => return Verdict::Failed { detail },
            "delayed" => delayed = delayed.or(Some(detail)),
            "delivered" | "relayed" | "expanded" => delivered = true,
            _ => {}
        }
    }
    match delayed {
        Some(detail) => Verdict::Delayed { detail },
        None if delivered => Verdict::Delivered,
        None => Verdict::Unknown,
    }
}

/// `smtp; 550 5.1.1 ...` → `550 5.1.1 ...`.
fn type_and_value(value: &str) -> &str {
    value.split_once(';').map_or(value, |(_, v)| v).trim()
}

fn mdn_verdict(fields: &str) -> Verdict {
    let Some(value) = field(fields, "disposition") else {
        return Verdict::Unknown;
    };
    // `automatic-action/MDN-sent-automatically; displayed/...` (RFC 8098 §3.2.6)
    let disposition_type = value
        .split_once(';')
        .map_or("", |(_, t)| t)
        .split(['/', '(', ' '])
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase();
    let disposition = match disposition_type.as_str() {
        "displayed" => Disposition::Displayed,
        "deleted" => Disposition::Deleted,
        _ => Disposition::Other,
    };
    Verdict::Disposition {
        disposition,
        detail: short(disposition_type),
    }
}

/// A mail that is no report by its type: a bounce written in words (it names a failure
/// and comes from a mailer daemon or says so in its subject), an automatic reply, or
/// nothing. A plain bounce counts only by the Message-ID it quotes.
fn plain_verdict(message: &Message, raw: &[u8], message_ids: &mut Vec<String>) -> Verdict {
    let header = |name: &'static str| message.header_raw(name).map(str::trim);
    if header("Auto-Submitted").is_some_and(|v| v.to_ascii_lowercase().starts_with("auto-replied"))
    {
        return Verdict::AutoReply;
    }
    let text = String::from_utf8_lossy(raw);
    message_ids.extend(quoted_message_ids(&text));
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|address| address.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let from_daemon = ["mailer-daemon@", "postmaster@", "mail-daemon@"]
        .iter()
        .any(|d| from.starts_with(d));
    let failure_subject = [
        "undeliver",
        "undelivered",
        "failure",
        "failed",
        "returned mail",
        "delivery status",
        "not delivered",
        "unzustellbar",
        "nicht zugestellt",
        "unzustellbare",
    ]
    .iter()
    .any(|word| subject.contains(word));
    // Bounces are automatic replies too (Exim and Postfix say `auto-replied`): the
    // signs of a failure come first, then the out-of-office kind.
    if !(from_daemon || failure_subject || header("X-Failed-Recipients").is_some()) {
        let auto_reply = header("Auto-Submitted")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("auto-replied"));
        return if auto_reply {
            Verdict::AutoReply
        } else {
            Verdict::Unknown
        };
    }
    Verdict::Failed {
        detail: short(
            smtp_answer_line(&text)
                .unwrap_or("undeliverable")
                .to_owned(),
        ),
    }
}

/// `Message-ID: <...>` lines quoted anywhere in a bounce (the original's header block).
fn quoted_message_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start_matches(['>', ' ', '\t']);
        let Some((name, value)) = trimmed.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.trim().to_owned();
        // Folded onto the next line.
        if value.is_empty()
            && let Some(next) = lines.peek()
        {
            value = next.trim().to_owned();
        }
        if value.contains('@') {
            ids.push(message_id_text(&value));
        }
    }
    ids
}

/// The first line that carries an SMTP reply code with an enhanced status (`550 5.1.1`),
/// else one with a bare 5xx code: the receiving server's words.
fn smtp_answer_line(text: &str) -> Option<&str> {
    let enhanced = |line: &str| {
        line.split([' ', '-', ':', '(', '[']).any(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && (parts[0] == "5" || parts[0] == "4")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let bare = |line: &str| {
        line.split([' ', '-', ':'])
            .any(|w| w.len() == 3 && w.starts_with('5') && w.bytes().all(|b| b.is_ascii_digit()))
    };
    let lines = || text.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| enhanced(l))
        .or_else(|| lines().find(|l| bare(l)))
}

/// `<ABC@portal.example>` → `abc@portal.example`.
pub fn message_id_text(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// At most `DETAIL_LEN` characters on one line, printable only.
fn short(text: String) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = one_line.split_whitespace().collect();
    words.join(" ").chars().take(DETAIL_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fields_unfold_and_split_into_blocks() {
        let text = "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\n\
                    Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n  user unknown\r\n";
        assert_eq!(
            dsn_verdict(text),
            Verdict::Failed {
                detail: "5.1.1 550 5.1.1 user unknown".into()
            }
        );
    }

    #[test]
    fn a_delay_is_no_failure_and_success_changes_nothing() {
        let delayed = "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: delayed\nStatus: 4.4.1\n";
        assert!(matches!(dsn_verdict(delayed), Verdict::Delayed { .. }));
        let relayed = "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: relayed\nStatus: 2.0.0\n";
        assert_eq!(dsn_verdict(relayed), Verdict::Delivered);
    }

    #[test]
    fn mdn_dispositions_are_read_by_their_type_only() {
        for (value, expected) in [
            (
                "manual-action/MDN-sent-manually; displayed",
                Disposition::Displayed,
            ),
            (
                "automatic-action/MDN-sent-automatically; deleted",
                Disposition::Deleted,
            ),
            (
                "automatic-action/MDN-sent-automatically; processed",
                Disposition::Other,
            ),
            (
                "manual-action/MDN-sent-manually; dispatched/error",
                Disposition::Other,
            ),
        ] {
            let fields = format!("Final-Recipient: rfc822; p@b\nDisposition: {value}\n");
            let Verdict::Disposition { disposition, .. } = mdn_verdict(&fields) else {
                panic!("{value}");
            };
            assert_eq!(disposition, expected, "{value}");
        }
    }

    #[test]
    fn quoted_message_ids_are_found_folded_or_quoted() {
        let text = "> Message-ID: <A1@portal.example>\nMessage-Id:\n <b2@portal.example>\nmessage-id: none\n";
        assert_eq!(
            quoted_message_ids(text),
            vec![
                "a1@portal.example".to_owned(),
                "b2@portal.example".to_owned()
            ]
        );
    }
}
