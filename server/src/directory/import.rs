//! The directory file (TOML) that operators import with `postsiegel import`, and the
//! summary of which forms it makes appear or vanish.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use smime::certificate::parse_certificates;

use super::activation::{Checks, ViaAuthority, authority_form, unit_form};
use super::pki::Pki;
use crate::model::{Authority, Directory, StoredCertificate};

/// The file's shape: `[[authority]]` tables (with `[[authority.units]]`) and
/// `[[certificate]]` tables naming a mailbox and a PEM or DER file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default, rename = "authority")]
    authorities: Vec<Authority>,
    #[serde(default, rename = "certificate")]
    certificates: Vec<CertificateEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateEntry {
    mailbox: String,
    /// Relative to the directory file.
    file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Reads and validates a directory file, with the certificate files it names.
pub fn load(path: &Path) -> Result<Directory, ImportError> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| ImportError::Invalid(format!("{} is not UTF-8", path.display())))?;
    parse(
        &text,
        &path.display().to_string(),
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// Validates the text of a directory file called `name`; the certificate files it names
/// are read relative to `base`.
pub fn parse(text: &str, name: &str, base: &Path) -> Result<Directory, ImportError> {
    let file: DirectoryFile = toml::from_str(text).map_err(|source| ImportError::Toml {
        path: name.to_owned(),
        source: Box::new(source),
    })?;
    validate(&file.authorities)?;
    let mut certificates = Vec::new();
    for entry in &file.certificates {
        let cert_path = base.join(&entry.file);
        let parsed = parse_certificates(&read(&cert_path)?)
            .map_err(|e| ImportError::Invalid(format!("{}: {e}", cert_path.display())))?;
        certificates.extend(parsed.into_iter().map(|certificate| StoredCertificate {
            mailbox: entry.mailbox.to_ascii_lowercase(),
            certificate,
        }));
    }
    Ok(Directory {
        authorities: file.authorities,
        certificates,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An origin an authority may allow to frame its form, as CSP's `frame-ancestors` reads it:
/// `https://host[:port]`, or `http://` on this machine only (`localhost`, `127.0.0.1`) for
/// trying it out. A leading `*.` allows the subdomains of a name of at least two labels,
/// port `*` any port. Nothing else: the
/// value goes into a response header, so a space or `;` must never get through.
pub fn is_embed_origin(origin: &str) -> bool {
    let (loopback_only, rest) = match origin.split_once("://") {
        Some(("https", rest)) => (false, rest),
        Some(("http", rest)) => (true, rest),
        _ => return false,
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let port_ok = port.is_none_or(|p| {
        p == "*" || (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let wildcard = host.strip_prefix("*.");
    let name = wildcard.unwrap_or(host);
    // `*.` stands for the subdomains of a registered name, never of a whole top-level
    // domain: `*.example.de`, not `*.de`.
    let wide_enough = wildcard.is_none_or(|n| n.split('.').count() >= 2);
    let labels_ok = wide_enough
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let loopback = host == "localhost" || host == "127.0.0.1";
    port_ok && labels_ok && (!loopback_only || loopback)
}

fn validate(authorities: &[Authority]) -> Result<(), ImportError> {
    let mut slugs = HashSet::new();
    for a in authorities {
        if !is_slug(&a.slug) {
            return Err(ImportError::Invalid(format!(
                "authority slug {:?}: use lower-case letters, digits and hyphens",
                a.slug
            )));
        }
        if !slugs.insert(&a.slug) {
            return Err(ImportError::Invalid(format!(
                "authority slug {:?} appears twice",
                a.slug
            )));
        }
        let mut units = HashSet::new();
        for u in &a.units {
            if !is_slug(&u.slug) || !units.insert(&u.slug) {
                return Err(ImportError::Invalid(format!(
                    "unit slug {:?} of {:?} is not a slug or appears twice",
                    u.slug, a.slug
                )));
            }
        }
        if let Some(bad) = a.policy.embed_origins.iter().find(|o| !is_embed_origin(o)) {
            return Err(ImportError::Invalid(format!(
                "{}: embed origin {bad:?} is not an origin such as \"https://www.example.de\" \
                 (https, lower case, no path; http only for localhost and 127.0.0.1)",
                a.slug
            )));
        }
        if a.policy.mailbox_limit_bytes < 1_000_000 {
            return Err(ImportError::Invalid(format!(
                "{}: a mailbox limit under 1 MB leaves no room for a message",
                a.slug
            )));
        }
    }
    Ok(())
}

/// One form as an operator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    Offered {
        title: String,
        mailbox: String,
        certificates: usize,
        via_authority: Option<String>,
    },
    NotOffered {
        reasons: String,
    },
}

/// Every form of a directory (authorities and units) and whether it is offered at `now`.
pub fn offers(directory: &Directory, pki: &Pki, now: u64) -> BTreeMap<String, Offer> {
    let certificates = pki.judge(&directory.certificates, now);
    let checks = Checks::new(now, &pki.anchors, &pki.intermediates, &certificates);
    let reasons = |r: Vec<super::activation::Unavailable>| Offer::NotOffered {
        reasons: r
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    };
    let mut all = BTreeMap::new();
    for authority in &directory.authorities {
        let offer = match authority_form(authority, &checks) {
            Ok(form) => Offer::Offered {
                title: form.title,
                mailbox: form.mailbox,
                certificates: form.certificates.len(),
                via_authority: None,
            },
            Err(r) => reasons(r),
        };
        all.insert(authority.slug.clone(), offer);
        for unit in &authority.units {
            let offer = match unit_form(authority, unit, &checks) {
                Ok(form) => Offer::Offered {
                    title: form.title,
                    mailbox: form.mailbox,
                    certificates: form.certificates.len(),
                    via_authority: form.via_authority.map(|via| match via {
                        ViaAuthority::NoOwnAddress => {
                            "the unit has no address of its own".to_owned()
                        }
                        ViaAuthority::CentralAddress => {
                            "the unit uses the central address".to_owned()
                        }
                        ViaAuthority::OwnCertificatesFail(rejections) => format!(
                            "the unit's certificates fail: {}",
                            rejections
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    }),
                },
                Err(r) => reasons(r),
            };
            all.insert(format!("{}/{}", authority.slug, unit.slug), offer);
        }
    }
    all
}

/// Lines for an operator: which forms appear, vanish, change or stay, and why.
pub fn describe_changes(
    before: &BTreeMap<String, Offer>,
    after: &BTreeMap<String, Offer>,
) -> Vec<String> {
    let slugs: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let describe = |offer: &Offer| match offer {
        Offer::Offered {
            title,
            mailbox,
            certificates,
            via_authority,
        } => {
            let via = via_authority
                .as_ref()
                .map(|v| format!(", via the authority: {v}"))
                .unwrap_or_default();
            format!("{title} → {mailbox}, {certificates} certificate(s){via}")
        }
        Offer::NotOffered { reasons } => reasons.clone(),
    };
    slugs
        .into_iter()
        .map(|slug| match (before.get(slug), after.get(slug)) {
            (Some(Offer::Offered { .. }), None) => {
                format!("vanishes     {slug}: removed from the directory")
            }
            (Some(Offer::Offered { .. }), Some(now @ Offer::NotOffered { .. })) => {
                format!("vanishes     {slug}: {}", describe(now))
            }
            (_, Some(now @ Offer::Offered { .. }))
                if !matches!(before.get(slug), Some(Offer::Offered { .. })) =>
            {
                format!("appears      {slug}: {}", describe(now))
            }
            (Some(old), Some(now)) if old != now && matches!(now, Offer::Offered { .. }) => {
                format!("changes      {slug}: {}", describe(now))
            }
            (_, Some(now @ Offer::Offered { .. })) => {
                format!("stays        {slug}: {}", describe(now))
            }
            (_, Some(now)) => format!("not offered  {slug}: {}", describe(now)),
            (_, None) => format!("removed      {slug}"),
        })
        .collect()
}
