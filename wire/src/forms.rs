//! Search, forms and the portal itself.

use serde::{Deserialize, Serialize};

/// Whether the server is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
}

/// What the app needs to know about the portal itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Portal {
    /// The portal runs on generated demo data: nothing sent reaches a real authority.
    pub demo: bool,
    /// How many forms are offered now.
    pub forms_offered: usize,
    /// The trust anchors (PEM), at a path whose name carries their hash.
    pub trust_anchors: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    /// How many forms matched in all.
    pub total: usize,
}

/// One hit of the search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    pub slug: String,
    pub title: String,
    pub place: String,
    pub postal_code: String,
    pub kind: FormKind,
    /// The authority's name, for units.
    pub authority: Option<String>,
}

crate::named::named_enum! {
    /// What kind of office a form belongs to: the authority itself, or one of its units.
    pub enum FormKind {
        Authority = "authority",
        TradeOffice = "trade_office",
        RegistrationOffice = "registration_office",
        Department = "department",
        Branch = "branch",
        Other = "other",
    }
}

crate::named::named_enum! {
    /// An organisational unit's kind; the directory file uses the same names.
    pub enum UnitKind {
        TradeOffice = "trade_office",
        RegistrationOffice = "registration_office",
        Department = "department",
        Branch = "branch",
        Other = "other",
    }
}

impl From<Option<UnitKind>> for FormKind {
    /// The authority's own form (`None`), or a unit's.
    fn from(unit: Option<UnitKind>) -> FormKind {
        match unit {
            None => FormKind::Authority,
            Some(UnitKind::TradeOffice) => FormKind::TradeOffice,
            Some(UnitKind::RegistrationOffice) => FormKind::RegistrationOffice,
            Some(UnitKind::Department) => FormKind::Department,
            Some(UnitKind::Branch) => FormKind::Branch,
            Some(UnitKind::Other) => FormKind::Other,
        }
    }
}

/// One form, offered or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The authority can answer encrypted (the portal takes answers and the form verifies
    /// addresses): the browser may ask for a conversation's certificate.
    #[serde(default)]
    pub answers: bool,
    /// What an authority puts on its site.
    pub embed: Embed,
    /// What the privacy notice must say of the portal itself.
    pub privacy: Privacy,
}

/// The portal's side of the privacy notice: how long it keeps what it sees in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Privacy {
    /// Receipt number and delivery status are deleted this many days after delivery; the
    /// citizen's address as soon as the message is delivered (or has failed for good).
    pub retention_days: u64,
    /// Where the portal takes reports after hand-over (bounces, confirmations of receipt):
    /// the citizen's address is kept this many days after hand-over for a bounce notice,
    /// unless a final report came first. None: no reports, nothing kept.
    #[serde(default)]
    pub report_days: Option<u64>,
}

/// Why a form is not offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    /// e.g. `form_not_activated`, `form_no_valid_certificate`.
    pub code: String,
    pub params: ReasonParams,
}

/// What a reason comes with; each is absent unless its code sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasonParams {
    /// `form_imprint_incomplete`: the imprint fields that are missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// `form_no_valid_certificate`: the mailbox without a usable certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// `form_no_valid_certificate`: each of its certificates and why it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<RejectedCertificate>>,
    /// `form_authority_unavailable`: why the authority's own form is not offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub reasons: Option<Vec<Reason>>,
}

/// A certificate that did not pass, and why (codes such as `certificate_expired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RejectedCertificate {
    pub sha256_fingerprint: String,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnitInfo {
    pub slug: String,
    pub name: String,
    pub kind: UnitKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The mailbox that receives the messages.
    pub mailbox: String,
    /// Set when a unit's messages go to its authority's mailbox, saying why.
    pub via_authority: Option<ViaAuthority>,
    /// Every certificate the message is encrypted to (more than one during a renewal).
    pub certificates: Vec<PublishedCertificate>,
    /// Intermediate CA certificates (DER, base64) for building the chain.
    pub intermediates: Vec<String>,
    /// The trust anchors (PEM), at a path whose name carries their hash.
    pub trust_anchors: String,
}

crate::named::named_enum! {
    /// Why a unit's messages go to its authority's central mailbox.
    pub enum ViaAuthority {
        /// The unit has no address of its own.
        NoOwnAddress = "no_own_address",
        /// The unit's address is the central one.
        CentralAddress = "central_address",
        /// None of the unit's own certificates passes the checks.
        OwnCertificatesFail = "own_certificates_fail",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyInfo {
    /// `pdf`, `jpg`, `png`, `docx`, `odt`, `txt`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_types: Vec<smime::files::FileType>,
    /// The mailbox's limit, as a mail size.
    pub mailbox_limit_bytes: u64,
    pub verify_email: bool,
    pub reply_to_verified: bool,
    /// `aes256-cbc` or `aes256-gcm`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_encryption: smime::envelope::ContentEncryption,
    /// `rsa-pkcs1v15` or `rsa-oaep-sha256`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key_transport: smime::envelope::KeyTransport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Embed {
    /// The link to the form.
    pub link: String,
    /// An HTML snippet that frames the form; works only on the origins the authority set.
    pub snippet: String,
    pub allowed_origins: Vec<String>,
}
