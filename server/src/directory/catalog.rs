//! The catalog: every form of the directory as the API publishes it, judged once at a
//! moment, the search over the forms that are offered, and each offered form as the relay
//! needs it (parsed certificates, its policy and upload limit).
//!
//! It is rebuilt whenever the directory, the certificates or the revocation lists change
//! (and at least every minute, since certificates expire by the clock), then swapped in
//! whole through its [`SharedCatalog`]: a request sees one consistent catalog.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use der::Encode;
use sha2::{Digest, Sha256};
use smime::Certificate;
use smime::certificate::{fingerprint_hex, fingerprint_sha256, not_after, not_before};
pub use smime::mime::rfc3339;
use wire::{
    AuthorityInfo, Contact, Delivery, Embed, ErrorCode, FormKind, FormPage, PolicyInfo, Privacy,
    PublishedCertificate, Reason, ReasonParams, RejectedCertificate, SearchHit, SearchResult,
    UnitInfo,
};

use super::activation::{
    Checks, Form, Rejection, Unavailable, ViaAuthority, authority_form, unit_form,
};
use super::pki::Pki;
use crate::mail;
use crate::model::{Authority, Directory, FormPolicy, Unit};

/// What the catalog needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where citizens reach the portal, e.g. `https://kontakt.example.de` (no trailing slash).
    pub public_url: String,
    /// The sender of the relayed mails; its length counts toward the mail size.
    pub mail_from: String,
    /// Header lines added after the mail is written (a DKIM signature), at their longest.
    pub extra_header_bytes: u64,
    /// The length of the portal's S/MIME signature, when it signs what it forwards.
    pub signature_len: Option<usize>,
    /// Days a receipt and its delivery status are kept after delivery (`relay.retention_days`).
    pub retention_days: u64,
    /// Days the citizen's address waits for a report after hand-over, where the portal
    /// takes reports (`inbound.report_days`).
    pub report_days: Option<u64>,
    /// Where the portal takes answers: how the mails of conversations look.
    pub answer_mail: Option<AnswerMail>,
}

/// What a conversation's mail has that others lack, for its size: a From (and Reply-To)
/// with an alias, and the answer domain's DKIM signature.
#[derive(Debug, Clone)]
pub struct AnswerMail {
    /// The From of such a mail (every alias has one length).
    pub from: String,
    /// Its DKIM signature line, at its longest.
    pub extra_header_bytes: u64,
}

/// The catalog in use, shared by the API, the relay and the refresh that replaces it.
#[derive(Clone)]
pub struct SharedCatalog(Arc<RwLock<Arc<Catalog>>>);

impl SharedCatalog {
    pub fn new(catalog: Catalog) -> SharedCatalog {
        SharedCatalog(Arc::new(RwLock::new(Arc::new(catalog))))
    }

    /// The catalog now; it stays whole while held, whatever replaces it meanwhile.
    pub fn get(&self) -> Arc<Catalog> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn replace(&self, catalog: Arc<Catalog>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
    }
}

/// An offered form as the relay needs it: where its messages go, to which certificates
/// they must be encrypted (parsed once, when the catalog is built), and what it accepts.
#[derive(Debug, Clone)]
pub struct OfferedForm {
    /// `authority` or `authority/unit`.
    pub slug: String,
    /// The mailbox that receives its messages.
    pub mailbox: String,
    /// Every certificate a message must be encrypted to, exactly.
    pub certificates: Vec<Certificate>,
    pub policy: FormPolicy,
    /// The largest upload whose mail still fits the mailbox (see [`max_upload_bytes`]).
    pub max_upload_bytes: u64,
}

/// Why a form cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("no such form")]
    NotFound,
    #[error("the form is not offered now")]
    NotAvailable,
}

impl FormError {
    pub fn code(self) -> ErrorCode {
        match self {
            FormError::NotFound => ErrorCode::FormNotFound,
            FormError::NotAvailable => ErrorCode::FormNotAvailable,
        }
    }
}

/// The longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 100;
/// The most hits one search answers.
pub const MAX_SEARCH_LIMIT: usize = 50;

/// Why a search was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty")]
    Empty,
    #[error("the query is longer than {max} characters")]
    TooLong { max: usize },
}

impl SearchError {
    pub fn code(self) -> ErrorCode {
        match self {
            SearchError::Empty => ErrorCode::SearchQueryEmpty,
            SearchError::TooLong { .. } => ErrorCode::SearchQueryTooLong,
        }
    }
}

struct SearchEntry {
    hit: SearchHit,
    /// Lower case, umlauts folded, words separated by single spaces, with a leading space
    /// so that " word" finds a word start.
    haystack: String,
    /// Where the title ends in the haystack (title matches rank first).
    title_len: usize,
    is_unit: bool,
}

/// The trust anchors as the app downloads them.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    /// e.g. `anchors-0123456789abcdef.pem`
    pub file_name: String,
    pub pem: String,
}

pub struct Catalog {
    pub built_at: u64,
    /// Every form, offered or not, as the API publishes it.
    forms: HashMap<String, FormPage>,
    /// The offered ones, as the relay needs them.
    offered_forms: HashMap<String, OfferedForm>,
    entries: Vec<SearchEntry>,
    pub trust_anchors: TrustAnchors,
    pub offered: usize,
}

impl Catalog {
    pub fn build(directory: &Directory, pki: &Pki, settings: &Settings, now: u64) -> Catalog {
        let judged = pki.judge(&directory.certificates, now);
        let checks = Checks::new(now, &pki.anchors, &pki.intermediates, &judged);
        let trust_anchors = trust_anchors(&pki.anchors);
        let intermediates: Vec<String> = pki.intermediates.iter().map(base64_der).collect();
        let publish = Publisher {
            settings,
            trust_anchors: &trust_anchors,
            intermediates: &intermediates,
        };
        let mut forms = HashMap::new();
        let mut offered_forms = HashMap::new();
        let mut entries = Vec::new();
        let mut add = |(page, offered): (FormPage, Option<OfferedForm>)| {
            if let Some(offered) = offered {
                offered_forms.insert(page.slug.clone(), offered);
            }
            forms.insert(page.slug.clone(), page);
        };
        for authority in &directory.authorities {
            add(publish.page(authority, None, authority_form(authority, &checks)));
            for unit in &authority.units {
                add(publish.page(authority, Some(unit), unit_form(authority, unit, &checks)));
            }
        }
        for authority in &directory.authorities {
            if forms[&authority.slug].available {
                entries.push(search_entry(authority, None, &authority.slug));
            }
            for unit in &authority.units {
                let slug = format!("{}/{}", authority.slug, unit.slug);
                if forms[&slug].available {
                    entries.push(search_entry(authority, Some(unit), &slug));
                }
            }
        }
        Catalog {
            built_at: now,
            offered: entries.len(),
            forms,
            offered_forms,
            entries,
            trust_anchors,
        }
    }

    /// A catalog without forms (before the first judgement, and for tests).
    pub fn empty(settings: &Settings) -> Catalog {
        let pki = Pki {
            anchors: Vec::new(),
            intermediates: Vec::new(),
            crls: Vec::new(),
        };
        Catalog::build(&Directory::default(), &pki, settings, 0)
    }

    /// A form as the API publishes it, offered or not.
    pub fn form(&self, slug: &str) -> Option<&FormPage> {
        self.forms.get(slug)
    }

    /// An offered form, for taking a message; or why there is none.
    pub fn offered_form(&self, slug: &str) -> Result<&OfferedForm, FormError> {
        match self.offered_forms.get(slug) {
            Some(form) => Ok(form),
            None if self.forms.contains_key(slug) => Err(FormError::NotAvailable),
            None => Err(FormError::NotFound),
        }
    }

    /// The search as citizens type: `query` checked, at most `limit` hits (default 10,
    /// at most [`MAX_SEARCH_LIMIT`]).
    pub fn find(&self, query: &str, limit: Option<usize>) -> Result<SearchResult, SearchError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(SearchError::Empty);
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::TooLong {
                max: MAX_QUERY_CHARS,
            });
        }
        let limit = limit.unwrap_or(10).clamp(1, MAX_SEARCH_LIMIT);
        let (hits, total) = self.search(query, limit);
        Ok(SearchResult { hits, total })
    }

    /// Forms offered whose name, unit, place or postal code contain every word of `query`
    /// (case and umlaut spelling ignored: "muenchen" finds "München"). Best first: a
    /// title starting with the query, then words starting with it, then the rest;
    /// authorities before their units; then by title. Returns the hits and how many matched.
    pub fn search(&self, query: &str, limit: usize) -> (Vec<SearchHit>, usize) {
        let words: Vec<String> = fold(query)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| format!(" {w}"))
            .collect();
        if words.is_empty() {
            return (Vec::new(), 0);
        }
        let mut matches: Vec<(u32, &SearchEntry)> = self
            .entries
            .iter()
            .filter_map(|entry| {
                let mut score = 0;
                for word in &words {
                    // `word` carries a leading space: a match there is a word start.
                    let bare = &word[1..];
                    score += if entry.haystack[..entry.title_len].starts_with(word.as_str()) {
                        4
                    } else if entry.haystack.contains(word.as_str()) {
                        2
                    } else if entry.haystack.contains(bare) {
                        1
                    } else {
                        return None;
                    };
                }
                Some((score, entry))
            })
            .collect();
        let total = matches.len();
        let order = |a: &(u32, &SearchEntry), b: &(u32, &SearchEntry)| {
            b.0.cmp(&a.0)
                .then(a.1.is_unit.cmp(&b.1.is_unit))
                .then_with(|| a.1.hit.title.cmp(&b.1.hit.title))
        };
        if matches.len() > limit && limit > 0 {
            matches.select_nth_unstable_by(limit - 1, order);
            matches.truncate(limit);
        }
        matches.sort_by(order);
        matches.truncate(limit);
        (
            matches.into_iter().map(|(_, e)| e.hit.clone()).collect(),
            total,
        )
    }
}

struct Publisher<'a> {
    settings: &'a Settings,
    trust_anchors: &'a TrustAnchors,
    intermediates: &'a [String],
}

impl Publisher<'_> {
    fn page(
        &self,
        authority: &Authority,
        unit: Option<&Unit>,
        form: Result<Form<'_>, Vec<Unavailable>>,
    ) -> (FormPage, Option<OfferedForm>) {
        let slug = match unit {
            Some(u) => format!("{}/{}", authority.slug, u.slug),
            None => authority.slug.clone(),
        };
        let title = match unit {
            Some(u) => format!("{} – {}", authority.name, u.name),
            None => authority.name.clone(),
        };
        let link = format!("{}/kontakt/{slug}", self.settings.public_url);
        let embed = Embed {
            snippet: format!(
                "<iframe src=\"{link}?embed=1\" title=\"{}\" \
                 style=\"width:100%;min-height:52rem;border:0\" loading=\"lazy\"></iframe>",
                html_escape(&format!("Sicheres Kontaktformular: {title}"))
            ),
            link,
            allowed_origins: authority.policy.embed_origins.clone(),
        };
        let contact = Contact {
            name: title.clone(),
            street: authority.street.clone(),
            postal_code: authority.postal_code.clone(),
            place: authority.place.clone(),
            phone: unit
                .and_then(|u| u.phone.clone())
                .or_else(|| authority.phone.clone()),
            email: unit
                .and_then(|u| u.mailbox.clone())
                .or_else(|| authority.central_mailbox.clone()),
            website: authority.website.clone(),
        };
        let mut page = FormPage {
            slug,
            title,
            available: false,
            reasons: Vec::new(),
            authority: AuthorityInfo {
                slug: authority.slug.clone(),
                name: authority.name.clone(),
                street: authority.street.clone(),
                postal_code: authority.postal_code.clone(),
                place: authority.place.clone(),
                website: authority.website.clone(),
                representative: authority.imprint.representative.clone(),
                content_responsible: authority.imprint.content_responsible.clone(),
                data_protection_officer: authority.imprint.data_protection_officer.clone(),
                vat_id: authority.imprint.vat_id.clone(),
            },
            unit: unit.map(|u| UnitInfo {
                slug: u.slug.clone(),
                name: u.name.clone(),
                kind: u.kind,
            }),
            contact,
            delivery: None,
            policy: None,
            max_upload_bytes: None,
            answers: false,
            embed,
            privacy: Privacy {
                retention_days: self.settings.retention_days,
                report_days: self.settings.report_days,
            },
        };
        let form = match form {
            Err(reasons) => {
                page.reasons = reasons.iter().map(reason).collect();
                return (page, None);
            }
            Ok(form) => form,
        };
        let policy = form.policy;
        let answers = self
            .settings
            .answer_mail
            .as_ref()
            .filter(|_| policy.verify_email);
        let max = max_upload_bytes(policy, self.settings, answers, &form.mailbox);
        page.available = true;
        page.answers = answers.is_some();
        page.max_upload_bytes = Some(max);
        page.policy = Some(policy_info(policy));
        page.delivery = Some(Delivery {
            via_authority: form.via_authority.as_ref().map(|via| match via {
                ViaAuthority::NoOwnAddress => wire::ViaAuthority::NoOwnAddress,
                ViaAuthority::CentralAddress => wire::ViaAuthority::CentralAddress,
                ViaAuthority::OwnCertificatesFail(_) => wire::ViaAuthority::OwnCertificatesFail,
            }),
            mailbox: form.mailbox.clone(),
            certificates: form.certificates.iter().map(|c| publish(c)).collect(),
            intermediates: self.intermediates.to_vec(),
            trust_anchors: format!("/trust/{}", self.trust_anchors.file_name),
        });
        let offered = OfferedForm {
            slug: page.slug.clone(),
            mailbox: form.mailbox,
            certificates: form.certificates.into_iter().cloned().collect(),
            policy: policy.clone(),
            max_upload_bytes: max,
        };
        (page, Some(offered))
    }
}

/// The largest upload for a form, from the exact wrapping of its mails: with answers,
/// the larger of a conversation's mail and another.
fn max_upload_bytes(
    policy: &FormPolicy,
    settings: &Settings,
    answers: Option<&AnswerMail>,
    mailbox: &str,
) -> u64 {
    let authenticated = policy.algorithms.content == smime::envelope::ContentEncryption::Aes256Gcm;
    let plain = settings.extra_header_bytes
        + mail::wrapping_len_bound(
            &settings.mail_from,
            mailbox,
            policy.reply_to_verified,
            authenticated,
            settings.signature_len,
        );
    let conversation = answers.map_or(0, |answers| {
        answers.extra_header_bytes
            + mail::wrapping_len_bound(
                &answers.from,
                mailbox,
                true,
                authenticated,
                settings.signature_len,
            )
    });
    mail::max_upload_bytes(policy.mailbox_limit_bytes, plain.max(conversation))
}

fn policy_info(policy: &FormPolicy) -> PolicyInfo {
    PolicyInfo {
        allowed_types: policy.allowed_types.clone(),
        mailbox_limit_bytes: policy.mailbox_limit_bytes,
        verify_email: policy.verify_email,
        reply_to_verified: policy.reply_to_verified,
        content_encryption: policy.algorithms.content,
        key_transport: policy.algorithms.key_transport,
    }
}

fn reason(unavailable: &Unavailable) -> Reason {
    let rejected = |rejections: &[Rejection]| {
        rejections
            .iter()
            .map(|r| RejectedCertificate {
                sha256_fingerprint: r.fingerprint.clone(),
                codes: r.codes.iter().map(|c| (*c).to_owned()).collect(),
            })
            .collect()
    };
    let params = match unavailable {
        Unavailable::ImprintIncomplete { missing } => ReasonParams {
            missing: Some(missing.iter().map(|m| (*m).to_owned()).collect()),
            ..ReasonParams::default()
        },
        Unavailable::NoUsableCertificate {
            mailbox,
            rejections,
        } => ReasonParams {
            mailbox: Some(mailbox.clone()),
            certificates: Some(rejected(rejections)),
            ..ReasonParams::default()
        },
        Unavailable::AuthorityUnavailable(reasons) => ReasonParams {
            reasons: Some(reasons.iter().map(reason).collect()),
            ..ReasonParams::default()
        },
        Unavailable::NotActivated | Unavailable::NoCentralMailbox => ReasonParams::default(),
    };
    Reason {
        code: unavailable.code().to_owned(),
        params,
    }
}

fn publish(certificate: &Certificate) -> PublishedCertificate {
    let tbs = &certificate.tbs_certificate;
    PublishedCertificate {
        der: base64_der(certificate),
        sha256_fingerprint: fingerprint_hex(&fingerprint_sha256(certificate)),
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        not_before: rfc3339(not_before(certificate)),
        not_after: rfc3339(not_after(certificate)),
    }
}

fn base64_der(certificate: &Certificate) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(certificate.to_der().expect("a decoded certificate encodes"))
}

/// The anchors as one PEM file named by the SHA-256 of its content.
pub fn trust_anchors(anchors: &[Certificate]) -> TrustAnchors {
    let mut pem = String::new();
    for anchor in anchors {
        let der = anchor.to_der().expect("a decoded certificate encodes");
        pem.push_str(&format!("# {}\n", anchor.tbs_certificate.subject));
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let hash: String = Sha256::digest(pem.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    TrustAnchors {
        file_name: format!("anchors-{hash}.pem"),
        pem,
    }
}

fn search_entry(authority: &Authority, unit: Option<&Unit>, slug: &str) -> SearchEntry {
    let title = match unit {
        Some(u) => u.name.clone(),
        None => authority.name.clone(),
    };
    let folded_title = format!(" {}", fold(&title));
    let mut haystack = folded_title.clone();
    for extra in [
        unit.map(|_| authority.name.as_str()).unwrap_or(""),
        &authority.place,
        &authority.postal_code,
    ] {
        if !extra.is_empty() {
            haystack.push(' ');
            haystack.push_str(&fold(extra));
        }
    }
    SearchEntry {
        hit: SearchHit {
            slug: slug.to_owned(),
            title: match unit {
                Some(u) => format!("{} – {}", authority.name, u.name),
                None => authority.name.clone(),
            },
            place: authority.place.clone(),
            postal_code: authority.postal_code.clone(),
            kind: FormKind::from(unit.map(|u| u.kind)),
            authority: unit.map(|_| authority.name.clone()),
        },
        title_len: folded_title.len(),
        haystack,
        is_unit: unit.is_some(),
    }
}

/// Lower case with umlauts and ß spelled out, punctuation as spaces, single spaces.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' | 'ê' => out.push('e'),
            'á' | 'à' | 'â' => out.push('a'),
            c if c.is_alphanumeric() => out.push(c),
            _ => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
        }
    }
    out.trim_end().to_owned()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_umlauts_and_punctuation() {
        assert_eq!(
            fold("Landratsamt München-Land"),
            "landratsamt muenchen land"
        );
        assert_eq!(fold("  Straße, Nr. 5 "), "strasse nr 5");
        assert_eq!(fold("MUENCHEN"), fold("München"));
    }
}
