//! The relay in process: verification, every refusal of a bad upload (each its own code,
//! nothing queued), and an accepted upload up to the exact size limit.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rand_core::OsRng;
use smime::envelope::{Algorithms, ContentEncryption, Envelope, KeyTransport, Recipient, encrypt};

use common::{Portal, now, portal, post_json, send};
use postsiegel_server::model::Directory;
use wire::TOKEN_HEADER;

const TRADE: &str = "landratsamt-musterhausen/gewerbeamt";
const CITIZEN: &str = "erika.muster@example.org";

fn certificate(portal: &Portal, file: &str) -> smime::Certificate {
    smime::certificate::parse_certificates(
        &std::fs::read(portal.demo.folder.join("certificates").join(file)).unwrap(),
    )
    .unwrap()
    .remove(0)
}

fn encrypt_to(
    certificates: &[smime::Certificate],
    algorithms: Algorithms,
    content: &[u8],
) -> Vec<u8> {
    let recipients: Vec<Recipient> = certificates
        .iter()
        .map(|c| Recipient::from_certificate(c).unwrap())
        .collect();
    encrypt(&recipients, algorithms, content, &mut OsRng).unwrap()
}

/// The code from the code mail in the spool, which it takes away: each call expects exactly
/// one new code mail (modification times are too coarse to tell mails a moment apart).
fn last_code(portal: &Portal) -> String {
    let spool = portal.data.path().join("spool");
    let mails: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("code-"))
        .map(|e| e.path())
        .collect();
    assert_eq!(mails.len(), 1, "one new code mail expected: {mails:?}");
    let text = std::fs::read_to_string(&mails[0]).unwrap();
    std::fs::remove_file(&mails[0]).unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap()
        .to_owned()
}

async fn verify(portal: &Portal, form: &str) -> String {
    common::ask_for_code(portal, form, CITIZEN).await;
    let confirmed = post_json(
        &portal.app,
        "/api/verification/confirm",
        serde_json::json!({ "form": form, "address": CITIZEN, "code": last_code(portal) }),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.json());
    confirmed.json()["token"].as_str().unwrap().to_owned()
}

async fn upload(
    portal: &Portal,
    form: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> common::Answer {
    let mut request =
        Request::post(format!("/api/submissions/{form}")).header("content-type", content_type);
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    send(&portal.app, request.body(Body::from(body)).unwrap()).await
}

async fn nothing_queued(portal: &Portal) {
    assert_eq!(portal.store.queued_bytes().await.unwrap(), 0);
    let queue = portal.data.path().join("queue");
    let files: Vec<_> = walk(&queue);
    assert!(files.is_empty(), "left in the queue: {files:?}");
}

fn walk(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

#[tokio::test]
async fn every_bad_upload_gets_its_own_code_and_nothing_is_queued() {
    let portal = portal(|_| {}, None).await;
    let token = verify(&portal, TRADE).await;
    let trade = certificate(&portal, "lra-gewerbeamt.pem");
    let central = certificate(&portal, "lra-poststelle.pem");
    let good = encrypt_to(
        std::slice::from_ref(&trade),
        Algorithms::default(),
        b"Hallo",
    );
    let signed = testkit::openssl(
        portal.demo.folder.as_path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-outform",
            "DER",
            "-nodetach",
            "-signer",
            "certificates/lra-gewerbeamt.pem",
            "-inkey",
            "demo-mailboxes.key.pem",
            "-in",
            "directory.toml",
        ],
    );
    let mut trailing = good.clone();
    trailing.push(0);
    let gcm = Algorithms {
        content: ContentEncryption::Aes256Gcm,
        key_transport: KeyTransport::RsaPkcs1v15,
    };
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "empty",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_empty",
        ),
        (
            "truncated",
            good[..good.len() - 10].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_truncated",
        ),
        (
            "cut in the header",
            good[..20].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_truncated",
        ),
        (
            "trailing bytes",
            trailing,
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_trailing_bytes",
        ),
        (
            "not CMS",
            b"Hallo, hier ist Klartext".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_not_cms",
        ),
        (
            "signed only",
            signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_signed_only",
        ),
        (
            "wrong recipient",
            encrypt_to(std::slice::from_ref(&central), Algorithms::default(), b"x"),
            StatusCode::CONFLICT,
            "certificate_changed",
        ),
        (
            "extra recipient",
            encrypt_to(
                &[trade.clone(), central.clone()],
                Algorithms::default(),
                b"x",
            ),
            StatusCode::CONFLICT,
            "certificate_changed",
        ),
        (
            "AES-GCM where the form says CBC",
            encrypt_to(std::slice::from_ref(&trade), gcm, b"x"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "upload_wrong_algorithm",
        ),
    ];
    for (what, body, status, code) in cases {
        let answer = upload(&portal, TRADE, Some(&token), "application/pkcs7-mime", body).await;
        assert_eq!(answer.status, status, "{what}: {:?}", answer.json());
        assert_eq!(answer.json()["code"], code, "{what}");
        nothing_queued(&portal).await;
    }

    let answer = upload(
        &portal,
        TRADE,
        Some(&token),
        "application/octet-stream",
        good.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.json()["code"], "upload_wrong_content_type");
    let answer = upload(&portal, TRADE, None, "application/pkcs7-mime", good.clone()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["code"], "not_verified");
    // A token is bound to its form.
    let answer = upload(
        &portal,
        "landratsamt-musterhausen",
        Some(&token),
        "application/pkcs7-mime",
        good.clone(),
    )
    .await;
    assert_eq!(answer.json()["code"], "not_verified");
    let answer = upload(
        &portal,
        "gibt-es-nicht",
        Some(&token),
        "application/pkcs7-mime",
        good.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["code"], "form_not_found");
    let answer = upload(
        &portal,
        "gemeinde-neudorf-am-see",
        Some(&token),
        "application/pkcs7-mime",
        good.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json()["code"], "form_not_available");
    nothing_queued(&portal).await;

    // The good one goes through.
    let answer = upload(&portal, TRADE, Some(&token), "application/pkcs7-mime", good).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
}

/// Talheim's form as an AES-GCM form with a 1 MB mailbox: GCM has no padding, so an upload
/// can be made of any exact length.
fn small_gcm_mailbox(directory: &mut Directory) {
    let talheim = directory
        .authorities
        .iter_mut()
        .find(|a| a.slug == "vg-talheim")
        .unwrap();
    talheim.policy.mailbox_limit_bytes = 1_000_000;
    talheim.policy.algorithms.content = ContentEncryption::Aes256Gcm;
}

/// An upload of exactly `total` bytes for `certificate`.
fn upload_of_exactly(
    certificate: &smime::Certificate,
    algorithms: Algorithms,
    total: u64,
) -> Vec<u8> {
    let recipient = Recipient::from_certificate(certificate).unwrap();
    let content_len = (total.saturating_sub(2_000)..total)
        .find(|&n| {
            Envelope::new(std::slice::from_ref(&recipient), algorithms, n, &mut OsRng)
                .unwrap()
                .total_len()
                == total
        })
        .expect("GCM reaches every length");
    let content = vec![b'x'; content_len as usize];
    let der = encrypt(&[recipient], algorithms, &content, &mut OsRng).unwrap();
    assert_eq!(der.len() as u64, total);
    der
}

#[tokio::test]
async fn the_size_limit_is_exact_and_the_largest_mail_fits_the_mailbox() {
    let portal = portal(small_gcm_mailbox, None).await;
    let form = common::get(&portal.app, "/api/forms/vg-talheim")
        .await
        .json();
    let max = form["max_upload_bytes"].as_u64().unwrap();
    let token = verify(&portal, "vg-talheim").await;
    let certificate = certificate(&portal, "talheim-poststelle.pem");
    let gcm = Algorithms {
        content: ContentEncryption::Aes256Gcm,
        key_transport: KeyTransport::RsaPkcs1v15,
    };

    let over = upload_of_exactly(&certificate, gcm, max + 1);
    let answer = upload(
        &portal,
        "vg-talheim",
        Some(&token),
        "application/pkcs7-mime",
        over,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["code"], "upload_too_large");
    assert_eq!(answer.json()["params"]["max_upload_bytes"], max);
    nothing_queued(&portal).await;

    let under = upload_of_exactly(&certificate, gcm, max - 1);
    let answer = upload(
        &portal,
        "vg-talheim",
        Some(&token),
        "application/pkcs7-mime",
        under,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    let receipt = answer.json()["receipt"].as_str().unwrap().to_owned();
    portal.worker.work(now()).await.unwrap();
    let mail = std::fs::read(
        portal
            .data
            .path()
            .join("spool")
            .join(format!("{receipt}.eml")),
    )
    .unwrap();
    assert!(mail.len() as u64 <= 1_000_000, "{} bytes", mail.len());
    let text = String::from_utf8(mail).unwrap();
    assert!(text.contains("smime-type=authEnveloped-data"));
    assert!(text.contains(&format!("Reply-To: <{CITIZEN}>")));
}

#[tokio::test]
async fn codes_allow_five_attempts_and_three_requests_an_hour() {
    let portal = portal(|_| {}, None).await;
    let request = || {
        post_json(
            &portal.app,
            "/api/verification/code",
            serde_json::json!({ "form": TRADE, "address": CITIZEN }),
        )
    };
    assert_eq!(request().await.status, StatusCode::ACCEPTED);
    portal.worker.work(now()).await.unwrap();
    let code = last_code(&portal);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |code: &str| {
        post_json(
            &portal.app,
            "/api/verification/confirm",
            serde_json::json!({ "form": TRADE, "address": CITIZEN, "code": code }),
        )
    };
    for left in (1..5).rev() {
        let answer = confirm(wrong).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.json()["code"], "code_wrong");
        assert_eq!(answer.json()["field"], "code");
        assert_eq!(answer.json()["params"]["attempts_left"], left);
    }
    let answer = confirm(wrong).await;
    assert_eq!(answer.json()["code"], "code_attempts_exhausted");
    // Even the right code is refused now.
    let answer = confirm(&code).await;
    assert_eq!(answer.json()["code"], "code_attempts_exhausted");

    assert_eq!(request().await.status, StatusCode::ACCEPTED);
    assert_eq!(request().await.status, StatusCode::ACCEPTED);
    let fourth = request().await;
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fourth.json()["code"], "too_many_codes");

    let answer = post_json(
        &portal.app,
        "/api/verification/code",
        serde_json::json!({ "form": TRADE, "address": "kein-at-zeichen" }),
    )
    .await;
    assert_eq!(answer.json()["code"], "email_invalid");
    assert_eq!(answer.json()["field"], "address");
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes_and_a_token_after_its_time() {
    let portal = portal(|_| {}, None).await;
    let verifier = postsiegel_server::relay::verification::Verifier {
        secret: postsiegel_server::relay::secret::Secret::from_bytes([7; 32]),
        store: portal.store.clone(),
    };
    let start = now();
    verifier.request_code(CITIZEN, TRADE, start).await.unwrap();
    portal.worker.work(start).await.unwrap();
    let code = last_code(&portal);
    let late = verifier
        .confirm(CITIZEN, TRADE, &code, false, start + 601)
        .await;
    assert!(matches!(
        late,
        Err(postsiegel_server::relay::verification::VerifyError::CodeExpired)
    ));
    verifier
        .request_code(CITIZEN, TRADE, start + 700)
        .await
        .unwrap();
    portal.worker.work(start + 700).await.unwrap();
    let code = last_code(&portal);
    let (token, verified) = verifier
        .confirm(CITIZEN, TRADE, &code, false, start + 701)
        .await
        .unwrap();
    assert_eq!(verified.address, CITIZEN);
    assert!(verifier.check_token(&token, TRADE, start + 702).is_some());
    assert!(
        verifier
            .check_token(&token, "vg-talheim", start + 702)
            .is_none()
    );
    assert!(
        verifier
            .check_token(&token, TRADE, start + 701 + 4 * 3600 + 1)
            .is_none()
    );
    // A token changed in one character is worthless.
    let mut forged = token.clone().into_bytes();
    forged[3] ^= 1;
    assert!(
        verifier
            .check_token(&String::from_utf8(forged).unwrap(), TRADE, start + 702)
            .is_none()
    );
    // Remembering keeps it for 30 days.
    verifier
        .request_code(CITIZEN, TRADE, start + 800)
        .await
        .unwrap();
    portal.worker.work(start + 800).await.unwrap();
    let (token, _) = verifier
        .confirm(CITIZEN, TRADE, &last_code(&portal), true, start + 801)
        .await
        .unwrap();
    assert!(
        verifier
            .check_token(&token, TRADE, start + 29 * 86_400)
            .is_some()
    );
}

#[tokio::test]
async fn a_full_queue_refuses_new_messages_and_finished_ones_are_forgotten_after_the_retention() {
    // Room for one small upload, not for two.
    let portal = common::portal_configured(|config| {
        config.relay.max_queue_bytes = 800;
    })
    .await;
    let token = verify(&portal, TRADE).await;
    let upload_once = encrypt_to(
        &[certificate(&portal, "lra-gewerbeamt.pem")],
        Algorithms::default(),
        b"x",
    );
    let accepted = upload(
        &portal,
        TRADE,
        Some(&token),
        "application/pkcs7-mime",
        upload_once.clone(),
    )
    .await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{:?}",
        accepted.json()
    );
    let first: wire::Accepted = serde_json::from_slice(&accepted.body).unwrap();
    let refused = upload(
        &portal,
        TRADE,
        Some(&token),
        "application/pkcs7-mime",
        upload_once,
    )
    .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.json()["code"], "queue_full");

    // Delivered, then kept for the retention (30 days), then forgotten.
    portal.worker.work(now()).await.unwrap();
    let status = |token: String| {
        let app = portal.app.clone();
        async move { common::get(&app, &format!("/api/status/{token}")).await }
    };
    assert_eq!(
        status(first.status_token.clone()).await.json()["state"],
        "delivered"
    );
    portal.worker.purge(now() + 29 * 86_400).await.unwrap();
    assert_eq!(
        status(first.status_token.clone()).await.status,
        StatusCode::OK
    );
    portal.worker.purge(now() + 31 * 86_400).await.unwrap();
    let gone = status(first.status_token).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["code"], "status_not_found");
}

#[tokio::test]
async fn a_citizen_who_hangs_up_once_the_upload_is_complete_still_has_it_accepted_and_receipted() {
    use std::task::Poll;
    let portal = portal(|_| {}, None).await;
    let token = verify(&portal, TRADE).await;
    let der = encrypt_to(
        &[certificate(&portal, "lra-gewerbeamt.pem")],
        Algorithms::default(),
        b"Content-Type: text/plain\r\n\r\nKurz vor dem Funkloch.\r\n",
    );
    // A body that says when the portal has read all of it.
    let (finished, body_read) = tokio::sync::oneshot::channel::<()>();
    let (mut finished, mut data) = (Some(finished), Some(bytes::Bytes::from(der)));
    let body = futures_util::stream::poll_fn(move |_| {
        if let Some(data) = data.take() {
            return Poll::Ready(Some(Ok::<_, std::io::Error>(data)));
        }
        if let Some(finished) = finished.take() {
            let _ = finished.send(());
        }
        Poll::Ready(None)
    });
    let request = Request::post(format!("/api/submissions/{TRADE}"))
        .header("content-type", "application/pkcs7-mime")
        .header(TOKEN_HEADER, &token)
        .body(Body::from_stream(body))
        .unwrap();
    let answer = tower::ServiceExt::oneshot(portal.app.clone(), request);
    // The connection drops then: the request's future is dropped before it answers.
    tokio::select! {
        _ = answer => panic!("answered before the test could hang up"),
        _ = body_read => {}
    }

    // The message is accepted all the same: its mail and its record, or neither.
    let queue = portal.data.path().join("queue");
    let started = std::time::Instant::now();
    let receipt = loop {
        let receipts: Vec<String> = walk(&queue)
            .iter()
            .filter_map(|p| {
                p.file_name()?
                    .to_str()?
                    .strip_suffix(".eml")
                    .map(str::to_owned)
            })
            .collect();
        if let [receipt] = receipts.as_slice()
            && portal.store.submission(receipt).await.unwrap().is_some()
        {
            break receipt.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "queue {receipts:?}, no record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Delivered, and the citizen, who never saw the answer, gets the receipt by mail.
    portal.worker.work(now()).await.unwrap();
    let spool = portal.data.path().join("spool");
    assert!(spool.join(format!("{receipt}.eml")).exists());
    let receipted = walk(&spool).iter().any(|p| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        text.contains(&format!("To: {CITIZEN}")) && text.contains(&receipt)
    });
    assert!(receipted, "no receipt mail to the citizen");
    nothing_queued(&portal).await;
}

/// `directory.toml` encrypted by `openssl cms -encrypt` to `certificate`, with `options`
/// for the content and `recipient` for the recipient (key transport, identifier).
fn openssl_encrypted(portal: &Portal, certificate: &str, way: &Way) -> Vec<u8> {
    let mut args = vec!["cms", "-encrypt", "-binary", "-outform", "DER"];
    args.extend(&way.content);
    let certificate = format!("certificates/{certificate}");
    args.extend(["-in", "directory.toml", "-recip", &certificate]);
    args.extend(&way.recipient);
    testkit::openssl(portal.demo.folder.as_path(), &args)
}

/// A way `openssl cms -encrypt` can encrypt: its options for the content and for the
/// recipient.
#[derive(Debug, Clone, PartialEq)]
struct Way {
    content: Vec<&'static str>,
    recipient: Vec<&'static str>,
}

const OAEP_SHA256: [&str; 6] = [
    "-keyopt",
    "rsa_padding_mode:oaep",
    "-keyopt",
    "rsa_oaep_md:sha256",
    "-keyopt",
    "rsa_mgf1_md:sha256",
];

/// Every content encryption `openssl cms -encrypt` writes with its default and legacy
/// providers, and the ways it transports the key and names the recipient.
fn everything_openssl_writes() -> Vec<Way> {
    let plain = |content: Vec<&'static str>| Way {
        content,
        recipient: Vec::new(),
    };
    let mut all: Vec<Way> = [
        "-aes128",
        "-aes192",
        "-aes256",
        "-aes-256-ofb",
        "-aes-256-cfb",
        "-aes-256-ecb",
        "-des3",
        "-camellia128",
        "-camellia192",
        "-camellia256",
        "-aria128",
        "-aria256",
        "-sm4",
        "-aes-128-gcm",
        "-aes-192-gcm",
        "-aes-256-gcm",
    ]
    .iter()
    .map(|cipher| plain(vec![*cipher]))
    .collect();
    for legacy in ["-des", "-rc2", "-seed"] {
        all.push(plain(vec![
            "-provider",
            "legacy",
            "-provider",
            "default",
            legacy,
        ]));
    }
    for content in ["-aes256", "-aes-256-gcm"] {
        for recipient in [
            vec!["-keyopt", "rsa_padding_mode:oaep"],
            OAEP_SHA256.to_vec(),
            vec!["-keyid"],
        ] {
            all.push(Way {
                content: vec![content],
                recipient,
            });
        }
    }
    all
}

#[tokio::test]
async fn a_form_takes_its_own_algorithms_and_no_other_that_openssl_writes() {
    let gcm_with_oaep = |directory: &mut Directory| {
        let talheim = directory
            .authorities
            .iter_mut()
            .find(|a| a.slug == "vg-talheim")
            .unwrap();
        talheim.policy.algorithms = Algorithms {
            content: ContentEncryption::Aes256Gcm,
            key_transport: KeyTransport::RsaOaepSha256,
        };
    };
    let portal = common::portal_with(gcm_with_oaep, None, None, None, |config| {
        config.relay.limits.submissions.burst = 1000;
    })
    .await;
    let forms = [
        (
            TRADE,
            "lra-gewerbeamt.pem",
            Way {
                content: vec!["-aes256"],
                recipient: Vec::new(),
            },
        ),
        (
            "vg-talheim",
            "talheim-poststelle.pem",
            Way {
                content: vec!["-aes-256-gcm"],
                recipient: OAEP_SHA256.to_vec(),
            },
        ),
    ];
    for (form, certificate, own) in forms {
        let token = verify(&portal, form).await;
        for way in everything_openssl_writes() {
            let body = openssl_encrypted(&portal, certificate, &way);
            let answer = upload(&portal, form, Some(&token), "application/pkcs7-mime", body).await;
            if way == own {
                assert_eq!(answer.status, StatusCode::CREATED, "{form} {way:?}");
                continue;
            }
            assert_eq!(
                (answer.status, answer.json()["code"].as_str()),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("upload_wrong_algorithm")
                ),
                "{form} {way:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_upload_naming_the_forms_certificate_but_made_for_another_key_is_refused() {
    let portal = portal(|_| {}, None).await;
    let token = verify(&portal, TRADE).await;
    // An attacker's certificate that copies the real issuer name and serial number.
    let real = certificate(&portal, "lra-gewerbeamt.pem");
    let pki = testkit::Pki::new();
    let forged = pki.issue(&testkit::Leaf {
        key: "rsa:3072",
        ..testkit::Leaf::good("forged", "gewerbeamt@lra-musterhausen.example")
    });
    let mut impostor = forged.certificate.clone();
    impostor.tbs_certificate.issuer = real.tbs_certificate.issuer.clone();
    impostor.tbs_certificate.serial_number = real.tbs_certificate.serial_number.clone();
    let body = encrypt_to(&[impostor], Algorithms::default(), b"Gefaelscht");
    let answer = upload(&portal, TRADE, Some(&token), "application/pkcs7-mime", body).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["code"], "upload_wrong_recipient");
    nothing_queued(&portal).await;
}

/// `count` requests to `uri` with the JSON bodies from `body`, released together.
async fn released_together(
    portal: &Portal,
    uri: &'static str,
    bodies: Vec<serde_json::Value>,
) -> Vec<common::Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (app, barrier) = (portal.app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                post_json(&app, uri, body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn codes_of(answers: &[common::Answer]) -> Vec<String> {
    answers
        .iter()
        .map(|a| match a.status {
            StatusCode::OK | StatusCode::ACCEPTED => "ok".to_owned(),
            StatusCode::TOO_MANY_REQUESTS if a.json()["code"] == "rate_limited" => {
                format!("rate_limited {}", a.json()["params"])
            }
            _ => a.json()["code"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Asks for a code for `address` and reads it from the spool.
async fn code_for(portal: &Portal, address: &str) -> u32 {
    common::ask_for_code(portal, TRADE, address).await;
    last_code(portal).parse().unwrap()
}

/// How many attempts the newest code of `address` has had, as the database counts them.
async fn attempts_of(portal: &Portal, address: &str) -> u32 {
    // The test portal's secret (common::portal_with), so the address's key can be found.
    let secret = postsiegel_server::relay::secret::Secret::from_bytes([7; 32]);
    let key = secret.sign("address", address.to_lowercase().as_bytes());
    let code = portal
        .store
        .latest_code(&key, TRADE)
        .await
        .unwrap()
        .unwrap();
    code.attempts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_released_together_share_the_five_attempts_of_a_code() {
    let portal = common::portal_configured(|config| {
        config.relay.limits.confirmations.burst = 1000;
        config.relay.limits.api.burst = 1000;
    })
    .await;
    let guesses = |address: &str, codes: Vec<u32>| {
        codes
            .into_iter()
            .map(|code| {
                serde_json::json!({ "form": TRADE, "address": address, "code": format!("{code:06}") })
            })
            .collect()
    };
    // 80 wrong guesses at once: only five are ever compared with the code.
    let address = "erika@example.org";
    let right = code_for(&portal, address).await;
    let wrong: Vec<u32> = (1..=80).map(|i| (right + i) % 1_000_000).collect();
    let codes = codes_of(
        &released_together(
            &portal,
            "/api/verification/confirm",
            guesses(address, wrong),
        )
        .await,
    );
    assert_eq!(attempts_of(&portal, address).await, 5, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "code_wrong").count(), 4);
    // 79 wrong and the right one last, as the attack sent them: one token at most, and no
    // more than five guesses taken.
    let address = "max@example.org";
    let right = code_for(&portal, address).await;
    let mut all: Vec<u32> = (1..80).map(|i| (right + i) % 1_000_000).collect();
    all.push(right);
    let codes = codes_of(
        &released_together(&portal, "/api/verification/confirm", guesses(address, all)).await,
    );
    let taken = codes
        .iter()
        .filter(|c| *c == "ok" || *c == "code_wrong")
        .count();
    assert!(taken <= 5, "{taken} attempts counted: {codes:?}");
    assert!(codes.iter().filter(|c| *c == "ok").count() <= 1);
    assert!(
        codes
            .iter()
            .all(|c| ["ok", "code_wrong", "code_attempts_exhausted"].contains(&c.as_str())),
        "{codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn code_requests_released_together_get_three_codes_an_hour_and_no_more() {
    let portal = common::portal_configured(|config| {
        config.relay.limits.codes.burst = 1000;
    })
    .await;
    let requests = (0..20)
        .map(|_| serde_json::json!({ "form": TRADE, "address": "flut@example.org" }))
        .collect();
    let codes = codes_of(&released_together(&portal, "/api/verification/code", requests).await);
    assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 3, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| *c == "too_many_codes").count(),
        17,
        "{codes:?}"
    );
    portal.worker.work(now()).await.unwrap();
    let mails = walk(&portal.data.path().join("spool"));
    assert_eq!(mails.len(), 3, "{mails:?}");
}

#[tokio::test]
async fn addresses_no_mail_server_can_reach_are_refused_when_the_code_is_asked_for() {
    let portal = portal(|_| {}, None).await;
    for address in [
        "\"a,b\"@x.example",
        "\"x\\\"y\"@x.example",
        "a@[127.0.0.1]",
        "üser@x.example",
    ] {
        let answer = post_json(
            &portal.app,
            "/api/verification/code",
            serde_json::json!({ "form": TRADE, "address": address }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{address}");
        assert_eq!(answer.json()["code"], "email_invalid", "{address}");
        assert_eq!(answer.json()["field"], "address", "{address}");
    }
    // A domain with umlauts is mailed in its ASCII form.
    common::ask_for_code(&portal, TRADE, "a@bücher.example").await;
    let mail = std::fs::read_to_string(&walk(&portal.data.path().join("spool"))[0]).unwrap();
    assert!(mail.contains("To: a@xn--bcher-kva.example"), "{mail}");
}

#[tokio::test]
async fn a_signed_token_whose_address_would_break_a_header_verifies_nothing() {
    use base64::Engine;
    let portal = portal(|_| {}, None).await;
    // Signed with the portal's own secret, as a leak of it (or a bug) would allow.
    let secret = postsiegel_server::relay::secret::Secret::from_bytes([7; 32]);
    let payload = serde_json::json!({
        "a": "erika@example.org\r\nBcc: alle@example.org",
        "f": TRADE,
        "e": now() + 3600,
    });
    let encoded =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string().as_bytes());
    let token = format!("{encoded}.{}", secret.sign("token", encoded.as_bytes()));
    let body = encrypt_to(
        &[certificate(&portal, "lra-gewerbeamt.pem")],
        Algorithms::default(),
        b"x",
    );
    let answer = upload(&portal, TRADE, Some(&token), "application/pkcs7-mime", body).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["code"], "not_verified");
    nothing_queued(&portal).await;
}

#[tokio::test]
async fn a_client_that_waits_as_long_as_retry_after_says_is_let_in() {
    for period_ms in [500, 1_500] {
        let portal = common::portal_configured(|config| {
            config.relay.limits.api = postsiegel_server::relay::limits::Limit {
                burst: 1,
                period_ms,
            };
        })
        .await;
        assert_eq!(
            common::get(&portal.app, "/api/health").await.status,
            StatusCode::OK
        );
        let refused = common::get(&portal.app, "/api/health").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let seconds: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(seconds, period_ms.div_ceil(1_000), "{period_ms} ms");
        assert_eq!(refused.json()["params"]["retry_after_seconds"], seconds);
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        let again = common::get(&portal.app, "/api/health").await;
        assert_eq!(again.status, StatusCode::OK, "{period_ms} ms");
    }
}

#[tokio::test]
async fn an_upload_whose_length_field_overflows_gets_an_answer() {
    let portal = portal(|_| {}, None).await;
    let token = verify(&portal, TRADE).await;
    let mut body = vec![0x30, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    body.extend([0u8; 64]);
    let answer = upload(&portal, TRADE, Some(&token), "application/pkcs7-mime", body).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.json()["code"], "upload_not_cms");
    nothing_queued(&portal).await;
}
