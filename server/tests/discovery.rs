//! Keeping the forms current: certificates found in a real slapd, revocation lists fetched
//! from the certificate's http:// (a real HTTP server started here) or ldap://
//! distribution point, cached, and used until nextUpdate plus 24 hours: after that the form
//! is not offered and the operator is told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use der::EncodePem;

use postsiegel_server::clock::unix_now;
use postsiegel_server::directory::catalog::{Catalog, Settings, SharedCatalog};
use postsiegel_server::directory::crl::CrlCache;
use postsiegel_server::directory::ldap::LdapConfig;
use postsiegel_server::directory::pki::PkiConfig;
use postsiegel_server::directory::refresh::Discovery;
use postsiegel_server::model::{Authority, Directory, FormPolicy, Imprint, StoredCertificate};
use postsiegel_server::store::{Source, Store};
use testkit::slapd::{Slapd, ca_entry, ldif_line, mailbox_entry, remove_certificate};
use testkit::{Issued, Leaf, Pki};

const MAILBOX: &str = "poststelle@lra-test.example";
const OPERATOR: &str = "betrieb@portal.example";
const HOUR: u64 = 3600;

/// The CA's web server: serves whatever CRL it holds now, or 503 when it holds none.
struct CrlServer {
    crl: Arc<Mutex<Option<Vec<u8>>>>,
    requests: Arc<AtomicUsize>,
    url: String,
}

async fn crl_server() -> CrlServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/intermediate.crl",
        listener.local_addr().unwrap().port()
    );
    let crl: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
    let requests = Arc::new(AtomicUsize::new(0));
    let (held, counter) = (crl.clone(), requests.clone());
    let app = axum::Router::new().route(
        "/intermediate.crl",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let bytes = held.lock().unwrap().clone();
            async move {
                match bytes {
                    Some(bytes) => (StatusCode::OK, bytes).into_response(),
                    None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    CrlServer { crl, requests, url }
}

struct World {
    pki: Pki,
    leaf: Issued,
    discovery: Discovery,
    store: Store,
    server: CrlServer,
    _data: tempfile::TempDir,
}

async fn world() -> World {
    let server = crl_server().await;
    let url = server.url.clone();
    world_with(server, &url, None, true).await
}

/// A portal whose one authority's mailbox has a certificate with `crl_url` as its
/// distribution point, imported or (`imported: false`) left for LDAP to find.
async fn world_with(
    server: CrlServer,
    crl_url: &str,
    ldap: Option<LdapConfig>,
    imported: bool,
) -> World {
    let pki = Pki::new();
    let points: &'static str = Box::leak(format!("URI:{crl_url}").into_boxed_str());
    let leaf = pki.issue(&Leaf {
        crl_distribution_points: Some(points),
        ..Leaf::good("central", MAILBOX)
    });
    let data = tempfile::tempdir().unwrap();
    let pem = |certificates: &[testkit::Certificate], name: &str| {
        let path = data.path().join(name);
        let text: String = certificates
            .iter()
            .map(|c| c.to_pem(der::pem::LineEnding::LF).unwrap())
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    };
    let config = PkiConfig {
        trust_anchors: vec![pem(&pki.anchors, "anchors.pem")],
        intermediates: vec![pem(&pki.intermediates, "intermediates.pem")],
        crl_files: Vec::new(),
    };
    let store = Store::open(data.path()).await.unwrap();
    store
        .replace_directory(
            &Directory {
                authorities: vec![authority()],
                certificates: if imported {
                    vec![StoredCertificate {
                        mailbox: MAILBOX.into(),
                        certificate: leaf.certificate.clone(),
                    }]
                } else {
                    Vec::new()
                },
            },
            Source::Import,
        )
        .await
        .unwrap();
    let settings = Settings {
        public_url: "https://kontakt.example.de".into(),
        mail_from: "Postsiegel <kontaktformular@portal.example>".into(),
        extra_header_bytes: 0,
        signature_len: None,
        retention_days: 30,
        report_days: None,
        answer_mail: None,
    };
    let discovery = Discovery::new(
        store.clone(),
        config,
        ldap,
        CrlCache::new(data.path(), Duration::from_secs(5), 6),
        settings.clone(),
        SharedCatalog::new(Catalog::empty(&settings)),
        Some(OPERATOR.into()),
    );
    World {
        pki,
        leaf,
        discovery,
        store,
        server,
        _data: data,
    }
}

fn authority() -> Authority {
    Authority {
        slug: "landratsamt-test".into(),
        name: "Landratsamt Test".into(),
        street: "Marktplatz 1".into(),
        postal_code: "12345".into(),
        place: "Teststadt".into(),
        website: None,
        phone: Some("+49 1234 56-0".into()),
        central_mailbox: Some(MAILBOX.into()),
        imprint: Imprint {
            representative: Some("Landrätin Dr. Erika Beispiel".into()),
            content_responsible: Some("Pressestelle".into()),
            data_protection_officer: Some("datenschutz@lra-test.example".into()),
            vat_id: None,
        },
        activated: true,
        policy: FormPolicy::default(),
        units: Vec::new(),
    }
}

/// The certificate problem codes of the form, empty when it is offered.
async fn judged(world: &World, now: u64) -> Vec<String> {
    let catalog = world.discovery.refresh(now).await.unwrap();
    let form = catalog.form("landratsamt-test").unwrap();
    if form.available {
        return Vec::new();
    }
    let rejected = form.reasons[0].params.certificates.as_ref();
    match rejected.and_then(|certificates| certificates.first()) {
        Some(certificate) => certificate.codes.clone(),
        None => vec![form.reasons[0].code.to_owned()],
    }
}

#[tokio::test]
async fn a_fetched_crl_is_cached_and_a_revocation_takes_the_form_offline() {
    let world = world().await;
    *world.server.crl.lock().unwrap() = Some(world.pki.crl("intermediate", 48));
    let now = unix_now();
    assert!(judged(&world, now).await.is_empty(), "a fresh CRL: offered");
    assert_eq!(world.server.requests.load(Ordering::SeqCst), 1);
    assert!(judged(&world, now + 60).await.is_empty());
    assert_eq!(
        world.server.requests.load(Ordering::SeqCst),
        1,
        "a current CRL comes from the cache"
    );

    world.pki.revoke(&world.leaf);
    *world.server.crl.lock().unwrap() = Some(world.pki.crl("intermediate", 48));
    // The CA published a new list before the old one ran out; it is fetched within
    // crl_refresh_hours (6 here).
    assert_eq!(
        judged(&world, now + 7 * HOUR).await,
        ["certificate_revoked"]
    );
    assert_eq!(world.server.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn during_an_outage_the_cached_crl_serves_until_next_update_plus_a_day() {
    let world = world().await;
    *world.server.crl.lock().unwrap() = Some(world.pki.crl("intermediate", 48));
    let now = unix_now();
    assert!(judged(&world, now).await.is_empty());

    *world.server.crl.lock().unwrap() = None;
    // Past nextUpdate: fetched again, which fails; the cached list is still within grace.
    assert!(judged(&world, now + 49 * HOUR).await.is_empty());
    assert_eq!(world.server.requests.load(Ordering::SeqCst), 2);
    assert!(world.store.unsent_mails().await.unwrap().is_empty());

    // Past nextUpdate plus 24 hours: fail closed, and the operator is told, once.
    assert_eq!(
        judged(&world, now + 73 * HOUR).await,
        ["certificate_revocation_unknown"]
    );
    assert_eq!(
        judged(&world, now + 74 * HOUR).await,
        ["certificate_revocation_unknown"]
    );
    let mails = world.store.unsent_mails().await.unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].recipient, OPERATOR);
    assert!(mails[0].body.contains(MAILBOX));

    // The CA is back: the form returns at the next refresh.
    *world.server.crl.lock().unwrap() = Some(world.pki.crl("intermediate", 100));
    assert!(judged(&world, now + 75 * HOUR).await.is_empty());
}

#[tokio::test]
async fn certificates_found_in_ldap_make_the_form_and_their_ldap_crl_is_checked() {
    let slapd = Slapd::start();
    let base = slapd.base_dn();
    let ca_dn = format!("cn=Issuing CA,{base}");
    let entry_dn = format!("cn=Poststelle,{base}");
    // An RFC 4516 URL; openssl's configuration splits on commas, so they go encoded.
    let crl_url = format!(
        "ldap://127.0.0.1:{}/{}?certificateRevocationList;binary",
        slapd.port(),
        ca_dn.replace(' ', "%20").replace(',', "%2C")
    );
    let ldap = LdapConfig {
        url: slapd.url(),
        base_dn: base.to_owned(),
        bind_dn: None,
        bind_password: None,
        refresh_minutes: 60,
        timeout_seconds: 5,
        extra_roots: None,
    };
    let world = world_with(crl_server().await, &crl_url, Some(ldap), false).await;
    let now = unix_now();
    assert_eq!(judged(&world, now).await, ["form_no_valid_certificate"]);

    let issuing_ca = der::Encode::to_der(&world.pki.ca("intermediate")).unwrap();
    slapd.add(&ca_entry(
        &ca_dn,
        &issuing_ca,
        &world.pki.crl("intermediate", 48),
        None,
    ));
    slapd.add(&mailbox_entry(&entry_dn, MAILBOX, &[&world.leaf.der]));
    assert_eq!(world.discovery.refresh_ldap().await.unwrap(), 1);
    // Offered: the certificate from LDAP, checked against the CRL from LDAP (there is no
    // other CRL, and without one the form would not be offered).
    assert!(judged(&world, now).await.is_empty());
    let catalog = world.discovery.refresh(now).await.unwrap();
    let published = &catalog
        .form("landratsamt-test")
        .unwrap()
        .delivery
        .as_ref()
        .unwrap()
        .certificates;
    assert_eq!(published.len(), 1);
    assert_eq!(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &published[0].der
        )
        .unwrap(),
        world.leaf.der
    );

    // The PKI withdraws the certificate: the form goes at the next refresh.
    slapd.modify(&remove_certificate(&entry_dn, &world.leaf.der));
    assert_eq!(world.discovery.refresh_ldap().await.unwrap(), 0);
    assert_eq!(judged(&world, now).await, ["form_no_valid_certificate"]);

    // Published again, then the directory goes down: what was found stays in use.
    let mut add = ldif_line("dn", entry_dn.as_bytes());
    add.push_str("changetype: modify\nadd: userCertificate;binary\n");
    add.push_str(&ldif_line("userCertificate;binary", &world.leaf.der));
    add.push_str("-\n");
    slapd.modify(&add);
    assert_eq!(world.discovery.refresh_ldap().await.unwrap(), 1);
    drop(slapd);
    assert!(world.discovery.refresh_ldap().await.is_err());
    assert!(judged(&world, now + 60).await.is_empty());
}
