//! The directory's data, as the import file, the database and the activation rules see it.

use serde::{Deserialize, Serialize};
use smime::envelope::Algorithms;
use smime::files::FileType;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    TradeOffice,
    RegistrationOffice,
    Department,
    Branch,
    Other,
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

/// A certificate published for a mailbox, with what revocation checking knows of it.
#[derive(Debug, Clone)]
pub struct MailboxCertificate {
    pub mailbox: String,
    pub certificate: smime::Certificate,
    pub revocation: Revocation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// A current CRL does not list it.
    Good,
    Revoked,
    /// No CRL fresh enough (past nextUpdate plus the grace period): fail closed.
    Unknown,
}
