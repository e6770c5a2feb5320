//! Delivery through a real SMTP server (aiosmtpd, started here): the authority's mailbox
//! gets a mail that OpenSSL decrypts and Python's `email` package reads back to exactly what
//! the citizen sent; temporary refusals are retried, permanent ones fail with the server's
//! answer; authentication and STARTTLS work.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use rand_core::OsRng;
use smime::envelope::{Algorithms, Recipient, encrypt};
use smime::mime::{Attachment, Message, compose};

use common::{Portal, get, now, portal, portal_signing, post_json, send, to};
use postsiegel_server::relay::transport::Transport;
use postsiegel_server::relay::transport::{SmtpConfig, SmtpSecurity};
use testkit::smtp::{Behaviour, Received, SmtpServer};
use wire::TOKEN_HEADER;

const TRADE: &str = "landratsamt-musterhausen/gewerbeamt";
const TRADE_MAILBOX: &str = "gewerbeamt@lra-musterhausen.example";
const CITIZEN: &str = "juergen@example.org";

fn smtp_config(server: &SmtpServer) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port(),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        extra_roots: None,
        timeout_seconds: 10,
    }
}

async fn smtp_portal(config: &SmtpConfig) -> Portal {
    portal(|_| {}, Some(Transport::smtp(config).unwrap())).await
}

fn trade_certificate(portal: &Portal) -> smime::Certificate {
    smime::certificate::parse_certificates(
        &std::fs::read(portal.demo.folder.join("certificates/lra-gewerbeamt.pem")).unwrap(),
    )
    .unwrap()
    .remove(0)
}

async fn submit(portal: &Portal, token: &str, entity: &[u8]) -> serde_json::Value {
    let recipient = Recipient::from_certificate(&trade_certificate(portal)).unwrap();
    let der = encrypt(&[recipient], Algorithms::default(), entity, &mut OsRng).unwrap();
    let answer = send(
        &portal.app,
        Request::post(format!("/api/submissions/{TRADE}"))
            .header("content-type", "application/pkcs7-mime")
            .header(TOKEN_HEADER, token)
            .body(Body::from(der))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    answer.json()
}

async fn status(portal: &Portal, accepted: &serde_json::Value) -> serde_json::Value {
    let token = accepted["status_token"].as_str().unwrap();
    get(&portal.app, &format!("/api/status/{token}"))
        .await
        .json()
}

fn decrypt(dir: &Path, mail: &[u8], key: &Path) -> Vec<u8> {
    let file = dir.join("received.eml");
    std::fs::write(&file, mail).unwrap();
    testkit::run(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(&file)
            .arg("-inkey")
            .arg(key),
    )
}

fn parse_with_python(dir: &Path, entity: &[u8]) -> serde_json::Value {
    let file = dir.join("entity.eml");
    std::fs::write(&file, entity).unwrap();
    let script = dir.join("parse_mime.py");
    std::fs::write(&script, include_str!("../../smime/tests/parse_mime.py")).unwrap();
    serde_json::from_slice(&testkit::run(
        Command::new("python3").arg(script).arg(&file),
    ))
    .unwrap()
}

#[tokio::test]
async fn the_mailbox_gets_a_mail_that_decrypts_to_exactly_what_was_sent() {
    let smtp = SmtpServer::start();
    let portal = smtp_portal(&smtp_config(&smtp)).await;
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let pdf = [
        &b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"[..],
        &[0xe2, 0xe3, 0xcf, 0xd3, 0x00, 0xff, 0x0d, 0x0a],
        b"trailer << /Root 1 0 R >>\n%%EOF\n",
    ]
    .concat();
    let png: Vec<u8> = [
        &b"\x89PNG\r\n\x1a\n"[..],
        &(0..4000u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<u8>>(),
    ]
    .concat();
    let attachments = [
        Attachment::new("Gewerbeanmeldung Müller.pdf", "application/pdf", &pdf),
        Attachment::new("Grundriss Büro – Erdgeschoss.png", "image/png", &png),
    ];
    let text =
        "Sehr geehrte Damen und Herren,\n\nanbei meine Unterlagen. Grüße aus Straßkirchen!\n";
    let entity = compose(&Message {
        form: TRADE,
        unit: Some("gewerbeamt"),
        recipient: "Landratsamt Musterhausen – Gewerbeamt",
        sender_name: "Jürgen Müller",
        sender_email: CITIZEN,
        email_verified: true,
        answer_address: None,
        thread: None,
        sender_phone: None,
        subject: "Gewerbeanmeldung",
        reference: Some("GA-2026/0815"),
        text,
        submitted_at: now(),
        attachments: &attachments,
    });
    let accepted = submit(&portal, &token, &entity).await;
    let receipt = accepted["receipt"].as_str().unwrap().to_owned();
    assert_eq!(status(&portal, &accepted).await["state"], "queued");
    portal.worker.work(now()).await.unwrap();

    let received = smtp.wait_for(3, Duration::from_secs(10));
    let delivered = to(&received, TRADE_MAILBOX);
    assert_eq!(delivered.len(), 1);
    let mail = &delivered[0];
    assert_eq!(mail.mail_from, "kontaktformular@portal.example");
    let header = String::from_utf8_lossy(&mail.data[..1000.min(mail.data.len())]).into_owned();
    assert!(header.contains("From: Postsiegel <kontaktformular@portal.example>\r\n"));
    assert!(header.contains(&format!("To: <{TRADE_MAILBOX}>\r\n")));
    assert!(header.contains(&format!("Reply-To: <{CITIZEN}>\r\n")));
    assert!(header.contains(&format!(
        "Subject: =?UTF-8?Q?Vertrauliche_Nachricht_=C3=BCber_das_Kontaktformular?= {receipt}\r\n"
    )));
    assert!(header.contains(&format!("Message-ID: <{receipt}.")));
    assert!(header.contains(
        "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
    ));
    // Nothing of the content in clear.
    assert!(!header.contains("Gewerbeanmeldung"));

    let dir = tempfile::tempdir().unwrap();
    let decrypted = decrypt(dir.path(), &mail.data, &portal.demo.mailbox_key());
    assert_eq!(decrypted, entity);
    let parsed = parse_with_python(dir.path(), &decrypted);
    assert_eq!(parsed["defects"], serde_json::json!([]));
    let parts = parsed["parts"].as_array().unwrap();
    let content = |i: usize| {
        base64::engine::general_purpose::STANDARD
            .decode(parts[i]["content"].as_str().unwrap())
            .unwrap()
    };
    let body = String::from_utf8(content(0)).unwrap().replace("\r\n", "\n");
    assert!(body.contains(text), "{body:?}");
    let files: Vec<(&str, Vec<u8>)> = (0..parts.len())
        .filter_map(|i| Some((parts[i]["filename"].as_str()?, content(i))))
        .collect();
    assert!(files.contains(&("Gewerbeanmeldung Müller.pdf", pdf.clone())));
    assert!(files.contains(&("Grundriss Büro – Erdgeschoss.png", png.clone())));

    // The citizen's receipt names the number and the status link, not the authority.
    // (Quoted-printable: soft line breaks removed before reading.)
    let receipts: Vec<String> = to(&received, CITIZEN)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.data).replace("=\r\n", ""))
        .filter(|t| t.contains(&receipt))
        .collect();
    assert_eq!(receipts.len(), 1);
    let status_token = accepted["status_token"].as_str().unwrap();
    assert!(receipts[0].contains(&format!("https://kontakt.example.de/status/{status_token}")));
    assert!(!receipts[0].contains("Landratsamt") && !receipts[0].contains("Gewerbeamt"));

    let state = status(&portal, &accepted).await;
    assert_eq!(state["state"], "delivered");
    assert!(state["finished_at"].as_str().is_some());
    // Delivered: the ciphertext is gone from the queue.
    assert!(
        !portal
            .data
            .path()
            .join(format!("queue/{receipt}.eml"))
            .exists()
    );
}

#[tokio::test]
async fn temporary_refusals_are_retried_and_permanent_ones_fail_with_the_answer() {
    let smtp = SmtpServer::start();
    let portal = smtp_portal(&smtp_config(&smtp)).await;
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let mailbox_count = || to(&smtp.received(), TRADE_MAILBOX).len();

    smtp.set(Behaviour::TempFailRcpt);
    let accepted = submit(&portal, &token, b"Content-Type: text/plain\r\n\r\neins\r\n").await;
    let start = now();
    portal.worker.work(start).await.unwrap();
    assert_eq!(status(&portal, &accepted).await["state"], "queued");
    assert_eq!(mailbox_count(), 0);
    // Not before the backoff has passed.
    smtp.set(Behaviour::Accept);
    portal.worker.work(start + 30).await.unwrap();
    assert_eq!(mailbox_count(), 0);
    portal.worker.work(start + 61).await.unwrap();
    assert_eq!(mailbox_count(), 1, "{}", status(&portal, &accepted).await);
    assert_eq!(status(&portal, &accepted).await["state"], "delivered");

    smtp.set(Behaviour::PermFailData);
    let refused = submit(&portal, &token, b"Content-Type: text/plain\r\n\r\nzwei\r\n").await;
    portal.worker.work(now()).await.unwrap();
    let state = status(&portal, &refused).await;
    assert_eq!(state["state"], "failed");
    assert_eq!(state["failure"]["code"], "delivery_refused");
    assert!(
        state["failure"]["detail"].as_str().unwrap().contains("554"),
        "{state}"
    );
    // The citizen is told (once the mail server takes mail again).
    smtp.set(Behaviour::Accept);
    portal.worker.work(now()).await.unwrap();
    let receipt = refused["receipt"].as_str().unwrap();
    let notices: Vec<Received> = to(&smtp.received(), CITIZEN)
        .into_iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("nicht zugestellt"))
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(String::from_utf8_lossy(&notices[0].data).contains(receipt));

    // Refused for two days running: failed, with the last answer.
    smtp.set(Behaviour::TempFailRcpt);
    let late = submit(&portal, &token, b"Content-Type: text/plain\r\n\r\ndrei\r\n").await;
    portal.worker.work(now() + 48 * 3600).await.unwrap();
    let state = status(&portal, &late).await;
    assert_eq!(state["state"], "failed");
    assert_eq!(state["failure"]["code"], "delivery_timed_out");
    assert!(state["failure"]["detail"].as_str().unwrap().contains("451"));
}

/// Verifies the citizen, submits one message and runs the worker; returns how many mails
/// the mailbox has now.
async fn deliver_one(portal: &Portal, smtp: &SmtpServer) -> usize {
    let token = common::verify_by_mail(portal, smtp, TRADE, CITIZEN).await;
    submit(portal, &token, b"Content-Type: text/plain\r\n\r\nHallo\r\n").await;
    portal.worker.work(now()).await.unwrap();
    to(&smtp.received(), TRADE_MAILBOX).len()
}

/// Talks TLS to `server` by the name its certificate carries, trusting that certificate
/// (from the returned file, which must live as long as the configuration is used).
fn tls_config(
    server: &SmtpServer,
    security: SmtpSecurity,
) -> (SmtpConfig, tempfile::NamedTempFile) {
    let roots = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(roots.path(), server.ca_pem()).unwrap();
    let mut config = smtp_config(server);
    config.host = "localhost".into();
    config.security = security;
    config.extra_roots = Some(roots.path().to_owned());
    (config, roots)
}

#[tokio::test]
async fn authentication_starttls_and_implicit_tls_are_used_when_configured() {
    let smtp = SmtpServer::with_auth("portal", "geheim");
    let mut config = smtp_config(&smtp);
    config.username = Some("portal".into());
    config.password = Some("geheim".into());
    let portal = smtp_portal(&config).await;
    assert_eq!(deliver_one(&portal, &smtp).await, 1);

    let smtp = SmtpServer::with_starttls();
    let (mut config, _roots) = tls_config(&smtp, SmtpSecurity::Starttls);
    let portal = smtp_portal(&config).await;
    assert_eq!(deliver_one(&portal, &smtp).await, 1);

    // Implicit TLS, as on port 465.
    let implicit = SmtpServer::with_implicit_tls();
    let (implicit_config, _implicit_roots) = tls_config(&implicit, SmtpSecurity::Tls);
    let portal = smtp_portal(&implicit_config).await;
    assert_eq!(deliver_one(&portal, &implicit).await, 1);

    // Without the authority's CA the TLS handshake fails: nothing is sent in clear instead.
    config.extra_roots = None;
    let untrusting = smtp_portal(&config).await;
    let sent = post_json(
        &untrusting.app,
        "/api/verification/code",
        serde_json::json!({ "form": TRADE, "address": "x@example.org" }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let before = smtp.received().len();
    untrusting.worker.work(now()).await.unwrap();
    assert_eq!(smtp.received().len(), before);
}

/// Where the portal's DKIM key is published.
const SELECTOR: &str = "postsiegel._domainkey.portal.example";

#[tokio::test]
async fn mails_are_dkim_signed_when_a_key_is_configured() {
    use rsa::pkcs8::EncodePublicKey;
    let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let public = rsa::RsaPublicKey::from(&key).to_public_key_der().unwrap();
    let smtp = SmtpServer::start();
    let dkim = postsiegel_server::dkim::Dkim::new("portal.example", "postsiegel", key);
    let portal = portal_signing(
        |_| {},
        Some(Transport::smtp(&smtp_config(&smtp)).unwrap()),
        Some(dkim),
        None,
    )
    .await;
    // The signature costs room: the form's budget is smaller by its longest length.
    let unsigned = common::portal(|_| {}, None).await;
    let budget = |portal: &Portal| {
        let portal = portal.app.clone();
        async move {
            get(&portal, &format!("/api/forms/{TRADE}")).await.json()["max_upload_bytes"]
                .as_u64()
                .unwrap()
        }
    };
    let (signed_budget, unsigned_budget) = (budget(&portal).await, budget(&unsigned).await);
    assert!(
        signed_budget < unsigned_budget - 400,
        "{signed_budget} vs {unsigned_budget}"
    );

    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    submit(
        &portal,
        &token,
        b"Content-Type: text/plain\r\n\r\nsigniert\r\n",
    )
    .await;
    portal.worker.work(now()).await.unwrap();
    let mail = to(&smtp.received(), TRADE_MAILBOX).remove(0);
    assert!(mail.data.starts_with(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=portal.example; s=postsiegel;"
    ));
    assert!(common::dkim_verifies(
        &mail.data,
        SELECTOR,
        public.as_bytes()
    ));
    // One changed byte in the body breaks it.
    let mut tampered = mail.data.clone();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert!(!common::dkim_verifies(
        &tampered,
        SELECTOR,
        public.as_bytes()
    ));
}

#[tokio::test]
async fn the_portals_signature_verifies_with_openssl_and_the_content_still_decrypts() {
    let data = tempfile::tempdir().unwrap();
    let demo = postsiegel_server::directory::demo::ensure(data.path(), now()).unwrap();
    let certificate = demo
        .issue(
            &[(
                "kontaktformular@portal.example".into(),
                "Postsiegel Portal".into(),
            )],
            now(),
        )
        .unwrap()
        .remove(0);
    let key_pem = std::fs::read_to_string(demo.mailbox_key()).unwrap();
    let key =
        <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key_pem).unwrap();
    let signer = postsiegel_server::relay::signing::PortalSigner::new(certificate, key);
    let smtp = SmtpServer::start();
    // A CA the authority trusts issued the portal's signing certificate.
    let portal = portal_signing(
        |_| {},
        Some(Transport::smtp(&smtp_config(&smtp)).unwrap()),
        None,
        Some(signer),
    )
    .await;
    let token = common::verify_by_mail(&portal, &smtp, TRADE, CITIZEN).await;
    let entity =
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nGepr\xc3\xbcft weitergeleitet\r\n";
    submit(&portal, &token, entity).await;
    portal.worker.work(now()).await.unwrap();
    let mail = to(&smtp.received(), TRADE_MAILBOX).remove(0);
    let text = String::from_utf8_lossy(&mail.data).into_owned();
    assert!(text.contains(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;"
    ));

    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed.eml");
    std::fs::write(&signed, &mail.data).unwrap();
    let inner = dir.path().join("inner.eml");
    let verify_with = |ca: &Path| {
        Command::new("openssl")
            .args(["cms", "-verify", "-in"])
            .arg(&signed)
            .arg("-CAfile")
            .arg(ca)
            .arg("-out")
            .arg(&inner)
            .output()
            .unwrap()
    };
    // Another CA (the portal's demo CA did not issue the signing certificate): refused.
    assert!(!verify_with(&portal.demo.ca_certificate()).status.success());
    let verified = verify_with(&demo.ca_certificate());
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stderr).contains("Verification successful"));
    let decrypted = decrypt(
        dir.path(),
        &std::fs::read(&inner).unwrap(),
        &portal.demo.mailbox_key(),
    );
    assert_eq!(decrypted, entity);

    // Tampering with the encrypted part breaks the signature.
    let mut tampered = mail.data.clone();
    let at = text.find("\r\n\r\nMII").unwrap() + 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&signed, &tampered).unwrap();
    assert!(!verify_with(&demo.ca_certificate()).status.success());
}

#[tokio::test]
async fn an_outbox_mail_refused_for_now_is_tried_with_backoff_and_given_up_after_the_deadline() {
    let smtp = SmtpServer::start();
    let portal = smtp_portal(&smtp_config(&smtp)).await;
    smtp.set(Behaviour::TempFailRcpt);
    let sent = post_json(
        &portal.app,
        "/api/verification/code",
        serde_json::json!({ "form": "landratsamt-musterhausen/gewerbeamt", "address": CITIZEN }),
    )
    .await;
    assert_eq!(sent.status, axum::http::StatusCode::ACCEPTED);
    let start = now();
    let waiting = || async { portal.store.unsent_mails().await.unwrap().len() };
    portal.worker.work(start).await.unwrap();
    assert_eq!(waiting().await, 1, "kept after a temporary refusal");
    // Tried again with growing pauses, never every minute without end.
    let mut tries = 1;
    let mut at = start;
    while at < start + 47 * 3600 {
        at += 600;
        let before = smtp.received().len();
        portal.worker.work(at).await.unwrap();
        assert_eq!(smtp.received().len(), before);
        tries += 1;
    }
    assert_eq!(waiting().await, 1, "still tried before the deadline");
    // The last try is past the delivery deadline: then it is given up.
    portal.worker.work(start + 49 * 3600).await.unwrap();
    portal.worker.work(start + 50 * 3600).await.unwrap();
    assert_eq!(waiting().await, 0, "given up after {tries} passes");
    // And once given up, it is not tried again when the server takes mail again.
    smtp.set(Behaviour::Accept);
    portal.worker.work(start + 51 * 3600).await.unwrap();
    assert!(to(&smtp.received(), CITIZEN).is_empty());
}
