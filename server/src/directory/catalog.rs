//! The catalog: every form of the directory as the API publishes it, judged once at a
//! moment, and the search over the forms that are offered.
//!
//! It is rebuilt whenever the directory, the certificates or the revocation lists change
//! (and at least every minute, since certificates expire by the clock), then swapped in
//! whole: a request sees one consistent catalog.

use std::collections::HashMap;

use base64::Engine;
use der::Encode;
use serde::Serialize;
use sha2::{Digest, Sha256};
use smime::Certificate;
use smime::certificate::{fingerprint_hex, fingerprint_sha256, not_after, not_before};
pub use smime::mime::rfc3339;
use utoipa::ToSchema;

use super::activation::{
    Checks, Form, Rejection, Unavailable, ViaAuthority, authority_form, unit_form,
};
use super::model::{Authority, FormPolicy, Unit, UnitKind};
use super::pki::Pki;
use crate::mail;
use crate::store::Directory;

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
}

/// One form, offered or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FormPage {
    /// `authority` or `authority/unit`: stable, used in links.
    pub slug: String,
    /// The name to show, e.g. "Landratsamt Musterhausen – Gewerbeamt".
    pub title: String,
    pub available: bool,
    /// Why the form is not offered (empty when it is); codes the app words.
    pub reasons: Vec<Reason>,
    pub authority: AuthorityInfo,
    pub unit: Option<UnitInfo>,
    /// Other ways to reach the authority (or unit), shown when the form is not offered.
    pub contact: Contact,
    /// Where and to whom messages go; absent when the form is not offered.
    pub delivery: Option<Delivery>,
    /// What the form accepts; absent when the form is not offered.
    pub policy: Option<PolicyInfo>,
    /// The largest upload (DER bytes of the encrypted message) whose finished mail still
    /// fits the mailbox's limit. The app's size budget and the relay's limit use only this.
    pub max_upload_bytes: Option<u64>,
    /// What an authority puts on its site.
    pub embed: Embed,
    /// What the privacy notice must say of the portal itself.
    pub privacy: Privacy,
}

/// The portal's side of the privacy notice: how long it keeps what it sees in clear.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Privacy {
    /// Receipt number and delivery status are deleted this many days after delivery; the
    /// citizen's address as soon as the message is delivered (or has failed for good).
    pub retention_days: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reason {
    /// e.g. `form_not_activated`, `form_no_valid_certificate`.
    pub code: &'static str,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorityInfo {
    pub slug: String,
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub place: String,
    pub website: Option<String>,
    pub representative: Option<String>,
    pub content_responsible: Option<String>,
    pub data_protection_officer: Option<String>,
    pub vat_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitInfo {
    pub slug: String,
    pub name: String,
    /// `trade_office`, `registration_office`, `department`, `branch` or `other`.
    #[schema(value_type = String)]
    pub kind: UnitKind,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub place: String,
    pub phone: Option<String>,
    /// An ordinary (unencrypted) address.
    pub email: Option<String>,
    pub website: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    /// The mailbox that receives the messages.
    pub mailbox: String,
    /// Set when a unit's messages go to its authority's mailbox: `no_own_address`,
    /// `central_address` or `own_certificates_fail`.
    pub via_authority: Option<&'static str>,
    /// Every certificate the message is encrypted to (more than one during a renewal).
    pub certificates: Vec<PublishedCertificate>,
    /// Intermediate CA certificates (DER, base64) for building the chain.
    pub intermediates: Vec<String>,
    /// The trust anchors (PEM), at a path whose name carries their hash.
    pub trust_anchors: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedCertificate {
    /// The certificate, DER in base64.
    pub der: String,
    /// SHA-256 over the DER, hex with colons, as mail clients show it.
    pub sha256_fingerprint: String,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyInfo {
    /// `pdf`, `jpg`, `png`, `docx`, `odt`, `txt`.
    #[schema(value_type = Vec<String>)]
    pub allowed_types: Vec<smime::files::FileType>,
    /// The mailbox's limit, as a mail size.
    pub mailbox_limit_bytes: u64,
    pub verify_email: bool,
    pub reply_to_verified: bool,
    /// `aes256-cbc` or `aes256-gcm`.
    #[schema(value_type = String)]
    pub content_encryption: smime::envelope::ContentEncryption,
    /// `rsa-pkcs1v15` or `rsa-oaep-sha256`.
    #[schema(value_type = String)]
    pub key_transport: smime::envelope::KeyTransport,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Embed {
    /// The link to the form.
    pub link: String,
    /// An HTML snippet that frames the form; works only on the origins the authority set.
    pub snippet: String,
    pub allowed_origins: Vec<String>,
}

/// One hit of the search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub slug: String,
    pub title: String,
    pub place: String,
    pub postal_code: String,
    /// `authority`, or the unit's kind.
    pub kind: &'static str,
    /// The authority's name, for units.
    pub authority: Option<String>,
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
    forms: HashMap<String, FormPage>,
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
        let mut entries = Vec::new();
        for authority in &directory.authorities {
            let page = publish.page(authority, None, authority_form(authority, &checks));
            forms.insert(page.slug.clone(), page);
            for unit in &authority.units {
                let page = publish.page(authority, Some(unit), unit_form(authority, unit, &checks));
                forms.insert(page.slug.clone(), page);
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

    pub fn form(&self, slug: &str) -> Option<&FormPage> {
        self.forms.get(slug)
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
    ) -> FormPage {
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
            embed,
            privacy: Privacy {
                retention_days: self.settings.retention_days,
            },
        };
        match form {
            Err(reasons) => page.reasons = reasons.iter().map(reason).collect(),
            Ok(form) => {
                let policy = form.policy;
                page.available = true;
                page.max_upload_bytes = Some(max_upload_bytes(
                    policy,
                    &self.settings.mail_from,
                    &form.mailbox,
                    self.settings.extra_header_bytes,
                    self.settings.signature_len,
                ));
                page.policy = Some(policy_info(policy));
                page.delivery = Some(Delivery {
                    via_authority: form.via_authority.as_ref().map(|via| match via {
                        ViaAuthority::NoOwnAddress => "no_own_address",
                        ViaAuthority::CentralAddress => "central_address",
                        ViaAuthority::OwnCertificatesFail(_) => "own_certificates_fail",
                    }),
                    mailbox: form.mailbox,
                    certificates: form.certificates.iter().map(|c| publish(c)).collect(),
                    intermediates: self.intermediates.to_vec(),
                    trust_anchors: format!("/trust/{}", self.trust_anchors.file_name),
                });
            }
        }
        page
    }
}

/// The largest upload for a form, from the exact wrapping of its mails.
pub fn max_upload_bytes(
    policy: &FormPolicy,
    mail_from: &str,
    mailbox: &str,
    extra_header_bytes: u64,
    signature_len: Option<usize>,
) -> u64 {
    let header = extra_header_bytes
        + mail::wrapping_len_bound(
            mail_from,
            mailbox,
            policy.reply_to_verified,
            policy.algorithms.content == smime::envelope::ContentEncryption::Aes256Gcm,
            signature_len,
        );
    mail::max_upload_bytes(policy.mailbox_limit_bytes, header)
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
    let rejections = |rejections: &[Rejection]| {
        rejections
            .iter()
            .map(|r| serde_json::json!({ "sha256_fingerprint": r.fingerprint, "codes": r.codes }))
            .collect::<Vec<_>>()
    };
    let params = match unavailable {
        Unavailable::ImprintIncomplete { missing } => serde_json::json!({ "missing": missing }),
        Unavailable::NoUsableCertificate {
            mailbox,
            rejections: r,
        } => serde_json::json!({ "mailbox": mailbox, "certificates": rejections(r) }),
        Unavailable::AuthorityUnavailable(reasons) => serde_json::json!({
            "reasons": reasons.iter().map(reason).collect::<Vec<_>>()
        }),
        Unavailable::NotActivated | Unavailable::NoCentralMailbox => serde_json::json!({}),
    };
    Reason {
        code: unavailable.code(),
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
            kind: match unit.map(|u| u.kind) {
                None => "authority",
                Some(UnitKind::TradeOffice) => "trade_office",
                Some(UnitKind::RegistrationOffice) => "registration_office",
                Some(UnitKind::Department) => "department",
                Some(UnitKind::Branch) => "branch",
                Some(UnitKind::Other) => "other",
            },
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
