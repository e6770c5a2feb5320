//! When a form is offered, delivering where and encrypting to which certificates.
//!
//! The rules (after Bavaria's secure contact form):
//! - An authority's form is offered only when it is activated, its imprint details are
//!   complete, and its central mailbox has at least one encryption certificate that passes
//!   the checks now (validity, key usage, address, chain to the trust anchors) and is not
//!   revoked. The form encrypts to every such certificate (renewal overlap).
//! - A unit whose own mailbox has such a certificate gets its own form delivering there.
//!   A unit without an address, with the central address, or whose own certificates all
//!   fail uses the authority's form and mailbox, and the form says so.
//! - A unit's form exists only while its authority's form is offered.

use std::cell::RefCell;
use std::collections::HashMap;

use smime::Certificate;
use smime::certificate::{
    CheckContext, check_encryption_certificate, fingerprint_hex, fingerprint_sha256,
};

use super::pki::{MailboxCertificate, Revocation};
use crate::model::{Authority, FormPolicy, Unit};

/// What the checks run against.
pub struct Checks<'a> {
    /// Seconds since the Unix epoch.
    pub now: u64,
    pub anchors: &'a [Certificate],
    pub intermediates: &'a [Certificate],
    /// Every known certificate, of every mailbox.
    pub certificates: &'a [MailboxCertificate],
    /// Each mailbox is judged once: thousands of units share their authority's mailbox, and
    /// a chain check verifies signatures.
    judged: RefCell<HashMap<String, Judged<'a>>>,
}

type Judged<'a> = (Vec<&'a Certificate>, Vec<Rejection>);

impl<'a> Checks<'a> {
    pub fn new(
        now: u64,
        anchors: &'a [Certificate],
        intermediates: &'a [Certificate],
        certificates: &'a [MailboxCertificate],
    ) -> Checks<'a> {
        Checks {
            now,
            anchors,
            intermediates,
            certificates,
            judged: RefCell::default(),
        }
    }
}

/// A form that can be offered.
#[derive(Debug, Clone, PartialEq)]
pub struct Form<'a> {
    pub slug: String,
    pub title: String,
    pub authority: &'a Authority,
    pub unit: Option<&'a Unit>,
    /// Where messages go.
    pub mailbox: String,
    /// Every certificate of that mailbox that passes now.
    pub certificates: Vec<&'a Certificate>,
    /// Set when a unit uses its authority's form, with the reason.
    pub via_authority: Option<ViaAuthority>,
    pub policy: &'a FormPolicy,
}

/// Why a unit's messages go to the authority's central mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViaAuthority {
    NoOwnAddress,
    CentralAddress,
    OwnCertificatesFail(Vec<Rejection>),
}

/// Why a form is not offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    NotActivated,
    ImprintIncomplete {
        missing: Vec<&'static str>,
    },
    NoCentralMailbox,
    /// No certificate of the mailbox passes; each one's problems.
    NoUsableCertificate {
        mailbox: String,
        rejections: Vec<Rejection>,
    },
    AuthorityUnavailable(Vec<Unavailable>),
}

impl Unavailable {
    /// A stable code that the app words for citizens.
    pub fn code(&self) -> &'static str {
        match self {
            Unavailable::NotActivated => "form_not_activated",
            Unavailable::ImprintIncomplete { .. } => "form_imprint_incomplete",
            Unavailable::NoCentralMailbox => "form_no_mailbox",
            Unavailable::NoUsableCertificate { .. } => "form_no_valid_certificate",
            Unavailable::AuthorityUnavailable(_) => "form_authority_unavailable",
        }
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotActivated => write!(f, "the authority has not activated its form"),
            Unavailable::ImprintIncomplete { missing } => {
                write!(f, "imprint details missing: {}", missing.join(", "))
            }
            Unavailable::NoCentralMailbox => write!(f, "no central mailbox is set"),
            Unavailable::NoUsableCertificate {
                mailbox,
                rejections,
            } if rejections.is_empty() => {
                write!(f, "no certificate is known for {mailbox}")
            }
            Unavailable::NoUsableCertificate {
                mailbox,
                rejections,
            } => {
                write!(f, "no usable certificate for {mailbox}: ")?;
                let reasons: Vec<String> = rejections.iter().map(ToString::to_string).collect();
                write!(f, "{}", reasons.join("; "))
            }
            Unavailable::AuthorityUnavailable(reasons) => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "the authority's form is not offered ({})",
                    reasons.join("; ")
                )
            }
        }
    }
}

/// One certificate that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub fingerprint: String,
    pub reasons: Vec<String>,
    pub codes: Vec<&'static str>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short: String = self.fingerprint.chars().take(23).collect();
        write!(f, "certificate {short}…: {}", self.reasons.join(", "))
    }
}

/// The certificates of `mailbox` that pass now, and the rejections of the others.
pub fn usable_certificates<'a>(mailbox: &str, checks: &Checks<'a>) -> Judged<'a> {
    let key = mailbox.to_ascii_lowercase();
    if let Some(judged) = checks.judged.borrow().get(&key) {
        return judged.clone();
    }
    let judged = judge_mailbox(mailbox, checks);
    checks.judged.borrow_mut().insert(key, judged.clone());
    judged
}

fn judge_mailbox<'a>(mailbox: &str, checks: &Checks<'a>) -> Judged<'a> {
    let context = CheckContext {
        now: checks.now,
        mailbox,
        anchors: checks.anchors,
        intermediates: checks.intermediates,
        verified_elsewhere: &[],
    };
    let mut usable = Vec::new();
    let mut rejections = Vec::new();
    for entry in checks
        .certificates
        .iter()
        .filter(|c| c.mailbox.eq_ignore_ascii_case(mailbox))
    {
        let verdict = check_encryption_certificate(&entry.certificate, &context);
        let mut reasons: Vec<String> = verdict.problems.iter().map(ToString::to_string).collect();
        let mut codes: Vec<&'static str> = verdict.problems.iter().map(|p| p.code()).collect();
        match entry.revocation {
            Revocation::Good => {}
            Revocation::Revoked => {
                reasons.push("the certificate is revoked".into());
                codes.push("certificate_revoked");
            }
            Revocation::Unknown => {
                reasons.push("no current revocation list is available".into());
                codes.push("certificate_revocation_unknown");
            }
        }
        if codes.is_empty() {
            usable.push(&entry.certificate);
        } else {
            rejections.push(Rejection {
                fingerprint: fingerprint_hex(&fingerprint_sha256(&entry.certificate)),
                reasons,
                codes,
            });
        }
    }
    (usable, rejections)
}

/// The authority's own form, or why it is not offered (all reasons at once).
pub fn authority_form<'a>(
    authority: &'a Authority,
    checks: &Checks<'a>,
) -> Result<Form<'a>, Vec<Unavailable>> {
    let mut reasons = Vec::new();
    if !authority.activated {
        reasons.push(Unavailable::NotActivated);
    }
    let missing = authority.imprint.missing();
    if !missing.is_empty() {
        reasons.push(Unavailable::ImprintIncomplete { missing });
    }
    let mut certificates = Vec::new();
    match authority
        .central_mailbox
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        None => reasons.push(Unavailable::NoCentralMailbox),
        Some(mailbox) => {
            let (usable, rejections) = usable_certificates(mailbox, checks);
            if usable.is_empty() {
                reasons.push(Unavailable::NoUsableCertificate {
                    mailbox: mailbox.to_owned(),
                    rejections,
                });
            }
            certificates = usable;
        }
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    Ok(Form {
        slug: authority.slug.clone(),
        title: authority.name.clone(),
        authority,
        unit: None,
        mailbox: authority.central_mailbox.clone().expect("checked above"),
        certificates,
        via_authority: None,
        policy: &authority.policy,
    })
}

/// A unit's form: its own when its mailbox has a usable certificate, else the authority's.
pub fn unit_form<'a>(
    authority: &'a Authority,
    unit: &'a Unit,
    checks: &Checks<'a>,
) -> Result<Form<'a>, Vec<Unavailable>> {
    let central = authority_form(authority, checks)
        .map_err(|reasons| vec![Unavailable::AuthorityUnavailable(reasons)])?;
    let slug = format!("{}/{}", authority.slug, unit.slug);
    let title = format!("{} – {}", authority.name, unit.name);
    let via = |reason| Form {
        slug: slug.clone(),
        title: title.clone(),
        unit: Some(unit),
        via_authority: Some(reason),
        ..central.clone()
    };
    let Some(mailbox) = unit.mailbox.as_deref().filter(|m| !m.trim().is_empty()) else {
        return Ok(via(ViaAuthority::NoOwnAddress));
    };
    if central.mailbox.eq_ignore_ascii_case(mailbox) {
        return Ok(via(ViaAuthority::CentralAddress));
    }
    let (usable, rejections) = usable_certificates(mailbox, checks);
    if usable.is_empty() {
        return Ok(via(ViaAuthority::OwnCertificatesFail(rejections)));
    }
    Ok(Form {
        slug,
        title,
        authority,
        unit: Some(unit),
        mailbox: mailbox.to_owned(),
        certificates: usable,
        via_authority: None,
        policy: &authority.policy,
    })
}
