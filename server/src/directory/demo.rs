//! The demo directory: a demo CA and a handful of fictional authorities, generated on the
//! first start of a portal that runs without a configuration file on a loopback address.
//!
//! Everything lands in `<data_dir>/demo/`: the CA, its CRL (renewed at every start), one
//! private key shared by all demo mailboxes (so that one command decrypts whatever the demo
//! delivered), the certificates and a directory file in the documented import format.

use std::path::{Path, PathBuf};

use der::EncodePem;
use der::asn1::Ia5String;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use smime::Certificate;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::pki::PkiConfig;
use crate::pkix;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("writing the demo directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("making the demo certificates: {0}")]
    Crypto(String),
}

fn crypto(e: impl std::fmt::Display) -> DemoError {
    DemoError::Crypto(e.to_string())
}

/// The files of a generated demo.
pub struct Demo {
    pub folder: PathBuf,
}

impl Demo {
    pub fn directory_file(&self) -> PathBuf {
        self.folder.join("directory.toml")
    }
    pub fn ca_certificate(&self) -> PathBuf {
        self.folder.join("demo-ca.pem")
    }
    pub fn crl(&self) -> PathBuf {
        self.folder.join("demo-ca.crl")
    }
    /// The private key of every demo mailbox: decrypts what the demo delivered.
    pub fn mailbox_key(&self) -> PathBuf {
        self.folder.join("demo-mailboxes.key.pem")
    }

    /// The trust configuration with the demo CA and its CRL added.
    pub fn pki(&self, configured: &PkiConfig) -> PkiConfig {
        let mut pki = configured.clone();
        pki.trust_anchors.push(self.ca_certificate());
        pki.crl_files.push(self.crl());
        pki
    }
}

const DAY: u64 = 86_400;

/// A demo mailbox's certificate: valid from `from` for `days` (relative to now).
struct DemoCertificate {
    file: &'static str,
    mailbox: &'static str,
    name: &'static str,
    from_days_ago: u64,
    days: u64,
}

const CERTIFICATES: [DemoCertificate; 6] = [
    DemoCertificate {
        file: "lra-poststelle.pem",
        mailbox: "poststelle@lra-musterhausen.example",
        name: "Landratsamt Musterhausen, Poststelle",
        from_days_ago: 30,
        days: 730,
    },
    DemoCertificate {
        file: "lra-gewerbeamt.pem",
        mailbox: "gewerbeamt@lra-musterhausen.example",
        name: "Landratsamt Musterhausen, Gewerbeamt",
        from_days_ago: 30,
        days: 730,
    },
    DemoCertificate {
        file: "beispielstadt-alt.pem",
        mailbox: "rathaus@beispielstadt.example",
        name: "Stadt Beispielstadt, Rathaus",
        from_days_ago: 700,
        days: 720,
    },
    DemoCertificate {
        file: "beispielstadt-neu.pem",
        mailbox: "rathaus@beispielstadt.example",
        name: "Stadt Beispielstadt, Rathaus",
        from_days_ago: 10,
        days: 730,
    },
    DemoCertificate {
        file: "neudorf-abgelaufen.pem",
        mailbox: "gemeinde@neudorf-am-see.example",
        name: "Gemeinde Neudorf am See",
        from_days_ago: 760,
        days: 730,
    },
    DemoCertificate {
        file: "talheim-poststelle.pem",
        mailbox: "poststelle@vg-talheim.example",
        name: "Verwaltungsgemeinschaft Talheim",
        from_days_ago: 30,
        days: 730,
    },
];

/// The demo's authorities, in the import format (see the README).
const DIRECTORY: &str = r#"# Generated demo directory: fictional authorities, demo certificates.

[[authority]]
slug = "landratsamt-musterhausen"
name = "Landratsamt Musterhausen"
street = "Musterstraße 1"
postal_code = "12345"
place = "Musterhausen"
website = "https://www.lra-musterhausen.example"
phone = "+49 1234 567-0"
central_mailbox = "poststelle@lra-musterhausen.example"
activated = true
imprint = { representative = "Landrätin Erika Mustermann", content_responsible = "Pressestelle des Landratsamts", data_protection_officer = "datenschutz@lra-musterhausen.example, Musterstraße 1, 12345 Musterhausen" }
# Its forms may be framed by its own site and, to try embedding, by any page on 127.0.0.1.
policy = { allowed_types = ["pdf", "jpg", "png", "docx", "odt"], embed_origins = ["https://www.lra-musterhausen.example", "http://127.0.0.1:*"] }

[[authority.units]]
slug = "gewerbeamt"
name = "Gewerbeamt"
kind = "trade_office"
mailbox = "gewerbeamt@lra-musterhausen.example"
phone = "+49 1234 567-310"

[[authority.units]]
slug = "fuehrerscheinstelle"
name = "Führerscheinstelle"
kind = "department"
phone = "+49 1234 567-220"

[[authority.units]]
slug = "auslaenderbehoerde"
name = "Ausländerbehörde"
kind = "department"
mailbox = "auslaenderbehoerde@lra-musterhausen.example"

[[authority]]
slug = "stadt-beispielstadt"
name = "Stadt Beispielstadt"
street = "Rathausplatz 1"
postal_code = "54321"
place = "Beispielstadt"
website = "https://www.beispielstadt.example"
phone = "+49 5432 10-0"
central_mailbox = "rathaus@beispielstadt.example"
activated = true
imprint = { representative = "Oberbürgermeister Max Beispiel", content_responsible = "Hauptamt", data_protection_officer = "datenschutz@beispielstadt.example" }

[[authority.units]]
slug = "buergerbuero"
name = "Bürgerbüro"
kind = "registration_office"
mailbox = "rathaus@beispielstadt.example"

[[authority]]
slug = "gemeinde-neudorf-am-see"
name = "Gemeinde Neudorf am See"
street = "Seestraße 3"
postal_code = "98765"
place = "Neudorf am See"
phone = "+49 9876 54-0"
central_mailbox = "gemeinde@neudorf-am-see.example"
activated = true
imprint = { representative = "Erster Bürgermeister Hans Seemann", content_responsible = "Gemeindeverwaltung", data_protection_officer = "datenschutz@neudorf-am-see.example" }

[[authority]]
slug = "vg-talheim"
name = "Verwaltungsgemeinschaft Talheim"
street = "Am Markt 7"
postal_code = "86543"
place = "Talheim"
phone = "+49 8654 3-0"
central_mailbox = "poststelle@vg-talheim.example"
activated = true
imprint = { representative = "Gemeinschaftsvorsitzender Paul Talmann", content_responsible = "Geschäftsstelle", data_protection_officer = "datenschutz@vg-talheim.example" }
policy = { mailbox_limit_bytes = 25000000, algorithms = { content = "aes256-cbc", key_transport = "rsa-pkcs1v15" } }

[[authority.units]]
slug = "bauamt"
name = "Bauamt"
kind = "department"
"#;

/// Generates the demo in `<data_dir>/demo` unless it is there, and renews its CRL.
/// Returns the demo's files.
pub fn ensure(data_dir: &Path, now: u64) -> Result<Demo, DemoError> {
    let demo = Demo {
        folder: data_dir.join("demo"),
    };
    if !demo.directory_file().is_file() {
        generate(&demo, now)?;
    }
    renew_crl(&demo, now)?;
    Ok(demo)
}

fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<(), DemoError> {
    std::fs::write(path, content).map_err(|source| DemoError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn name(text: &str) -> Result<Name, DemoError> {
    pkix::name(text).map_err(crypto)
}

fn validity(from: u64, to: u64) -> Result<Validity, DemoError> {
    pkix::validity(from, to).map_err(crypto)
}

fn serial(n: u64) -> Result<SerialNumber, DemoError> {
    pkix::serial(&(0x5053_0000_0000 + n).to_be_bytes()).map_err(crypto)
}

const CA_NAME: &str = "CN=Postsiegel Demo-CA,O=Postsiegel Demo,C=DE";

fn generate(demo: &Demo, now: u64) -> Result<(), DemoError> {
    let certs = demo.folder.join("certificates");
    std::fs::create_dir_all(&certs).map_err(|source| DemoError::Io {
        path: certs.display().to_string(),
        source,
    })?;
    tracing::info!("generating the demo directory (two RSA keys; a few seconds)");
    let mut rng = rand_core::OsRng;
    let ca_key = RsaPrivateKey::new(&mut rng, 2048).map_err(crypto)?;
    let ca_signer = SigningKey::<Sha256>::new(ca_key.clone());
    let ca_spki = spki(&RsaPublicKey::from(&ca_key))?;
    let ca = CertificateBuilder::new(
        Profile::Root,
        serial(1)?,
        validity(now - DAY, now + 3650 * DAY)?,
        name(CA_NAME)?,
        ca_spki,
        &ca_signer,
    )
    .map_err(crypto)?
    .build::<rsa::pkcs1v15::Signature>()
    .map_err(crypto)?;

    let mailbox_key = RsaPrivateKey::new(&mut rng, 2048).map_err(crypto)?;
    let mailbox_spki = spki(&RsaPublicKey::from(&mailbox_key))?;
    for (n, entry) in CERTIFICATES.iter().enumerate() {
        let start = now - entry.from_days_ago * DAY;
        let certificate = issue_leaf(
            &ca,
            &ca_signer,
            &mailbox_spki,
            100 + n as u64,
            entry.mailbox,
            entry.name,
            validity(start, start + entry.days * DAY)?,
        )?;
        write(&certs.join(entry.file), pem(&certificate)?)?;
    }

    let mut directory = String::from(DIRECTORY);
    for entry in &CERTIFICATES {
        directory.push_str(&format!(
            "\n[[certificate]]\nmailbox = \"{}\"\nfile = \"certificates/{}\"\n",
            entry.mailbox, entry.file
        ));
    }
    write(&demo.ca_certificate(), pem(&ca)?)?;
    write(
        &demo.folder.join("demo-ca.key.pem"),
        ca_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(crypto)?
            .as_bytes(),
    )?;
    write(
        &demo.mailbox_key(),
        mailbox_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(crypto)?
            .as_bytes(),
    )?;
    // Written last: its presence says the demo is complete.
    write(&demo.directory_file(), directory)
}

/// An encryption certificate of the demo CA for `mailbox`.
fn issue_leaf(
    ca: &Certificate,
    ca_signer: &SigningKey<Sha256>,
    spki: &SubjectPublicKeyInfoOwned,
    serial_number: u64,
    mailbox: &str,
    holder: &str,
    validity: Validity,
) -> Result<Certificate, DemoError> {
    let mut builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: true,
            include_subject_key_identifier: true,
        },
        serial(serial_number)?,
        validity,
        name(&format!(
            "CN={},O=Postsiegel Demo,C=DE",
            holder.replace(',', "\\,")
        ))?,
        spki.clone(),
        ca_signer,
    )
    .map_err(crypto)?;
    builder
        .add_extension(&SubjectAltName(vec![GeneralName::Rfc822Name(
            Ia5String::new(mailbox).map_err(crypto)?,
        )]))
        .map_err(crypto)?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![
            const_oid::db::rfc5280::ID_KP_EMAIL_PROTECTION,
        ]))
        .map_err(crypto)?;
    builder.build::<rsa::pkcs1v15::Signature>().map_err(crypto)
}

fn read_key(path: &Path) -> Result<RsaPrivateKey, DemoError> {
    let pem = std::fs::read_to_string(path).map_err(|source| DemoError::Io {
        path: path.display().to_string(),
        source,
    })?;
    RsaPrivateKey::from_pkcs8_pem(&pem).map_err(crypto)
}

impl Demo {
    /// The demo CA's certificate and signing key.
    fn ca(&self) -> Result<(Certificate, SigningKey<Sha256>), DemoError> {
        let pem = std::fs::read(self.ca_certificate()).map_err(|source| DemoError::Io {
            path: self.ca_certificate().display().to_string(),
            source,
        })?;
        let ca = smime::certificate::parse_certificates(&pem)
            .map_err(crypto)?
            .remove(0);
        let key = read_key(&self.folder.join("demo-ca.key.pem"))?;
        Ok((ca, SigningKey::<Sha256>::new(key)))
    }

    /// More demo certificates (for large test directories): one per mailbox, valid for
    /// two years from yesterday, for the shared demo mailbox key.
    pub fn issue(
        &self,
        mailboxes: &[(String, String)],
        now: u64,
    ) -> Result<Vec<Certificate>, DemoError> {
        let (ca, signer) = self.ca()?;
        let mailbox_key = read_key(&self.mailbox_key())?;
        let spki = spki(&RsaPublicKey::from(&mailbox_key))?;
        mailboxes
            .iter()
            .enumerate()
            .map(|(n, (mailbox, holder))| {
                issue_leaf(
                    &ca,
                    &signer,
                    &spki,
                    10_000 + n as u64,
                    mailbox,
                    holder,
                    validity(now - DAY, now + 730 * DAY)?,
                )
            })
            .collect()
    }
}

fn spki(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, DemoError> {
    pkix::rsa_spki(key).map_err(crypto)
}

fn pem(certificate: &Certificate) -> Result<String, DemoError> {
    certificate.to_pem(LineEnding::LF).map_err(crypto)
}

/// A fresh, empty CRL of the demo CA, valid 90 days: revocation checks fail closed, and the
/// demo must pass them like any real directory.
fn renew_crl(demo: &Demo, now: u64) -> Result<(), DemoError> {
    let (ca, signer) = demo.ca()?;
    let crl = pkix::signed_crl(
        &ca.tbs_certificate.subject,
        &signer,
        pkix::CrlContent {
            this_update: now - 60,
            next_update: now + 90 * DAY,
            revoked: Vec::new(),
            extensions: None,
        },
    )
    .map_err(crypto)?;
    write(&demo.crl(), crl)?;
    Ok(())
}
