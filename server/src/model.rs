//! The directory's data: authorities, their units and form policies, and the certificates
//! of their mailboxes, as the directory file describes them and the database keeps them.
//! Plain data, no behaviour beyond itself: the directory judges it, the store keeps it.

use serde::{Deserialize, Serialize};
use smime::envelope::Algorithms;
use smime::files::FileType;
/// The directory file and the API name a unit's kind alike.
pub use wire::UnitKind;

/// The whole directory: authorities with their units, and every mailbox's certificates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    pub authorities: Vec<Authority>,
    pub certificates: Vec<StoredCertificate>,
}

impl Directory {
    /// Every mailbox the directory names (central and units'), lower case, each once.
    pub fn mailboxes(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .authorities
            .iter()
            .flat_map(|a| {
                a.central_mailbox
                    .iter()
                    .chain(a.units.iter().filter_map(|u| u.mailbox.as_ref()))
            })
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A certificate as stored for a mailbox.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCertificate {
    pub mailbox: String,
    pub certificate: smime::Certificate,
}

/// A public authority (Behörde), such as a Landratsamt or a Gemeinde.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// Stable, used in links: `/kontakt/{slug}`.
    pub slug: String,
    pub name: String,
    pub street: String,
    pub postal_code: String,
    pub place: String,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The central mailbox (usually the Poststelle's), which must hold certificates.
    #[serde(default)]
    pub central_mailbox: Option<String>,
    #[serde(default)]
    pub imprint: Imprint,
    /// The authority switched its form on.
    #[serde(default)]
    pub activated: bool,
    #[serde(default)]
    pub policy: FormPolicy,
    #[serde(default)]
    pub units: Vec<Unit>,
}

/// What the imprint and the privacy notice need; a condition of activation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imprint {
    /// Who represents the authority (Vertretungsberechtigte/r).
    #[serde(default)]
    pub representative: Option<String>,
    /// Who is responsible for the content (Verantwortliche/r für den Inhalt).
    #[serde(default)]
    pub content_responsible: Option<String>,
    /// How to reach the data protection officer (Datenschutzbeauftragte/r).
    #[serde(default)]
    pub data_protection_officer: Option<String>,
    /// The VAT identification number, where the authority has one.
    #[serde(default)]
    pub vat_id: Option<String>,
}

impl Imprint {
    /// The required fields that are missing or blank.
    pub fn missing(&self) -> Vec<&'static str> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        let mut missing = Vec::new();
        if blank(&self.representative) {
            missing.push("representative");
        }
        if blank(&self.content_responsible) {
            missing.push("content_responsible");
        }
        if blank(&self.data_protection_officer) {
            missing.push("data_protection_officer");
        }
        missing
    }
}

/// An organisational unit: a trade office, a registration office, a department, a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Unique within its authority; its form lives at `/kontakt/{authority}/{unit}`.
    pub slug: String,
    pub name: String,
    pub kind: UnitKind,
    /// Its own mailbox, if it has one.
    #[serde(default)]
    pub mailbox: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// What a form accepts and how it encrypts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormPolicy {
    pub allowed_types: Vec<FileType>,
    /// The receiving mailbox's limit, as a mail size in bytes.
    pub mailbox_limit_bytes: u64,
    pub verify_email: bool,
    pub reply_to_verified: bool,
    /// Origins (`https://www.lra-musterhausen.de`) allowed to embed the form in a frame.
    pub embed_origins: Vec<String>,
    pub algorithms: Algorithms,
}

impl Default for FormPolicy {
    fn default() -> Self {
        FormPolicy {
            allowed_types: vec![FileType::Pdf, FileType::Jpg, FileType::Png],
            mailbox_limit_bytes: 10_000_000,
            verify_email: true,
            reply_to_verified: true,
            embed_origins: Vec::new(),
            algorithms: Algorithms::default(),
        }
    }
}
