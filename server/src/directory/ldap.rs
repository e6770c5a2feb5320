//! Certificate discovery in a state PKI's LDAP directory: the encryption certificates an
//! authority's mailbox publishes (`userCertificate;binary` of the entry whose `mail` is the
//! address), and CRLs from `ldap://` distribution points.
//!
//! A directory is someone else's server: its answers are decoded without panicking, every
//! network step has a deadline, and one unreadable certificate does not hide the others.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use der::Decode;
use ldap3::asn1::{PL, StructureTag};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchResult, ldap_escape};
use serde::{Deserialize, Serialize};

use crate::model::StoredCertificate;

/// Where a state PKI's directory is and how often to ask it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Where the mailbox entries are searched (subtree).
    pub base_dn: String,
    /// Most state PKIs allow anonymous reads; without a DN no bind is made.
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<String>,
    /// How often the directory is asked again: certificates are renewed and withdrawn there.
    #[serde(default = "default_refresh_minutes")]
    pub refresh_minutes: u64,
    /// For connecting and for each operation, so that a stalled directory cannot stall us.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// PEM certificates to trust for an `ldaps://` directory besides the system's: state
    /// PKIs often serve their directory under their own CA.
    #[serde(default)]
    pub extra_roots: Option<PathBuf>,
}

fn default_refresh_minutes() -> u64 {
    60
}

fn default_timeout_seconds() -> u64 {
    10
}

/// Never prints the password, should a configuration ever be logged.
impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("base_dn", &self.base_dn)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &self.bind_password.as_ref().map(|_| "…"))
            .field("refresh_minutes", &self.refresh_minutes)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("extra_roots", &self.extra_roots)
            .finish()
    }
}

impl LdapConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    /// What can be checked without the directory, for a clear error at start rather than
    /// at every refresh: the extra roots.
    pub fn check(&self) -> Result<(), LdapError> {
        if let Some(path) = &self.extra_roots {
            tls_config(path)?;
        }
        Ok(())
    }
}

/// The ldap3 causes are boxed: they are large and these errors travel through every `?`.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("{url} is not a usable LDAP URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the directory's extra roots {}: {reason}", path.display())]
    ExtraRoots { path: PathBuf, reason: String },
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        source: Box<ldap3::LdapError>,
    },
    #[error("binding to {url} as {bind_dn}: {source}")]
    Bind {
        url: String,
        bind_dn: String,
        source: Box<ldap3::LdapError>,
    },
    #[error("searching {url} under {base} for {filter}: {source}")]
    Search {
        url: String,
        base: String,
        filter: String,
        source: Box<ldap3::LdapError>,
    },
    #[error("{url} answered with a malformed entry: {reason}")]
    MalformedEntry { url: String, reason: &'static str },
    #[error("the entry {dn} at {url} has no value of {attributes}")]
    NoValue {
        url: String,
        dn: String,
        attributes: String,
    },
    /// Not returned by [`lookup_certificates`], which logs it and goes on: an entry may
    /// carry a broken value next to a good one.
    #[error("the entry {dn} carries a certificate that does not parse: {reason}")]
    BadCertificate { dn: String, reason: String },
}

/// The attribute that carries a mailbox's certificates. Certificate syntax needs the
/// `;binary` transfer option in LDAPv3; some servers also answer to the bare name.
const CERTIFICATE_ATTRIBUTE: &str = "userCertificate";

/// The attribute a distribution point names when its URL names none.
const DEFAULT_CRL_ATTRIBUTE: &str = "certificateRevocationList";

/// For each mailbox, the certificates published under `base_dn` for `(mail=<address>)`.
///
/// One connection serves all mailboxes. The address is escaped, so filter metacharacters
/// in it match themselves; the directory compares it case-insensitively (`mail` is
/// caseIgnoreIA5Match). The returned `mailbox` is the address as asked, lowercased. An
/// entry may carry several certificates (renewal overlap); the same certificate found
/// twice is returned once; certificates that do not parse are skipped with a warning
/// naming the entry.
pub async fn lookup_certificates(
    config: &LdapConfig,
    mailboxes: &[String],
) -> Result<Vec<StoredCertificate>, LdapError> {
    check_scheme(&config.url)?;
    let mut wanted: Vec<String> = Vec::new();
    for mailbox in mailboxes {
        let mailbox = mailbox.to_lowercase();
        if !wanted.contains(&mailbox) {
            wanted.push(mailbox);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let timeout = config.timeout();
    let mut ldap = connect(&config.url, timeout, config.extra_roots.as_deref()).await?;
    let found = lookup_on(&mut ldap, config, &wanted, timeout).await;
    unbind(&mut ldap, timeout).await;
    found
}

async fn lookup_on(
    ldap: &mut Ldap,
    config: &LdapConfig,
    mailboxes: &[String],
    timeout: Duration,
) -> Result<Vec<StoredCertificate>, LdapError> {
    if let Some(bind_dn) = &config.bind_dn {
        let password = config.bind_password.as_deref().unwrap_or("");
        ldap.with_timeout(timeout)
            .simple_bind(bind_dn, password)
            .await
            .and_then(|result| result.success())
            .map_err(|source| LdapError::Bind {
                url: config.url.clone(),
                bind_dn: bind_dn.clone(),
                source: Box::new(source),
            })?;
    }
    let requested = attribute_names(CERTIFICATE_ATTRIBUTE);
    let mut found = Vec::new();
    for mailbox in mailboxes {
        let filter = format!("(mail={})", ldap_escape(mailbox.as_str()));
        let entries = search(
            ldap,
            &config.url,
            &config.base_dn,
            Scope::Subtree,
            &filter,
            &requested,
            timeout,
        )
        .await?;
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for entry in entries {
            for value in entry.values_of(CERTIFICATE_ATTRIBUTE) {
                if !seen.insert(value.to_vec()) {
                    continue;
                }
                match smime::Certificate::from_der(value) {
                    Ok(certificate) => found.push(StoredCertificate {
                        mailbox: mailbox.clone(),
                        certificate,
                    }),
                    Err(e) => {
                        let problem = LdapError::BadCertificate {
                            dn: entry.dn.clone(),
                            reason: e.to_string(),
                        };
                        tracing::warn!(mailbox = %mailbox, "skipped: {problem}");
                    }
                }
            }
        }
    }
    Ok(found)
}

/// A CRL from an `ldap://` (or `ldaps://`) distribution point URL as in RFC 4516, e.g.
/// `ldap://host/cn=CA,o=X,c=DE?certificateRevocationList;binary`: the DER bytes of the
/// first value of the first named attribute that has one, read from the entry itself
/// (base scope; the URL's scope and filter are ignored, a distribution point names one
/// entry). The DN is percent-decoded; without an attribute, `certificateRevocationList`
/// is read. The bytes are returned as stored; the caller parses and checks them.
pub async fn fetch_crl(url: &str, timeout: Duration) -> Result<Vec<u8>, LdapError> {
    let point = DistributionPoint::parse(url)?;
    // CRLs are signed; `crl.rs` fetches them over plain ldap:// and http:// only.
    let mut ldap = connect(&point.server, timeout, None).await?;
    let crl = read_crl(&mut ldap, &point, timeout).await;
    unbind(&mut ldap, timeout).await;
    crl
}

async fn read_crl(
    ldap: &mut Ldap,
    point: &DistributionPoint,
    timeout: Duration,
) -> Result<Vec<u8>, LdapError> {
    let requested: Vec<String> = point
        .attributes
        .iter()
        .flat_map(|attribute| attribute_names(attribute))
        .collect();
    let entries = search(
        ldap,
        &point.server,
        &point.dn,
        Scope::Base,
        "(objectClass=*)",
        &requested,
        timeout,
    )
    .await?;
    for attribute in &point.attributes {
        for entry in &entries {
            if let Some(value) = entry.values_of(attribute).next() {
                return Ok(value.to_vec());
            }
        }
    }
    Err(LdapError::NoValue {
        url: point.server.clone(),
        dn: point.dn.clone(),
        attributes: point.attributes.join(", "),
    })
}

fn check_scheme(url: &str) -> Result<(), LdapError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ldap://") || lower.starts_with("ldaps://") {
        Ok(())
    } else {
        Err(LdapError::BadUrl {
            url: url.to_owned(),
            reason: "it must begin with ldap:// or ldaps://".into(),
        })
    }
}

async fn connect(
    url: &str,
    timeout: Duration,
    extra_roots: Option<&Path>,
) -> Result<Ldap, LdapError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(timeout);
    if let Some(path) = extra_roots {
        settings = settings.set_config(tls_config(path)?);
    }
    let (connection, ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|source| connect_error(url, source))?;
    ldap3::drive!(connection);
    Ok(ldap)
}

/// The system's roots and those in `path`, as ldap3 would use the system's alone.
fn tls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let error = |reason: String| LdapError::ExtraRoots {
        path: path.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    // A system without a readable store still trusts what it was told to.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let mut added = 0;
    for certificate in CertificateDer::pem_file_iter(path).map_err(|e| error(e.to_string()))? {
        let certificate = certificate.map_err(|e| error(e.to_string()))?;
        roots.add(certificate).map_err(|e| error(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(error("no PEM certificate in it".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn connect_error(url: &str, source: ldap3::LdapError) -> LdapError {
    let url = url.to_owned();
    match source {
        ldap3::LdapError::UrlParsing { .. } | ldap3::LdapError::UnknownScheme(_) => {
            LdapError::BadUrl {
                url,
                reason: source.to_string(),
            }
        }
        source => LdapError::Connect {
            url,
            source: Box::new(source),
        },
    }
}

/// Says goodbye politely; a directory that has gone away meanwhile is no error of ours.
async fn unbind(ldap: &mut Ldap, timeout: Duration) {
    if let Err(e) = ldap.with_timeout(timeout).unbind().await {
        tracing::debug!("LDAP unbind: {e}");
    }
}

async fn search(
    ldap: &mut Ldap,
    url: &str,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[String],
    timeout: Duration,
) -> Result<Vec<Entry>, LdapError> {
    let search_error = |source| LdapError::Search {
        url: url.to_owned(),
        base: base.to_owned(),
        filter: filter.to_owned(),
        source: Box::new(source),
    };
    let SearchResult(entries, result) = ldap
        .with_timeout(timeout)
        .search(base, scope, filter, attributes)
        .await
        .map_err(search_error)?;
    result.success().map_err(search_error)?;
    entries
        .into_iter()
        .map(|entry| {
            Entry::decode(entry.0).map_err(|reason| LdapError::MalformedEntry {
                url: url.to_owned(),
                reason,
            })
        })
        .collect()
}

/// `name` and `name;binary`: servers differ in which of the two they answer to.
fn attribute_names(attribute: &str) -> [String; 2] {
    let base = base_name(attribute);
    [base.to_owned(), format!("{base};binary")]
}

fn base_name(attribute: &str) -> &str {
    match attribute.split_once(';') {
        Some((base, options)) if options.eq_ignore_ascii_case("binary") => base,
        _ => attribute,
    }
}

/// A search result entry, decoded by hand: `ldap3::SearchEntry::construct` panics on
/// malformed answers and sorts values into text and binary by whether they happen to be
/// UTF-8, which DER sometimes is.
struct Entry {
    dn: String,
    attributes: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    /// SearchResultEntry ::= [APPLICATION 4] SEQUENCE { objectName LDAPDN,
    ///     attributes SEQUENCE OF SEQUENCE { type, vals SET OF OCTET STRING } }
    fn decode(tag: StructureTag) -> Result<Entry, &'static str> {
        let mut parts = constructed(tag.match_id(4).ok_or("not an entry")?)?.into_iter();
        let dn = text(parts.next().ok_or("no DN")?)?;
        let mut attributes = Vec::new();
        for attribute in constructed(parts.next().ok_or("no attribute list")?)? {
            let mut attribute = constructed(attribute)?.into_iter();
            let name = text(attribute.next().ok_or("attribute without a type")?)?;
            let values = constructed(attribute.next().ok_or("attribute without values")?)?
                .into_iter()
                .map(primitive)
                .collect::<Result<_, _>>()?;
            attributes.push((name, values));
        }
        Ok(Entry { dn, attributes })
    }

    /// The values of `attribute` however the server spelt it (case, `;binary`).
    fn values_of<'a>(&'a self, attribute: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let wanted = base_name(attribute).to_owned();
        self.attributes
            .iter()
            .filter(move |(name, _)| base_name(name).eq_ignore_ascii_case(&wanted))
            .flat_map(|(_, values)| values.iter().map(Vec::as_slice))
    }
}

fn constructed(tag: StructureTag) -> Result<Vec<StructureTag>, &'static str> {
    match tag.payload {
        PL::C(inner) => Ok(inner),
        PL::P(_) => Err("a primitive value where a sequence belongs"),
    }
}

fn primitive(tag: StructureTag) -> Result<Vec<u8>, &'static str> {
    match tag.payload {
        PL::P(bytes) => Ok(bytes),
        PL::C(_) => Err("a sequence where a value belongs"),
    }
}

fn text(tag: StructureTag) -> Result<String, &'static str> {
    String::from_utf8(primitive(tag)?).map_err(|_| "a name that is not UTF-8")
}

/// The parts of an RFC 4516 URL that a CRL distribution point needs.
#[derive(Debug, PartialEq, Eq)]
struct DistributionPoint {
    /// `ldap://host:port`, what the connection is opened to.
    server: String,
    dn: String,
    attributes: Vec<String>,
}

impl DistributionPoint {
    fn parse(url: &str) -> Result<DistributionPoint, LdapError> {
        let bad = |reason: &str| LdapError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        check_scheme(url)?;
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (host_port, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no entry"))?;
        if host_port.is_empty() {
            return Err(bad("it names no server"));
        }
        let (dn, query) = rest.split_once('?').unwrap_or((rest, ""));
        let dn = percent_decode(dn).ok_or_else(|| bad("the DN is not well percent-encoded"))?;
        if dn.is_empty() {
            return Err(bad("it names no entry"));
        }
        let attribute_list = query.split('?').next().unwrap_or("");
        let mut attributes = Vec::new();
        for attribute in attribute_list.split(',').filter(|a| !a.is_empty()) {
            attributes.push(
                percent_decode(attribute)
                    .ok_or_else(|| bad("an attribute is not well percent-encoded"))?,
            );
        }
        if attributes.is_empty() {
            attributes.push(DEFAULT_CRL_ATTRIBUTE.to_owned());
        }
        Ok(DistributionPoint {
            server: format!("{}://{host_port}", scheme.to_ascii_lowercase()),
            dn,
            attributes,
        })
    }
}

/// `%XX` escapes to bytes, as UTF-8; `None` for a broken escape or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}
