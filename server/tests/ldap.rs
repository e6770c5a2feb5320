//! Certificate discovery and CRL download against a real slapd, laid out as state PKIs
//! publish: `mail` + `userCertificate;binary` entries, a CA entry with its CRL.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use der::Encode;
use postsiegel_server::directory::ldap::{LdapConfig, LdapError, fetch_crl, lookup_certificates};
use postsiegel_server::model::StoredCertificate;
use testkit::slapd::{Slapd, ca_entry, mailbox_entry, remove_certificate};
use testkit::{Leaf, Pki};

const POSTSTELLE: &str = "poststelle@lra-demo.example";
const BAUAMT: &str = "bauamt@lra-demo.example";

/// Certificates and CRLs made once for all tests (making a PKI takes seconds), as DER.
struct Material {
    poststelle: Vec<u8>,
    poststelle_renewed: Vec<u8>,
    bauamt: Vec<u8>,
    issuing_ca: Vec<u8>,
    crl: Vec<u8>,
    arl: Vec<u8>,
}

static MATERIAL: LazyLock<Material> = LazyLock::new(|| {
    let pki = Pki::new();
    let mut renewed = Leaf::good("poststelle-renewed", POSTSTELLE);
    renewed.not_before = "20260101000000Z";
    renewed.not_after = "20360101000000Z";
    Material {
        poststelle: pki.issue(&Leaf::good("poststelle", POSTSTELLE)).der,
        poststelle_renewed: pki.issue(&renewed).der,
        bauamt: pki.issue(&Leaf::good("bauamt", BAUAMT)).der,
        issuing_ca: pki.ca("intermediate").to_der().unwrap(),
        crl: pki.crl("intermediate", 24),
        arl: pki.crl("root", 24),
    }
});

fn config(slapd: &Slapd) -> LdapConfig {
    LdapConfig {
        url: slapd.url(),
        base_dn: slapd.base_dn().to_owned(),
        bind_dn: None,
        bind_password: None,
        refresh_minutes: 60,
        timeout_seconds: 5,
        extra_roots: None,
    }
}

fn dn(slapd: &Slapd, cn: &str) -> String {
    format!("cn={cn},{}", slapd.base_dn())
}

/// A directory with the Poststelle (one certificate) and the Bauamt (one certificate).
fn directory() -> Slapd {
    let slapd = Slapd::start();
    let material = &*MATERIAL;
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Poststelle"),
        POSTSTELLE,
        &[&material.poststelle],
    ));
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Bauamt"),
        BAUAMT,
        &[&material.bauamt],
    ));
    slapd
}

/// What a lookup found, as sorted (mailbox, DER) pairs.
fn found(certificates: &[StoredCertificate]) -> Vec<(String, Vec<u8>)> {
    let mut pairs: Vec<_> = certificates
        .iter()
        .map(|c| (c.mailbox.clone(), c.certificate.to_der().unwrap()))
        .collect();
    pairs.sort();
    pairs
}

fn pairs(expected: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    let mut pairs: Vec<_> = expected
        .iter()
        .map(|(mailbox, der)| (mailbox.to_string(), der.to_vec()))
        .collect();
    pairs.sort();
    pairs
}

fn mailboxes(addresses: &[&str]) -> Vec<String> {
    addresses.iter().map(|a| a.to_string()).collect()
}

#[tokio::test]
async fn finds_the_certificate_published_for_each_mailbox() {
    let slapd = directory();
    let certificates = lookup_certificates(&config(&slapd), &mailboxes(&[POSTSTELLE, BAUAMT]))
        .await
        .unwrap();
    assert_eq!(
        found(&certificates),
        pairs(&[
            (POSTSTELLE, &MATERIAL.poststelle),
            (BAUAMT, &MATERIAL.bauamt)
        ])
    );
}

#[tokio::test]
async fn finds_both_certificates_of_an_entry_during_renewal() {
    let slapd = Slapd::start();
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Poststelle"),
        POSTSTELLE,
        &[&MATERIAL.poststelle, &MATERIAL.poststelle_renewed],
    ));
    let certificates = lookup_certificates(&config(&slapd), &mailboxes(&[POSTSTELLE]))
        .await
        .unwrap();
    assert_eq!(
        found(&certificates),
        pairs(&[
            (POSTSTELLE, &MATERIAL.poststelle),
            (POSTSTELLE, &MATERIAL.poststelle_renewed)
        ])
    );
}

#[tokio::test]
async fn a_mailbox_without_an_entry_yields_no_certificate_and_no_error() {
    let slapd = directory();
    let certificates =
        lookup_certificates(&config(&slapd), &mailboxes(&["niemand@lra-demo.example"]))
            .await
            .unwrap();
    assert_eq!(certificates, vec![]);
}

#[tokio::test]
async fn addresses_match_case_insensitively_and_come_back_as_asked_in_lowercase() {
    let slapd = Slapd::start();
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Poststelle"),
        "Poststelle@LRA-Demo.example",
        &[&MATERIAL.poststelle],
    ));
    // Asked twice, in two spellings: found once.
    let certificates = lookup_certificates(
        &config(&slapd),
        &mailboxes(&["POSTSTELLE@lra-demo.EXAMPLE", POSTSTELLE]),
    )
    .await
    .unwrap();
    assert_eq!(
        found(&certificates),
        pairs(&[(POSTSTELLE, &MATERIAL.poststelle)])
    );
}

#[tokio::test]
async fn filter_metacharacters_in_an_address_match_nothing_rather_than_everything() {
    let slapd = directory();
    for address in [
        "x*)(mail=*",
        "*",
        "*@lra-demo.example",
        "\\2a",
        "x)(|(mail=*)",
    ] {
        let certificates = lookup_certificates(&config(&slapd), &mailboxes(&[address]))
            .await
            .unwrap_or_else(|e| panic!("{address}: {e}"));
        assert_eq!(certificates, vec![], "{address}");
    }
}

/// `der` with its outer length in a longer form than needed: fine BER, so slapd's syntax
/// check stores it, but not DER, so it must not parse as a certificate.
fn ber_but_not_der(der: &[u8]) -> Vec<u8> {
    assert_eq!(
        der[..2],
        [0x30, 0x82],
        "a certificate of 256 bytes to 64 KiB"
    );
    let mut ber = vec![0x30, 0x83, 0x00];
    ber.extend_from_slice(&der[2..]);
    ber
}

/// What the server logs while it is held, for checking warnings.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_certificate_that_does_not_parse_is_skipped_with_a_warning_naming_the_entry() {
    let slapd = Slapd::start();
    let entry = dn(&slapd, "Poststelle");
    let broken = ber_but_not_der(&MATERIAL.poststelle);
    slapd.add(&mailbox_entry(
        &entry,
        POSTSTELLE,
        &[&broken, &MATERIAL.poststelle_renewed],
    ));
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let certificates = lookup_certificates(&config(&slapd), &mailboxes(&[POSTSTELLE]))
        .await
        .unwrap();
    assert_eq!(
        found(&certificates),
        pairs(&[(POSTSTELLE, &MATERIAL.poststelle_renewed)])
    );
    let log = log.text();
    assert!(log.contains("WARN") && log.contains(&entry), "{log}");
    assert!(!log.contains(&BASE64.encode(&broken)[..32]), "{log}");
}

#[tokio::test]
async fn a_removed_certificate_is_gone_at_the_next_lookup() {
    let slapd = Slapd::start();
    let entry = dn(&slapd, "Poststelle");
    slapd.add(&mailbox_entry(
        &entry,
        POSTSTELLE,
        &[&MATERIAL.poststelle, &MATERIAL.poststelle_renewed],
    ));
    let config = config(&slapd);
    let asked = mailboxes(&[POSTSTELLE]);
    assert_eq!(lookup_certificates(&config, &asked).await.unwrap().len(), 2);

    slapd.modify(&remove_certificate(&entry, &MATERIAL.poststelle));
    assert_eq!(
        found(&lookup_certificates(&config, &asked).await.unwrap()),
        pairs(&[(POSTSTELLE, &MATERIAL.poststelle_renewed)])
    );

    slapd.modify(&format!("dn: {entry}\nchangetype: delete\n"));
    assert_eq!(lookup_certificates(&config, &asked).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_bound_lookup_works_and_a_wrong_password_is_a_bind_error() {
    let slapd = directory();
    let mut config = config(&slapd);
    config.bind_dn = Some(format!("cn=admin,{}", slapd.base_dn()));
    config.bind_password = Some("postsiegel-test".into());
    let asked = mailboxes(&[POSTSTELLE]);
    assert_eq!(lookup_certificates(&config, &asked).await.unwrap().len(), 1);

    config.bind_password = Some("wrong".into());
    let error = lookup_certificates(&config, &asked).await.unwrap_err();
    assert!(matches!(error, LdapError::Bind { .. }), "{error}");
    assert!(!error.to_string().contains("wrong"), "{error}");
}

#[tokio::test]
async fn a_base_dn_that_does_not_exist_is_a_search_error() {
    let slapd = directory();
    let mut config = config(&slapd);
    config.base_dn = format!("ou=Fehlt,{}", slapd.base_dn());
    let error = lookup_certificates(&config, &mailboxes(&[POSTSTELLE]))
        .await
        .unwrap_err();
    assert!(matches!(error, LdapError::Search { .. }), "{error}");
}

#[tokio::test]
async fn ldaps_works_with_the_directory_ca_configured_and_only_then() {
    let slapd = Slapd::with_tls();
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Poststelle"),
        POSTSTELLE,
        &[&MATERIAL.poststelle],
    ));
    let mut config = config(&slapd);
    config.url = slapd.ldaps_url();
    config.extra_roots = Some(slapd.tls_certificate());
    config.check().unwrap();
    let asked = mailboxes(&[POSTSTELLE]);
    assert_eq!(
        found(&lookup_certificates(&config, &asked).await.unwrap()),
        pairs(&[(POSTSTELLE, &MATERIAL.poststelle)])
    );

    // The system's roots alone do not know the directory's CA: no lookup in clear instead.
    config.extra_roots = None;
    let error = lookup_certificates(&config, &asked).await.unwrap_err();
    assert!(matches!(error, LdapError::Connect { .. }), "{error}");

    // A roots file that holds no certificate is named as such, not as a TLS failure.
    let empty = tempfile::NamedTempFile::new().unwrap();
    config.extra_roots = Some(empty.path().to_owned());
    let error = lookup_certificates(&config, &asked).await.unwrap_err();
    assert!(matches!(error, LdapError::ExtraRoots { .. }), "{error}");
    // The portal says so at start, before any lookup.
    assert!(matches!(config.check(), Err(LdapError::ExtraRoots { .. })));
}

/// A port nothing listens on: a free port, released again.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_directory_that_is_not_there_is_a_connect_error() {
    let config = LdapConfig {
        url: format!("ldap://127.0.0.1:{}", closed_port()),
        base_dn: "o=Freistaat Demo,c=DE".into(),
        bind_dn: None,
        bind_password: None,
        refresh_minutes: 60,
        timeout_seconds: 2,
        extra_roots: None,
    };
    let started = Instant::now();
    let error = lookup_certificates(&config, &mailboxes(&[POSTSTELLE]))
        .await
        .unwrap_err();
    assert!(matches!(error, LdapError::Connect { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");

    let error = fetch_crl(
        &format!("ldap://127.0.0.1:{}/cn=CA,c=DE", closed_port()),
        Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, LdapError::Connect { .. }), "{error}");
}

#[tokio::test]
async fn a_directory_that_never_answers_fails_within_the_timeout() {
    // The kernel accepts connections into the backlog; nobody ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let config = LdapConfig {
        url: url.clone(),
        base_dn: "o=Freistaat Demo,c=DE".into(),
        bind_dn: None,
        bind_password: None,
        refresh_minutes: 60,
        timeout_seconds: 1,
        extra_roots: None,
    };
    let started = Instant::now();
    let error = lookup_certificates(&config, &mailboxes(&[POSTSTELLE]))
        .await
        .unwrap_err();
    assert!(matches!(error, LdapError::Search { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "{error}");

    let started = Instant::now();
    let error = fetch_crl(&format!("{url}/cn=CA,c=DE"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(error, LdapError::Search { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "{error}");
}

#[tokio::test]
async fn fetch_crl_returns_exactly_the_crl_stored_in_the_ca_entry() {
    let slapd = Slapd::start();
    let material = &*MATERIAL;
    slapd.add(&ca_entry(
        &dn(&slapd, "Test Issuing CA"),
        &material.issuing_ca,
        &material.crl,
        Some(&material.arl),
    ));
    let entry = format!(
        "{}/cn=Test%20Issuing%20CA,o=Freistaat%20Demo,c=DE",
        slapd.url()
    );
    let timeout = Duration::from_secs(5);
    for (attribute, expected) in [
        ("?certificateRevocationList;binary", &material.crl),
        ("?certificateRevocationList", &material.crl),
        ("", &material.crl),
        (
            "?certificateRevocationList?base?(objectClass=*)",
            &material.crl,
        ),
        ("?authorityRevocationList;binary", &material.arl),
    ] {
        let url = format!("{entry}{attribute}");
        let crl = fetch_crl(&url, timeout)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(crl == *expected, "{url}: other bytes than stored");
    }
}

#[tokio::test]
async fn fetch_crl_says_what_is_missing_or_wrong() {
    let slapd = Slapd::start();
    slapd.add(&mailbox_entry(
        &dn(&slapd, "Poststelle"),
        POSTSTELLE,
        &[&MATERIAL.poststelle],
    ));
    let timeout = Duration::from_secs(5);
    let no_crl = format!(
        "{}/cn=Poststelle,o=Freistaat%20Demo,c=DE?certificateRevocationList;binary",
        slapd.url()
    );
    let error = fetch_crl(&no_crl, timeout).await.unwrap_err();
    assert!(matches!(error, LdapError::NoValue { .. }), "{error}");

    let no_entry = format!("{}/cn=Fehlt,o=Freistaat%20Demo,c=DE", slapd.url());
    let error = fetch_crl(&no_entry, timeout).await.unwrap_err();
    assert!(matches!(error, LdapError::Search { .. }), "{error}");

    for bad in [
        "http://127.0.0.1/cn=CA,c=DE".to_owned(),
        slapd.url(),
        format!("{}/?certificateRevocationList", slapd.url()),
        format!("{}/cn=CA%2", slapd.url()),
        "ldap:///cn=CA,c=DE".to_owned(),
    ] {
        let error = fetch_crl(&bad, timeout).await.unwrap_err();
        assert!(matches!(error, LdapError::BadUrl { .. }), "{bad}: {error}");
    }
}
