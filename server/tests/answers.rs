//! Answers, the portal's side: the answers CA limits itself to the answer domain (OpenSSL
//! and NSS refuse what it signs for another), a conversation's certificate is issued only
//! for a verified address and a key whose request verifies, the message that opens the
//! conversation goes out from the alias, and the citizen's signature inside it verifies in
//! OpenSSL, gpgsm and NSS against the answers CA. The test plays the citizen with keys and
//! requests made by openssl; mail goes to a real SMTP server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};

use common::{Portal, get, now, portal_with, send, to};
use postsiegel_server::answers::AnswersConfig;
use postsiegel_server::answers::ca::{AnswersCa, CaFiles, LeafRequest};
use postsiegel_server::dkim::DkimConfig;
use postsiegel_server::inbound::InboundConfig;
use postsiegel_server::relay::transport::Transport;
use testkit::smtp::{Received, SmtpServer};
use wire::{CONVERSATION_HEADER, TOKEN_HEADER};

const TRADE: &str = "landratsamt-musterhausen/gewerbeamt";
const TRADE_MAILBOX: &str = "gewerbeamt@lra-musterhausen.example";
const CITIZEN: &str = "juergen@example.org";
const ANSWER_DOMAIN: &str = "antwort.kontakt.example.de";

/// Keys made once per test binary with openssl (an RSA-3072 CA key, a DKIM key), so
/// that each portal does not wait for a key of its own.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn ca_key(&self) -> PathBuf {
        self.dir.path().join("ca.key.pem")
    }
    fn dkim_key(&self) -> PathBuf {
        self.dir.path().join("dkim.key.pem")
    }
    /// The DKIM key's public half, DER, as its DNS record carries it.
    fn dkim_public_der(&self) -> Vec<u8> {
        openssl(
            self.dir.path(),
            &["pkey", "-in", "dkim.key.pem", "-pubout", "-outform", "DER"],
        )
    }
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = Keys {
            dir: tempfile::tempdir().unwrap(),
        };
        for (file, bits) in [("ca.key.pem", "3072"), ("dkim.key.pem", "2048")] {
            openssl(
                keys.dir.path(),
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &format!("rsa_keygen_bits:{bits}"),
                    "-out",
                    file,
                ],
            );
        }
        keys
    })
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    testkit::openssl(dir, args)
}

/// A command's exit status and everything it wrote, for commands expected to fail.
fn attempt(command: &mut Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn answers_config() -> AnswersConfig {
    AnswersConfig {
        domain: ANSWER_DOMAIN.into(),
        conversation_days: 180,
        pending_hours: 6,
        ca_certificate: None,
        ca_key: Some(keys().ca_key()),
        dkim: Some(DkimConfig {
            domain: ANSWER_DOMAIN.into(),
            selector: "antwort".into(),
            private_key: keys().dkim_key(),
        }),
    }
}

/// A portal with answers on, its mail going to `smtp`.
async fn answers_portal(smtp: &SmtpServer) -> Portal {
    answers_portal_with(|_| {}, common::plain_smtp(smtp.port())).await
}

/// Like [`answers_portal`], on the demo directory changed by `adjust`.
async fn answers_portal_with(
    adjust: impl FnOnce(&mut postsiegel_server::model::Directory),
    transport: Transport,
) -> Portal {
    portal_with(adjust, Some(transport), None, None, |config| {
        config.inbound = Some(InboundConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            "return.kontakt.example.de",
            "mx.kontakt.example.de",
        ));
        config.answers = Some(answers_config());
    })
    .await
}

/// The citizen's side, played with openssl: a key and its certificate request.
struct Citizen {
    dir: tempfile::TempDir,
}

impl Citizen {
    fn new() -> Citizen {
        let citizen = Citizen {
            dir: tempfile::tempdir().unwrap(),
        };
        openssl(
            citizen.dir.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=ignored",
                "-keyout",
                "key.pem",
                "-out",
                "csr.pem",
            ],
        );
        citizen
    }

    fn csr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("csr.pem")).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// What `smime::open` (the answer page's code) decrypts of a received mail with the
    /// conversation's key and certificate.
    fn open(&self, mail: &[u8]) -> Result<Vec<u8>, smime::open::OpenError> {
        let cms = base64_body(&String::from_utf8_lossy(mail));
        let key_pem = std::fs::read_to_string(self.path("key.pem")).unwrap();
        let key =
            <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key_pem).unwrap();
        let cert_pem = std::fs::read(self.path("cert.pem")).unwrap();
        let certificate = smime::certificate::parse_certificates(&cert_pem)
            .unwrap()
            .remove(0);
        smime::open::decrypt(&cms, &certificate, &key)
    }

    /// `statement` signed with the conversation's key as the browser signs its requests
    /// (RSASSA-PKCS1-v1_5, SHA-256), base64.
    fn sign(&self, statement: &str) -> String {
        self.write("statement.txt", statement.as_bytes());
        let signature = openssl(
            self.dir.path(),
            &["dgst", "-sha256", "-sign", "key.pem", "statement.txt"],
        );
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature)
    }

    /// The MIME entity signed with the conversation's key, as S/MIME (multipart/signed)
    /// with its From and Reply-To set to the alias: what the browser encrypts. Built by
    /// `smime::signing` around the signatures openssl makes with the key (as WebCrypto
    /// will in the browser), so that the verifiers below check the app's own structures.
    fn signed_entity(&self, issued: &serde_json::Value) -> Vec<u8> {
        let alias = issued["alias"].as_str().unwrap();
        let certificate = issued["certificate"].as_str().unwrap();
        let ca = issued["ca_certificate"].as_str().unwrap();
        self.write("cert.pem", certificate.as_bytes());
        self.write("ca.pem", ca.as_bytes());
        let parse = |pem: &str| {
            smime::certificate::parse_certificates(pem.as_bytes())
                .unwrap()
                .remove(0)
        };
        let entity =
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag, bitte antworten Sie mir.\r\n";
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(entity).into();
        let at = now();
        let attributes = smime::signing::signed_attributes(&digest, at).unwrap();
        self.write("attributes.der", &attributes);
        let signature = openssl(
            self.dir.path(),
            &["dgst", "-sha256", "-sign", "key.pem", "attributes.der"],
        );
        let signature = smime::signing::detached_signature(
            &digest,
            at,
            &signature,
            &parse(certificate),
            &[parse(ca)],
        )
        .unwrap();
        let headers = format!(
            "From: <{alias}>\r\nReply-To: <{alias}>\r\nTo: <{TRADE_MAILBOX}>\r\nSubject: Anfrage\r\n"
        );
        smime::signing::multipart_signed(headers.as_bytes(), entity, &signature, "signed-7f3a9c")
    }
}

async fn request_certificate(
    portal: &Portal,
    token: Option<&str>,
    form: &str,
    csr: &str,
) -> common::Answer {
    let mut request =
        Request::post("/api/answers/certificate").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    let body = serde_json::json!({ "form": form, "csr": csr }).to_string();
    send(&portal.app, request.body(Body::from(body)).unwrap()).await
}

async fn upload(
    portal: &Portal,
    token: &str,
    alias: Option<&str>,
    entity: &[u8],
) -> common::Answer {
    let der = common::encrypted_to(
        &portal.demo.folder.join("certificates/lra-gewerbeamt.pem"),
        entity,
    );
    let mut request = Request::post(format!("/api/submissions/{TRADE}"))
        .header("content-type", "application/pkcs7-mime")
        .header(TOKEN_HEADER, token);
    if let Some(alias) = alias {
        request = request.header(CONVERSATION_HEADER, alias);
    }
    send(&portal.app, request.body(Body::from(der)).unwrap()).await
}

/// Lets the worker hand the queue over; the mail the authority's mailbox got last.
async fn delivered(portal: &Portal, smtp: &SmtpServer) -> Received {
    let before = to(&smtp.received(), TRADE_MAILBOX).len();
    portal.worker.work(now()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mails = to(&smtp.received(), TRADE_MAILBOX);
        if mails.len() > before {
            return mails[before].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing delivered to {TRADE_MAILBOX}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header<'a>(mail: &'a str, name: &str) -> Vec<&'a str> {
    let head = mail.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .filter_map(|line| line.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

#[tokio::test]
async fn a_conversation_opens_with_a_message_from_its_alias_signed_by_the_citizen() {
    let smtp = SmtpServer::start();
    let portal = answers_portal(&smtp).await;
    let form = get(&portal.app, &format!("/api/forms/{TRADE}"))
        .await
        .json();
    assert_eq!(form["answers"], true, "a verifying form offers answers");

    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let citizen = Citizen::new();
    let answer = request_certificate(&portal, Some(&token), TRADE, &citizen.csr()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    let issued = answer.json();
    let alias = issued["alias"].as_str().unwrap().to_owned();
    let (local, domain) = alias.split_once('@').unwrap();
    assert_eq!(domain, ANSWER_DOMAIN);
    assert!(local.starts_with("antwort-") && local.len() == "antwort-".len() + 26);

    let entity = citizen.signed_entity(&issued);
    let accepted = upload(&portal, &token, Some(&alias), &entity).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{:?}",
        accepted.json()
    );
    let mail = delivered(&portal, &smtp).await;
    let text = String::from_utf8_lossy(&mail.data).into_owned();

    // The outer mail: from the alias, answered to the alias; the citizen's address
    // appears nowhere in clear.
    assert_eq!(header(&text, "From"), [format!("Postsiegel <{alias}>")]);
    assert_eq!(header(&text, "Reply-To"), [format!("<{alias}>")]);
    assert!(!text.contains(CITIZEN), "the citizen's address in clear");
    assert!(
        header(&text, "Message-ID")[0].ends_with(&format!("@{ANSWER_DOMAIN}>")),
        "{:?}",
        header(&text, "Message-ID")
    );
    // DKIM with d= the answer domain: DMARC aligns with the From.
    assert!(common::dkim_verifies(
        &mail.data,
        &format!("antwort._domainkey.{ANSWER_DOMAIN}"),
        &keys().dkim_public_der()
    ));
    let dkim = header(&text, "DKIM-Signature").concat();
    assert!(dkim.contains(&format!("d={ANSWER_DOMAIN};")), "{dkim}");

    // The authority decrypts it, and the citizen's signature inside verifies with the
    // answers CA as the only trust anchor, for the address the outer From names.
    let inner = decrypt_as_authority(&portal, &citizen, &mail.data);
    assert_eq!(inner, entity);
    citizen.write("inner.eml", &inner);
    openssl(
        citizen.dir.path(),
        &[
            "cms",
            "-verify",
            "-in",
            "inner.eml",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
            "-signer",
            "signer.pem",
            "-out",
            "content.txt",
        ],
    );
    let signer_addresses = String::from_utf8(openssl(
        citizen.dir.path(),
        &[
            "x509",
            "-in",
            "signer.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    ))
    .unwrap();
    assert!(
        signer_addresses.contains(&format!("email:{alias}")),
        "{signer_addresses}"
    );
    assert!(!signer_addresses.contains(CITIZEN));
    split_signed(&citizen, &inner);
    gpgsm_verifies(&citizen);
    nss_verifies(&citizen);

    // The same conversation cannot be opened twice.
    let again = upload(&portal, &token, Some(&alias), &entity).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["code"], "conversation_unknown");
}

/// What the authority's mail program sees after decrypting: `openssl cms -decrypt`
/// with the demo mailbox key.
fn decrypt_as_authority(portal: &Portal, citizen: &Citizen, mail: &[u8]) -> Vec<u8> {
    citizen.write("mail.eml", mail);
    let key = portal.demo.mailbox_key();
    openssl(
        citizen.dir.path(),
        &[
            "cms",
            "-decrypt",
            "-in",
            "mail.eml",
            "-inkey",
            &key.to_string_lossy(),
        ],
    )
}

/// The delivered multipart/signed split as a mail program does: the signed content
/// (`content.eml`, exactly the bytes between the boundaries) and the detached signature
/// (`signature.der`), for the command-line gpgsm and cmsutil.
fn split_signed(citizen: &Citizen, inner: &[u8]) {
    let text = String::from_utf8(inner.to_vec()).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a multipart/signed boundary");
    let delimiter = format!("\n--{boundary}");
    let mut parts = text.split(&delimiter).skip(1);
    let content = parts.next().unwrap();
    let content = content
        .strip_prefix("\r\n")
        .or(content.strip_prefix('\n'))
        .unwrap();
    let content = content.strip_suffix('\r').unwrap_or(content);
    let signature = base64_body(parts.next().unwrap());
    citizen.write("content.eml", content.as_bytes());
    citizen.write("signature.der", &signature);
}

/// The base64 body of a MIME part (its headers, a blank line, the lines), decoded.
fn base64_body(part: &str) -> Vec<u8> {
    let part = part.replace("\r\n", "\n");
    let text: String = part
        .split_once("\n\n")
        .unwrap()
        .1
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).unwrap()
}

/// gpgsm (KMail's) verifies the signature with the answers CA as its trusted root.
fn gpgsm_verifies(citizen: &Citizen) {
    let home = citizen.path("gnupg");
    let gpgsm = gpgsm_home(&home, &citizen.path("ca.pem"));
    let (ok, text) = attempt(&mut gpgsm(&[
        "--verify",
        &citizen.path("signature.der").to_string_lossy(),
        &citizen.path("content.eml").to_string_lossy(),
    ]));
    gpgsm_done(&home);
    assert!(ok && text.contains("Good signature"), "gpgsm: {text}");
}

/// What gpgsm with dirmngr (as KMail runs it) says of the citizen's signature once
/// dirmngr holds the portal's current CRL (loaded from the file, as the CRL's URL on the
/// example domain is not reachable here), in a home of its own named `name`.
async fn gpgsm_with_crl(portal: &Portal, citizen: &Citizen, name: &str) -> (bool, String) {
    let crl = citizen.write(
        &format!("{name}.crl"),
        &get(&portal.app, "/answers/ca.crl").await.body,
    );
    let home = citizen.path(name);
    // Only the loaded CRL: dirmngr must not try the network for it.
    let gpgsm = gpgsm_home_with(&home, &citizen.path("ca.pem"), &[]);
    std::fs::write(home.join("dirmngr.conf"), "disable-http\ndisable-ldap\n").unwrap();
    let dirmngr = |args: &[&str]| {
        let mut command = Command::new(args[0]);
        command.env("GNUPGHOME", &home).args(&args[1..]);
        let (ok, text) = attempt(&mut command);
        assert!(ok, "{args:?}: {text}");
    };
    let ca = citizen.path("ca.pem").to_string_lossy().into_owned();
    dirmngr(&["gpgconf", "--launch", "dirmngr"]);
    // dirmngr checks the CRL's signature with the CA's certificate, which it must know.
    dirmngr(&["dirmngr-client", "--pem", "--cache-cert", &ca]);
    dirmngr(&["dirmngr-client", "--load-crl", &crl.to_string_lossy()]);
    let verified = attempt(&mut gpgsm(&[
        "--verify",
        &citizen.path("signature.der").to_string_lossy(),
        &citizen.path("content.eml").to_string_lossy(),
    ]));
    gpgsm_done(&home);
    verified
}

/// A fresh NSS database in `dir`, as a mail program's profile holds one.
fn nss_db(dir: &Path) -> String {
    std::fs::create_dir(dir).unwrap();
    let db = format!("sql:{}", dir.display());
    testkit::run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    db
}

/// Adds the certificate `file` to `db` with `trust` (`",C,"`: trusted to identify e-mail
/// users, as Thunderbird's tick in the import dialog sets it).
fn nss_add(db: &str, nickname: &str, trust: &str, file: &Path) {
    testkit::run(
        Command::new("certutil")
            .args(["-A", "-d", db, "-n", nickname, "-t", trust, "-i"])
            .arg(file),
    );
}

/// A gpgsm home in `dir` that trusts the CA certificate `ca` as a root, as Kleopatra
/// does once the authority certified it; the function makes gpgsm commands for it.
fn gpgsm_home(dir: &Path, ca: &Path) -> impl Fn(&[&str]) -> Command + use<> {
    gpgsm_home_with(dir, ca, &["--disable-dirmngr"])
}

/// A gpgsm home as [`gpgsm_home`], each command with `options` too.
fn gpgsm_home_with(dir: &Path, ca: &Path, options: &[&str]) -> impl Fn(&[&str]) -> Command + use<> {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let home = dir.to_owned();
    let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
    let gpgsm = move |args: &[&str]| {
        let mut command = Command::new("gpgsm");
        command
            .env("GNUPGHOME", &home)
            .arg("--batch")
            .args(&options)
            .args(args);
        command
    };
    testkit::run(&mut gpgsm(&["--import", &ca.to_string_lossy()]));
    let fingerprint = String::from_utf8(testkit::run(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(ca),
    ))
    .unwrap();
    let fingerprint = fingerprint.trim().split_once('=').unwrap().1.to_owned();
    std::fs::write(
        dir.join("trustlist.txt"),
        format!("{fingerprint} S relax\n"),
    )
    .unwrap();
    gpgsm
}

/// Stops the gpg-agent a gpgsm home started.
fn gpgsm_done(dir: &Path) {
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", dir)
        .args(["--kill", "all"])
        .status();
}

/// NSS (Thunderbird's) verifies the signature once the answers CA is trusted for e-mail,
/// and not before.
fn nss_verifies(citizen: &Citizen) {
    let untrusting = nss_db(&citizen.path("nss-untrusting"));
    let trusting = nss_db(&citizen.path("nss"));
    nss_add(&trusting, "answers-ca", ",C,", &citizen.path("ca.pem"));
    let signature = citizen.path("signature.der").to_string_lossy().into_owned();
    let content = citizen.path("content.eml").to_string_lossy().into_owned();
    let out = citizen.path("nss-out").to_string_lossy().into_owned();
    let decode = |db: &str| {
        attempt(Command::new("cmsutil").args([
            "-D", "-v", "-d", db, "-i", &signature, "-c", &content, "-o", &out,
        ]))
    };
    let (ok, text) = decode(&trusting);
    assert!(ok, "cmsutil with the answers CA trusted: {text}");
    let (ok, text) = decode(&untrusting);
    assert!(
        !ok && text.contains("SigningCertNotTrusted"),
        "cmsutil without it: {text}"
    );
}

#[tokio::test]
async fn certificates_only_for_verified_addresses_and_keys_that_sign_their_request() {
    let smtp = SmtpServer::start();
    let portal = answers_portal(&smtp).await;
    let citizen = Citizen::new();

    let unverified = request_certificate(&portal, None, TRADE, &citizen.csr()).await;
    assert_eq!(unverified.status, StatusCode::FORBIDDEN);
    assert_eq!(unverified.json()["code"], "not_verified");
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    // A token is bound to its form.
    let other_form = request_certificate(&portal, Some(&token), "vg-talheim", &citizen.csr()).await;
    assert_eq!(
        other_form.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        other_form.json()
    );

    // The subject changed after signing: the signature no longer covers the request.
    let pem = citizen.csr();
    let (label, mut der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    let at = der.windows(7).position(|w| w == b"ignored").unwrap();
    der[at] = b'I';
    let tampered = der::pem::encode_string(label, der::pem::LineEnding::LF, &der).unwrap();
    let refused = request_certificate(&portal, Some(&token), TRADE, &tampered).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["code"], "csr_invalid");
    assert_eq!(refused.json()["field"], "csr");

    let small = tempfile::tempdir().unwrap();
    openssl(
        small.path(),
        &[
            "req", "-new", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=x", "-keyout", "k.pem",
            "-out", "r.pem",
        ],
    );
    let small_csr = std::fs::read_to_string(small.path().join("r.pem")).unwrap();
    let refused = request_certificate(&portal, Some(&token), TRADE, &small_csr).await;
    assert_eq!(refused.json()["code"], "csr_key_unsuitable");

    // An upload naming an alias that was never issued, or issued to another token,
    // queues nothing.
    let issued = request_certificate(&portal, Some(&token), TRADE, &citizen.csr())
        .await
        .json();
    let alias = issued["alias"].as_str().unwrap();
    let unknown = upload(
        &portal,
        &token,
        Some(&format!(
            "antwort-aaaaaaaaaaaaaaaaaaaaaaaaaa@{ANSWER_DOMAIN}"
        )),
        b"x",
    )
    .await;
    assert_eq!(unknown.json()["code"], "conversation_unknown");
    let other = common::verify_by_mail(&portal, &smtp, TRADE, "erika@example.org").await;
    let foreign = upload(&portal, &other, Some(alias), b"x").await;
    assert_eq!(foreign.json()["code"], "conversation_unknown");
    assert_eq!(queued(&portal).await, 0);
}

/// How many messages wait in the queue.
async fn queued(portal: &Portal) -> u64 {
    portal.store.queued_bytes().await.unwrap()
}

#[tokio::test]
async fn forms_without_verification_offer_no_answers() {
    let smtp = SmtpServer::start();
    let unverified = answers_portal_with(
        |directory| {
            for authority in &mut directory.authorities {
                authority.policy.verify_email = false;
            }
        },
        common::plain_smtp(smtp.port()),
    )
    .await;
    let form = get(&unverified.app, &format!("/api/forms/{TRADE}"))
        .await
        .json();
    assert_eq!(form["answers"], false);
    let refused = request_certificate(&unverified, Some("x.y"), TRADE, &Citizen::new().csr()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.json()["code"], "answers_not_offered");
    // And a portal without answers says so on the form.
    let one_way = common::portal(|_| {}, None).await;
    let form = get(&one_way.app, &format!("/api/forms/{TRADE}"))
        .await
        .json();
    assert_eq!(form["answers"], false);
    assert_eq!(
        get(&one_way.app, "/answers/ca.pem").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_crl_lists_replaced_and_unused_certificates() {
    let smtp = SmtpServer::start();
    let portal = answers_portal(&smtp).await;
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let citizen = Citizen::new();
    let first = request_certificate(&portal, Some(&token), TRADE, &citizen.csr())
        .await
        .json();
    let second = request_certificate(&portal, Some(&token), TRADE, &citizen.csr())
        .await
        .json();
    assert_ne!(first["alias"], second["alias"]);
    // The first was replaced: it can no longer open the conversation.
    let replaced = upload(&portal, &token, first["alias"].as_str(), b"x").await;
    assert_eq!(replaced.json()["code"], "conversation_unknown");
    // Nobody will be told anything about it: the citizen's address goes from it at the
    // next sweep, the pending one keeps it.
    portal.worker.purge(now()).await.unwrap();
    let address_of = async |alias: &serde_json::Value| {
        let alias = alias.as_str().unwrap();
        portal
            .store
            .conversation(alias)
            .await
            .unwrap()
            .unwrap()
            .citizen_address
    };
    assert_eq!(address_of(&first["alias"]).await, "");
    assert_eq!(address_of(&second["alias"]).await, CITIZEN);

    let info = get(&portal.app, "/api/answers").await.json();
    let crl_url = info["crl_url"].as_str().unwrap();
    assert_eq!(crl_url, format!("{}/answers/ca.crl", common::PUBLIC_URL));
    let crl = get(&portal.app, "/answers/ca.crl").await;
    assert_eq!(crl.status, StatusCode::OK);
    assert_eq!(crl.headers["content-type"], "application/pkix-crl");
    citizen.write(
        "first.pem",
        first["certificate"].as_str().unwrap().as_bytes(),
    );
    citizen.write(
        "second.pem",
        second["certificate"].as_str().unwrap().as_bytes(),
    );
    let check = async |leaf: &str| crl_check(&portal, &citizen, leaf).await;
    let (ok, text) = check("first.pem").await;
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = check("second.pem").await;
    assert!(ok, "{text}");
    // The certificate names where the CRL is.
    let points = String::from_utf8(openssl(
        citizen.dir.path(),
        &[
            "x509",
            "-in",
            "second.pem",
            "-noout",
            "-ext",
            "crlDistributionPoints",
        ],
    ))
    .unwrap();
    assert!(points.contains(&format!("URI:{crl_url}")), "{points}");
}

/// `openssl verify -crl_check` of `leaf` (a file of the citizen's) against the portal's
/// answers CA and its current CRL, both as the portal serves them.
async fn crl_check(portal: &Portal, citizen: &Citizen, leaf: &str) -> (bool, String) {
    citizen.write("crl.der", &get(&portal.app, "/answers/ca.crl").await.body);
    citizen.write("ca.pem", &get(&portal.app, "/answers/ca.pem").await.body);
    let (ok, text) = attempt(
        Command::new("openssl")
            .current_dir(citizen.dir.path())
            .args([
                "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout",
            ]),
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    openssl(
        citizen.dir.path(),
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    attempt(
        Command::new("openssl")
            .current_dir(citizen.dir.path())
            .args([
                "verify",
                "-crl_check",
                "-CRLfile",
                "crl.pem",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "smimesign",
                leaf,
            ]),
    )
}

/// The CA made here by the portal itself, on first start (its key too).
#[test]
fn the_answers_ca_certifies_its_own_domain_only() {
    let dir = tempfile::tempdir().unwrap();
    let files = CaFiles {
        certificate: dir.path().join("answers/ca.pem"),
        key: dir.path().join("answers/ca.key.pem"),
    };
    let crl_url = "https://kontakt.example.de/answers/ca.crl";
    let ca = AnswersCa::load_or_create(&files, ANSWER_DOMAIN, crl_url, now()).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&files.key).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the CA key is the server's alone");
    let text = String::from_utf8(openssl(
        dir.path(),
        &[
            "x509",
            "-in",
            "answers/ca.pem",
            "-noout",
            "-text",
            "-fingerprint",
            "-sha256",
        ],
    ))
    .unwrap();
    // Non-critical: gpgsm refuses a chain with a critical nameConstraints.
    assert!(text.contains("X509v3 Name Constraints: \n"), "{text}");
    assert!(text.contains(&format!("email:{ANSWER_DOMAIN}")), "{text}");
    assert!(
        text.contains(&format!("sha256 Fingerprint={}", ca.fingerprint())),
        "{text}"
    );

    // Loaded again: the same CA; for another domain: refused.
    let again = AnswersCa::load_or_create(&files, ANSWER_DOMAIN, crl_url, now()).unwrap();
    assert_eq!(again.fingerprint(), ca.fingerprint());
    let moved = AnswersCa::load_or_create(&files, "other.example", crl_url, now());
    assert!(moved.is_err_and(|e| e.to_string().contains("new answer domain needs a new CA")));

    // A certificate it signs for the answer domain passes; for another domain (a CA key
    // misused, or a bug) OpenSSL and NSS refuse it.
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let spki = postsiegel_server::pkix::rsa_spki(&rsa::RsaPublicKey::from(&key)).unwrap();
    for (file, address, serial) in [
        ("good.pem", format!("antwort-x@{ANSWER_DOMAIN}"), 1u8),
        ("sub.pem", format!("x@sub.{ANSWER_DOMAIN}"), 2),
        ("bad.pem", "someone@evil.example".to_owned(), 3),
    ] {
        let leaf = ca
            .issue(&LeafRequest {
                public_key: &spki,
                address: &address,
                serial: &[0x40, serial],
                not_before: now() - 60,
                not_after: now() + 86_400,
            })
            .unwrap();
        let pem = der::EncodePem::to_pem(&leaf, der::pem::LineEnding::LF).unwrap();
        std::fs::write(dir.path().join(file), pem).unwrap();
    }
    let verify = |leaf: &str| {
        attempt(Command::new("openssl").current_dir(dir.path()).args([
            "verify",
            "-CAfile",
            "answers/ca.pem",
            "-purpose",
            "smimeencrypt",
            leaf,
        ]))
    };
    let (ok, text) = verify("good.pem");
    assert!(ok, "{text}");
    for refused in ["sub.pem", "bad.pem"] {
        let (ok, text) = verify(refused);
        assert!(
            !ok && text.contains("permitted subtree violation"),
            "{refused}: {text}"
        );
    }
    let db = nss_db(&dir.path().join("nss"));
    nss_add(&db, "answers-ca", ",C,", &dir.path().join("answers/ca.pem"));
    for (file, nickname) in [("good.pem", "good"), ("bad.pem", "bad")] {
        nss_add(&db, nickname, ",,", &dir.path().join(file));
    }
    let nss = |nickname: &str| {
        attempt(Command::new("certutil").args(["-V", "-d", &db, "-n", nickname, "-u", "R"]))
    };
    let (ok, text) = nss("good");
    assert!(ok && text.contains("certificate is valid"), "{text}");
    let (ok, text) = nss("bad");
    assert!(
        !ok && text.contains("not permitted to issue a certificate with this name"),
        "{text}"
    );

    // Exactly signing and key transport, for e-mail.
    let leaf = String::from_utf8(openssl(
        dir.path(),
        &["x509", "-in", "good.pem", "-noout", "-text"],
    ))
    .unwrap();
    assert!(
        leaf.contains("Digital Signature, Key Encipherment\n"),
        "{leaf}"
    );
    assert!(leaf.contains("E-mail Protection"), "{leaf}");
    assert!(leaf.contains(&format!("URI:{crl_url}")), "{leaf}");
}

/// `postsiegel answers-ca` prints the fingerprint to publish, the same that openssl
/// computes from the certificate file it names; without `[answers]` it says answers are
/// off.
#[test]
fn the_command_prints_the_fingerprint_to_publish() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postsiegel.toml");
    let data = dir.path().join("data");
    let ca_key = keys().ca_key();
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\npublic_url = \"https://kontakt.example.de\"\n\
             [inbound]\nbind = \"127.0.0.1:0\"\nreturn_domain = \"return.kontakt.example.de\"\n\
             hostname = \"mx.kontakt.example.de\"\n\
             [answers]\ndomain = \"{ANSWER_DOMAIN}\"\nca_key = {ca_key:?}\n"
        ),
    )
    .unwrap();
    let postsiegel = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_postsiegel"));
        command.env_remove("POSTSIEGEL_CONFIG");
        command
    };
    let output = testkit::run(postsiegel().arg("--config").arg(&config).arg("answers-ca"));
    let printed = String::from_utf8(output).unwrap();
    let certificate = data.join("answers/ca.pem");
    assert!(
        printed.contains(&format!("certificate:   {}", certificate.display())),
        "{printed}"
    );
    let fingerprint = String::from_utf8(openssl(
        dir.path(),
        &[
            "x509",
            "-in",
            &certificate.to_string_lossy(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    ))
    .unwrap();
    let fingerprint = fingerprint.trim().split_once('=').unwrap().1;
    assert!(
        printed.contains(&format!("SHA-256:       {fingerprint}\n")),
        "{printed}"
    );
    assert!(printed.contains("-----BEGIN CERTIFICATE-----"));

    std::fs::write(&config, format!("data_dir = {data:?}\n")).unwrap();
    let (ok, text) = attempt(postsiegel().arg("--config").arg(&config).arg("answers-ca"));
    assert!(!ok && text.contains("answers are off"), "{text}");
}

/// A conversation opened by a delivered message, and the listener taking mail.
struct Opened {
    portal: Portal,
    smtp: SmtpServer,
    /// The upload's answer: receipt and status token.
    accepted: serde_json::Value,
    citizen: Citizen,
    alias: String,
    listener_port: u16,
}

async fn opened_conversation() -> Opened {
    let smtp = SmtpServer::start();
    let mut portal = answers_portal(&smtp).await;
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let citizen = Citizen::new();
    let issued = request_certificate(&portal, Some(&token), TRADE, &citizen.csr())
        .await
        .json();
    let alias = issued["alias"].as_str().unwrap().to_owned();
    let entity = citizen.signed_entity(&issued);
    let accepted = upload(&portal, &token, Some(&alias), &entity).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    // The authority decrypts the message; its signature carries the citizen's certificate.
    let mail = delivered(&portal, &smtp).await;
    let inner = decrypt_as_authority(&portal, &citizen, &mail.data);
    split_signed(&citizen, &inner);
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_port = socket.local_addr().unwrap().port();
    let inbound = portal.inbound.take().expect("configured");
    tokio::spawn(inbound.listener.run(socket));
    Opened {
        portal,
        smtp,
        accepted: accepted.json(),
        citizen,
        alias,
        listener_port,
    }
}

/// The authority's answer as a mail program writes it: text and an attachment with an
/// umlaut in its name, as one MIME entity (what gets encrypted).
const ANSWER_ENTITY: &str = "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Sehr geehrter Herr M\u{fc}ller, anbei der Bescheid.\r\n--b\r\n\
Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename*=utf-8''Bescheid_M%C3%BCller.pdf\r\n\r\n\
JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCiUlRU9GCg==\r\n--b--\r\n";

/// A mail to `alias` whose body is `der` (a CMS message) as application/pkcs7-mime.
fn smime_mail(alias: &str, der: &[u8], message_id: &str) -> Vec<u8> {
    let mut mail = format!(
        "From: <{TRADE_MAILBOX}>\r\nTo: <{alias}>\r\nSubject: Re: Anfrage\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    smime::mime::base64_lines(&mut mail, der);
    mail
}

/// Hands `data` to the listener for `recipient`; the RCPT reply and the DATA reply.
async fn hand_over(port: u16, recipient: &str, data: &[u8]) -> (String, String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut reply = async |command: &[u8]| -> String {
        if !command.is_empty() {
            write.write_all(command).await.unwrap();
        }
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    };
    reply(b"").await;
    reply(b"EHLO mail.lra-musterhausen.example\r\n").await;
    reply(format!("MAIL FROM:<{TRADE_MAILBOX}>\r\n").as_bytes()).await;
    let rcpt = reply(format!("RCPT TO:<{recipient}>\r\n").as_bytes()).await;
    if !rcpt.starts_with("250") {
        return (rcpt, String::new());
    }
    reply(b"DATA\r\n").await;
    let mut stuffed = Vec::new();
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    stuffed.extend_from_slice(b".\r\n");
    let done = reply(&stuffed).await;
    reply(b"QUIT\r\n").await;
    (rcpt, done)
}

/// The answers the portal keeps on disk.
fn kept(opened: &Opened) -> Vec<PathBuf> {
    let folder = opened.portal.data.path().join("answers/received");
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

impl Opened {
    /// Sends `der` as an answer; the DATA reply, and what the citizen decrypts from the
    /// file the portal kept (none if nothing new was kept).
    async fn answer(&self, der: &[u8], message_id: &str) -> (String, Option<Vec<u8>>) {
        let before = kept(self);
        let mail = smime_mail(&self.alias, der, message_id);
        let (rcpt, done) = hand_over(self.listener_port, &self.alias, &mail).await;
        assert!(rcpt.starts_with("250"), "{rcpt}");
        let new: Vec<PathBuf> = kept(self)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        let decrypted = new.first().map(|file| {
            assert_eq!(std::fs::read(file).unwrap(), mail, "kept as received");
            // The answer page's decryption (smime::open) reads it as openssl does.
            let by_app = self.citizen.open(&mail);
            let by_openssl = openssl(
                self.citizen.dir.path(),
                &[
                    "cms",
                    "-decrypt",
                    "-in",
                    &file.to_string_lossy(),
                    "-inkey",
                    "key.pem",
                ],
            );
            assert_eq!(
                by_app,
                Ok(by_openssl.clone()),
                "smime::open and openssl differ"
            );
            by_openssl
        });
        (done, decrypted)
    }

    fn path(&self, name: &str) -> String {
        self.citizen.path(name).to_string_lossy().into_owned()
    }

    /// `answer.txt` as `openssl cms -encrypt -aes256` encrypts it to `certificate`
    /// (AES-256-CBC, RSA PKCS#1 v1.5), DER.
    fn encrypted_answer(&self, certificate: &str) -> Vec<u8> {
        openssl(
            self.citizen.dir.path(),
            &[
                "cms",
                "-encrypt",
                "-aes256",
                "-binary",
                "-in",
                "answer.txt",
                "-outform",
                "DER",
                certificate,
            ],
        )
    }
}

#[tokio::test]
async fn answers_encrypted_by_openssl_gpgsm_and_nss_are_kept_for_the_citizen() {
    let opened = opened_conversation().await;
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    // The certificate as the authority's mail program takes it from the signature.
    let dir = opened.citizen.dir.path();
    // The signer's certificate only (the signature also carries the CA's).
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-in",
            "signature.der",
            "-inform",
            "DER",
            "-content",
            "content.eml",
            "-binary",
            "-CAfile",
            "ca.pem",
            "-signer",
            "from-signature.pem",
            "-out",
            "/dev/null",
        ],
    );
    // Options before the recipient, and the recipient's key options after it.
    for (name, before, after) in [
        ("openssl", vec!["-aes256"], vec![]),
        (
            "openssl-oaep",
            vec!["-aes256"],
            vec![
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ],
        ),
        ("openssl-gcm", vec!["-aes-256-gcm"], vec![]),
        ("openssl-ski", vec!["-aes128", "-keyid"], vec![]),
    ] {
        let mut args = vec![
            "cms",
            "-encrypt",
            "-binary",
            "-in",
            "answer.txt",
            "-outform",
            "DER",
        ];
        args.extend(before);
        args.extend(["-recip", "from-signature.pem"]);
        args.extend(after);
        let der = openssl(dir, &args);
        let (done, decrypted) = opened
            .answer(&der, &format!("{name}@lra-musterhausen.example"))
            .await;
        assert_eq!(done, "250 2.0.0 OK", "{name}");
        assert_eq!(
            decrypted.as_deref(),
            Some(ANSWER_ENTITY.as_bytes()),
            "{name}"
        );
    }
    let der = gpgsm_encrypt(&opened);
    let (done, decrypted) = opened.answer(&der, "gpgsm@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    assert_eq!(decrypted.as_deref(), Some(ANSWER_ENTITY.as_bytes()));
    let der = nss_encrypt(&opened);
    assert_eq!(der[1], 0x80, "NSS writes indefinite lengths (BER)");
    let (done, decrypted) = opened.answer(&der, "nss@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    assert_eq!(decrypted.as_deref(), Some(ANSWER_ENTITY.as_bytes()));
    let alias_answers = opened.portal.store.answers(&opened.alias).await.unwrap();
    assert_eq!(alias_answers.len(), 6);
    // The status page counts them, and the citizen is told of each, in words that say
    // nothing of the answer nor who wrote it.
    let status_token = opened.accepted["status_token"].as_str().unwrap();
    let status = get(&opened.portal.app, &format!("/api/status/{status_token}"))
        .await
        .json();
    assert_eq!(status["answers"].as_array().unwrap().len(), 6, "{status}");
    let notices = answer_notices(&opened).await;
    assert_eq!(notices.len(), 6);
    let receipt = opened.accepted["receipt"].as_str().unwrap();
    let notice = String::from_utf8_lossy(&notices[0].data).into_owned();
    assert!(
        notice.contains(&format!("Antwort auf Ihre Nachricht {receipt}")),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("/status/{status_token}")),
        "{notice}"
    );
    for secret in [
        "Bescheid",
        "M\u{fc}ller",
        "lra-musterhausen",
        "Landratsamt",
        "Gewerbeamt",
    ] {
        assert!(
            !notice.contains(secret),
            "the notice names {secret}: {notice}"
        );
    }

    // The same mail again (a replay) is dropped; the sender hears OK.
    let der = opened.encrypted_answer("from-signature.pem");
    let (done, decrypted) = opened
        .answer(&der, "openssl@lra-musterhausen.example")
        .await;
    assert!(done.starts_with("250"), "{done}");
    assert_eq!(decrypted, None);
    assert_eq!(
        opened
            .portal
            .store
            .answers(&opened.alias)
            .await
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        answer_notices(&opened).await.len(),
        6,
        "no notice for a replay"
    );
}

/// Lets the worker send what waits; the notices of answers the citizen got.
async fn answer_notices(opened: &Opened) -> Vec<Received> {
    opened.portal.worker.work(now()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    to(&opened.smtp.received(), CITIZEN)
        .into_iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: Antwort auf"))
        .collect()
}

/// gpgsm encrypts to the certificate it imported, as KMail does.
fn gpgsm_encrypt(opened: &Opened) -> Vec<u8> {
    let home = opened.citizen.path("gnupg-authority");
    let gpgsm = gpgsm_home(&home, &opened.citizen.path("ca.pem"));
    testkit::run(&mut gpgsm(&[
        "--import",
        &opened.path("from-signature.pem"),
    ]));
    let der = testkit::run(&mut gpgsm(&[
        "--encrypt",
        "--recipient",
        &opened.alias,
        "--output",
        "-",
        &opened.path("answer.txt"),
    ]));
    gpgsm_done(&home);
    der
}

/// NSS's cmsutil encrypts to the certificate from the signature, as Thunderbird does.
fn nss_encrypt(opened: &Opened) -> Vec<u8> {
    let db = nss_db(&opened.citizen.path("nss-authority"));
    nss_add(&db, "answers-ca", ",C,", &opened.citizen.path("ca.pem"));
    nss_add(
        &db,
        "citizen",
        ",,",
        &opened.citizen.path("from-signature.pem"),
    );
    let out = opened.path("nss.p7m");
    testkit::run(Command::new("cmsutil").args([
        "-E",
        "-d",
        &db,
        "-r",
        &opened.alias,
        "-i",
        &opened.path("answer.txt"),
        "-o",
        &out,
    ]));
    std::fs::read(out).unwrap()
}

#[tokio::test]
async fn what_is_not_an_answer_to_the_conversation_is_refused_and_nothing_kept() {
    let opened = opened_conversation().await;
    let help = format!("see {}/antworten", common::PUBLIC_URL);
    // Plaintext.
    let plain = format!(
        "From: <{TRADE_MAILBOX}>\r\nTo: <{}>\r\nSubject: Re: Anfrage\r\nMessage-ID: <p@x>\r\n\r\nHallo\r\n",
        opened.alias
    );
    let (_, done) = hand_over(opened.listener_port, &opened.alias, plain.as_bytes()).await;
    assert!(
        done.starts_with("550 5.7.1 Answers are taken only S/MIME encrypted"),
        "{done}"
    );
    assert!(
        done.contains("press Reply on the citizen's signed message") && done.contains(&help),
        "{done}"
    );
    assert!(done.is_ascii());
    // Encrypted, but to another certificate (the authority's own).
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    let other = opened
        .portal
        .demo
        .folder
        .join("certificates/lra-gewerbeamt.pem");
    let der = opened.encrypted_answer(&other.to_string_lossy());
    let (done, _) = opened.answer(&der, "other@x").await;
    assert!(
        done.starts_with("550 5.7.1 Not encrypted to this conversation's certificate"),
        "{done}"
    );
    // Signed only.
    let signed = openssl(
        opened.citizen.dir.path(),
        &[
            "cms",
            "-sign",
            "-in",
            "answer.txt",
            "-signer",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-nodetach",
            "-outform",
            "DER",
        ],
    );
    let (done, _) = opened.answer(&signed, "signed@x").await;
    assert!(
        done.starts_with("550 5.7.1 Answers are taken only"),
        "{done}"
    );
    assert!(kept(&opened).is_empty(), "nothing refused is kept");

    // Unknown aliases and aliases whose message never came are refused at RCPT.
    let (rcpt, _) = hand_over(
        opened.listener_port,
        &format!("antwort-aaaaaaaaaaaaaaaaaaaaaaaaaa@{ANSWER_DOMAIN}"),
        b"x\r\n",
    )
    .await;
    assert!(rcpt.starts_with("550 5.1.1"), "{rcpt}");
    let token =
        common::verify_by_mail(&opened.portal, &opened.smtp, TRADE, "erika@example.org").await;
    let pending = request_certificate(&opened.portal, Some(&token), TRADE, &Citizen::new().csr())
        .await
        .json();
    let (rcpt, _) = hand_over(
        opened.listener_port,
        pending["alias"].as_str().unwrap(),
        b"x\r\n",
    )
    .await;
    assert!(rcpt.starts_with("550 5.1.1"), "{rcpt}");
}

#[tokio::test]
async fn unread_answers_are_announced_a_week_before_the_end_and_go_with_the_conversation() {
    let opened = opened_conversation().await;
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    let der = opened.encrypted_answer("cert.pem");
    let (done, _) = opened.answer(&der, "late@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    let day = 86_400;
    let reminders = async |at: u64| {
        opened.portal.worker.purge(at).await.unwrap();
        opened.portal.worker.work(at).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        to(&opened.smtp.received(), CITIZEN)
            .into_iter()
            .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: Ungelesene Antwort"))
            .count()
    };
    // Ten days before the end: nothing yet; six days before: one reminder, once.
    assert_eq!(reminders(now() + 170 * day).await, 0);
    assert_eq!(reminders(now() + 174 * day).await, 1);
    assert_eq!(reminders(now() + 175 * day).await, 1);
    assert_eq!(kept(&opened).len(), 1);
    // Long past the relay's retention (30 days) the message's status page is still there,
    // as its conversation goes on; the reminder links it.
    let status_token = opened.accepted["status_token"].as_str().unwrap();
    let status = get(&opened.portal.app, &format!("/api/status/{status_token}")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json()["answers"].as_array().unwrap().len(), 1);

    // After the end: the answer, its file and the conversation are gone; the alias takes
    // no more mail; the message's status page goes with the usual retention.
    reminders(now() + 181 * day).await;
    assert!(kept(&opened).is_empty(), "{:?}", kept(&opened));
    assert!(
        opened
            .portal
            .store
            .answers(&opened.alias)
            .await
            .unwrap()
            .is_empty()
    );
    let (rcpt, _) = hand_over(opened.listener_port, &opened.alias, b"x\r\n").await;
    assert!(rcpt.starts_with("550 5.1.1"), "{rcpt}");
}

async fn post_signed(portal: &Portal, uri: &str, signature: &str) -> common::Answer {
    common::post_json(
        &portal.app,
        uri,
        serde_json::json!({ "signature": signature }),
    )
    .await
}

#[tokio::test]
async fn the_citizen_fetches_an_answer_and_it_goes_30_days_after_first_opened() {
    let opened = opened_conversation().await;
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    let der = opened.encrypted_answer("cert.pem");
    let (done, _) = opened.answer(&der, "read@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    let status_token = opened.accepted["status_token"].as_str().unwrap();
    let status_uri = format!("/api/status/{status_token}");
    let status = get(&opened.portal.app, &status_uri).await.json();
    let answer = &status["answers"][0];
    let id = answer["id"].as_str().unwrap();
    let conversation = &status["conversation"];
    assert_eq!(conversation["alias"], opened.alias.as_str());
    // The form, whose mailbox's certificate the browser checks an answer's signature with.
    assert_eq!(conversation["form"], TRADE);
    assert_eq!(conversation["closed_at"], serde_json::Value::Null);
    // Unopened, it is kept until the conversation ends.
    assert_eq!(answer["opened_at"], serde_json::Value::Null);
    assert_eq!(answer["kept_until"], conversation["ends_at"]);

    // With the status token: the mail as received, which the citizen's key decrypts.
    let fetched = get(&opened.portal.app, &format!("{status_uri}/answers/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.headers["content-type"], "message/rfc822");
    assert_eq!(fetched.headers["cache-control"], "no-store");
    assert_eq!(
        fetched.body,
        smime_mail(&opened.alias, &der, "read@lra-musterhausen.example")
    );
    opened.citizen.write("fetched.eml", &fetched.body);
    let decrypted = openssl(
        opened.citizen.dir.path(),
        &["cms", "-decrypt", "-in", "fetched.eml", "-inkey", "key.pem"],
    );
    assert_eq!(decrypted, ANSWER_ENTITY.as_bytes());
    // Another message's status token, or an id that is not this conversation's: nothing.
    for uri in [
        format!("/api/status/{}/answers/{id}", "A".repeat(43)),
        format!("{status_uri}/answers/nope"),
        format!("{status_uri}/answers/..%2F..%2Fsecret.key.pem"),
    ] {
        let refused = get(&opened.portal.app, &uri).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{uri}");
    }

    // "Opened" counts only with the conversation key's signature over its statement.
    let opened_uri = format!("/api/conversations/{}/answers/{id}/opened", opened.alias);
    let stranger = Citizen::new();
    for signature in [
        stranger.sign(&wire::opened_statement(&opened.alias, id)),
        opened.citizen.sign(&wire::close_statement(&opened.alias)),
        "bm90IGEgc2lnbmF0dXJl".to_owned(),
    ] {
        let refused = post_signed(&opened.portal, &opened_uri, &signature).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.json()["code"], "signature_invalid");
        assert_eq!(refused.json()["field"], "signature");
    }
    let unopened = get(&opened.portal.app, &status_uri).await.json();
    assert_eq!(unopened["answers"][0]["opened_at"], serde_json::Value::Null);
    let signature = opened
        .citizen
        .sign(&wire::opened_statement(&opened.alias, id));
    let done = post_signed(&opened.portal, &opened_uri, &signature).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    let first = get(&opened.portal.app, &status_uri).await.json()["answers"][0].clone();
    let opened_at = first["opened_at"].as_str().unwrap().to_owned();
    let stored = opened.portal.store.answers(&opened.alias).await.unwrap();
    let opened_secs = stored[0].opened_at.unwrap();
    assert_eq!(opened_at, smime::mime::rfc3339(opened_secs));
    let day = 86_400;
    assert_eq!(
        first["kept_until"],
        smime::mime::rfc3339(opened_secs + 30 * day)
    );
    // Opening it again later does not move the date.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    post_signed(&opened.portal, &opened_uri, &signature).await;
    let again = get(&opened.portal.app, &status_uri).await.json();
    assert_eq!(again["answers"][0]["opened_at"], opened_at.as_str());

    // 29 days on it is there; 31 days on, it is gone (row and file), the conversation not.
    opened
        .portal
        .worker
        .purge(opened_secs + 29 * day)
        .await
        .unwrap();
    assert_eq!(kept(&opened).len(), 1);
    opened
        .portal
        .worker
        .purge(opened_secs + 31 * day)
        .await
        .unwrap();
    assert!(kept(&opened).is_empty(), "{:?}", kept(&opened));
    let gone = get(&opened.portal.app, &format!("{status_uri}/answers/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["code"], "answer_not_found");
    let status = get(&opened.portal.app, &status_uri).await.json();
    assert!(status["answers"].as_array().unwrap().is_empty());
    let (done, kept_again) = opened.answer(&der, "later@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    assert_eq!(kept_again.unwrap(), ANSWER_ENTITY.as_bytes());
}

#[tokio::test]
async fn closing_a_conversation_needs_the_citizens_signature_and_revokes_its_certificate() {
    let opened = opened_conversation().await;
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    let der = opened.encrypted_answer("cert.pem");
    let (done, _) = opened.answer(&der, "close@lra-musterhausen.example").await;
    assert_eq!(done, "250 2.0.0 OK");
    assert_eq!(kept(&opened).len(), 1);
    let close_uri = format!("/api/conversations/{}/close", opened.alias);

    // A link is not enough, nor a signature by another key or over another statement.
    let stranger = Citizen::new();
    for signature in [
        String::new(),
        stranger.sign(&wire::close_statement(&opened.alias)),
        opened
            .citizen
            .sign(&wire::opened_statement(&opened.alias, "x")),
    ] {
        let refused = post_signed(&opened.portal, &close_uri, &signature).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.json()["code"], "signature_invalid");
    }
    assert_eq!(kept(&opened).len(), 1);
    let (ok, text) = crl_check(&opened.portal, &opened.citizen, "cert.pem").await;
    assert!(ok, "{text}");
    let (ok, text) = gpgsm_with_crl(&opened.portal, &opened.citizen, "gpgsm-before").await;
    assert!(ok && text.contains("Good signature"), "{text}");

    let signature = opened.citizen.sign(&wire::close_statement(&opened.alias));
    let closed = post_signed(&opened.portal, &close_uri, &signature).await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT);
    // Its answers are gone at once, its alias refuses mail, the CRL lists its certificate,
    // and the status page says it was closed.
    assert!(kept(&opened).is_empty(), "{:?}", kept(&opened));
    let (rcpt, _) = hand_over(opened.listener_port, &opened.alias, b"x\r\n").await;
    assert!(rcpt.starts_with("550 5.1.1"), "{rcpt}");
    let (ok, text) = crl_check(&opened.portal, &opened.citizen, "cert.pem").await;
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = gpgsm_with_crl(&opened.portal, &opened.citizen, "gpgsm-after").await;
    assert!(!ok && text.contains("revoked"), "{text}");
    let status_token = opened.accepted["status_token"].as_str().unwrap();
    let status = get(&opened.portal.app, &format!("/api/status/{status_token}"))
        .await
        .json();
    assert!(status["conversation"]["closed_at"].is_string(), "{status}");
    assert!(status["answers"].as_array().unwrap().is_empty());
    let again = post_signed(&opened.portal, &close_uri, &signature).await;
    assert_eq!(again.json()["code"], "conversation_unknown");
    // Nothing of the citizen stays with it, and the CRL still lists it a month on.
    let row = opened
        .portal
        .store
        .conversation(&opened.alias)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.citizen_address, "");
    opened
        .portal
        .worker
        .purge(now() + 31 * 86_400)
        .await
        .unwrap();
    assert!(
        opened
            .portal
            .store
            .conversation(&opened.alias)
            .await
            .unwrap()
            .is_some()
    );
}

/// Uploads `der` as a message written again in `alias`, signed with `signature`.
async fn follow_up(
    portal: &Portal,
    alias: &str,
    signature: Option<&str>,
    der: Vec<u8>,
) -> common::Answer {
    let mut request = Request::post(format!("/api/conversations/{alias}/messages"))
        .header("content-type", "application/pkcs7-mime");
    if let Some(signature) = signature {
        request = request.header(wire::SIGNATURE_HEADER, signature);
    }
    send(&portal.app, request.body(Body::from(der)).unwrap()).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_citizen_writes_again_signed_and_the_authoritys_mail_program_threads_it() {
    let opened = opened_conversation().await;
    let portal = &opened.portal;
    let opening = opened
        .smtp
        .received()
        .into_iter()
        .find(|m| m.rcpt_tos.iter().any(|r| r == TRADE_MAILBOX))
        .unwrap();
    let opening_text = String::from_utf8_lossy(&opening.data).into_owned();
    let opening_id = header(&opening_text, "Message-ID")[0]
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    opened.citizen.write("answer.txt", ANSWER_ENTITY.as_bytes());
    let der = opened.encrypted_answer("cert.pem");
    let (done, _) = opened
        .answer(&der, "bescheid-1@lra-musterhausen.example")
        .await;
    assert_eq!(done, "250 2.0.0 OK");

    // The status names what a message written now answers.
    let status_token = opened.accepted["status_token"].as_str().unwrap();
    let status = get(&portal.app, &format!("/api/status/{status_token}"))
        .await
        .json();
    let thread = &status["conversation"]["thread"];
    assert_eq!(thread["in_reply_to"], "bescheid-1@lra-musterhausen.example");
    assert_eq!(
        thread["references"],
        serde_json::json!([opening_id, "bescheid-1@lra-musterhausen.example"])
    );

    let entity =
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nDanke, anbei noch der Nachweis.\r\n";
    let der = common::encrypted_to(
        &portal.demo.folder.join("certificates/lra-gewerbeamt.pem"),
        entity,
    );
    let statement = wire::message_statement(&opened.alias, &sha256_hex(&der));
    let queued_before = queued(portal).await;

    // Without the conversation's key over exactly these bytes, nothing is taken.
    let stranger = Citizen::new();
    let other_bytes = wire::message_statement(&opened.alias, &sha256_hex(b"other"));
    for signature in [
        None,
        Some(stranger.sign(&statement)),
        Some(opened.citizen.sign(&other_bytes)),
        Some(opened.citizen.sign(&wire::close_statement(&opened.alias))),
    ] {
        let refused = follow_up(portal, &opened.alias, signature.as_deref(), der.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{:?}",
            refused.json()
        );
        assert_eq!(refused.json()["code"], "signature_invalid");
        assert_eq!(refused.json()["field"], "signature");
    }
    let unknown = follow_up(
        portal,
        &format!("antwort-{}@{ANSWER_DOMAIN}", "a".repeat(26)),
        Some(&opened.citizen.sign(&statement)),
        der.clone(),
    )
    .await;
    assert_eq!(unknown.json()["code"], "conversation_unknown");
    assert_eq!(
        queued(portal).await,
        queued_before,
        "nothing refused is queued"
    );

    let signature = opened.citizen.sign(&statement);
    let accepted = follow_up(portal, &opened.alias, Some(&signature), der.clone()).await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{:?}",
        accepted.json()
    );
    let accepted = accepted.json();
    let mail = delivered(portal, &opened.smtp).await;
    let text = String::from_utf8_lossy(&mail.data).into_owned();
    // From the alias, answered to the alias, threaded under the answer, DKIM for the
    // answer domain, and still no address of the citizen in clear.
    assert_eq!(
        header(&text, "From"),
        [format!("Postsiegel <{}>", opened.alias)]
    );
    assert_eq!(header(&text, "Reply-To"), [format!("<{}>", opened.alias)]);
    assert_eq!(
        header(&text, "In-Reply-To"),
        ["<bescheid-1@lra-musterhausen.example>"]
    );
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(
        head.contains(&format!(
            "References: <{opening_id}>\r\n <bescheid-1@lra-musterhausen.example>\r\n"
        )),
        "{head}"
    );
    assert!(!text.contains(CITIZEN), "the citizen's address in clear");
    assert!(common::dkim_verifies(
        &mail.data,
        &format!("antwort._domainkey.{ANSWER_DOMAIN}"),
        &keys().dkim_public_der()
    ));
    assert_eq!(
        decrypt_as_authority(portal, &opened.citizen, &mail.data),
        entity
    );

    // Its receipt goes to the address verified when the conversation opened, and its
    // status page shows the same conversation; the next message answers this one.
    let receipts = to(&opened.smtp.received(), CITIZEN);
    let receipt_number = accepted["receipt"].as_str().unwrap();
    assert!(
        receipts
            .iter()
            .any(|m| String::from_utf8_lossy(&m.data).contains(receipt_number)),
        "no receipt for the message written again"
    );
    let status = get(
        &portal.app,
        &format!("/api/status/{}", accepted["status_token"].as_str().unwrap()),
    )
    .await
    .json();
    assert_eq!(status["conversation"]["alias"], opened.alias.as_str());
    assert_eq!(status["answers"].as_array().unwrap().len(), 1);
    let own_id = header(&text, "Message-ID")[0]
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    assert_eq!(
        status["conversation"]["thread"]["in_reply_to"],
        own_id.as_str()
    );

    // Once closed, the conversation takes nothing more.
    let close_uri = format!("/api/conversations/{}/close", opened.alias);
    let close = opened.citizen.sign(&wire::close_statement(&opened.alias));
    assert_eq!(
        post_signed(portal, &close_uri, &close).await.status,
        StatusCode::NO_CONTENT
    );
    let after = follow_up(portal, &opened.alias, Some(&signature), der).await;
    assert_eq!(after.status, StatusCode::CONFLICT);
    assert_eq!(after.json()["code"], "conversation_unknown");
}
