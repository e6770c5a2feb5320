#![cfg(not(target_arch = "wasm32"))]
//! Messages encrypted by the S/MIME core, decrypted by the engines authorities' mail clients
//! stand on: OpenSSL, GnuPG's gpgsm (KMail, Outlook with GpgOL) and NSS cmsutil
//! (Thunderbird); the decrypted entity parsed by Python's `email` package.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use rand_core::OsRng;
use smime::envelope::{Algorithms, ContentEncryption, KeyTransport, Recipient, encrypt};
use smime::mime::{Attachment, Body, FormRecord, Message, compose};
use testkit::{Issued, Leaf, Pki, openssl, run};

const CENTRAL: &str = "poststelle@lra-test.example";
const UNIT: &str = "gewerbeamt@lra-test.example";

fn message<'a>(text: &'a str, attachments: &'a [Attachment<'a>]) -> Message<'a> {
    Message {
        form: "landratsamt-test",
        unit: Some("gewerbeamt"),
        recipient: "Landratsamt Test – Gewerbeamt",
        sender_name: "Jürgen Müller-Lüdenscheidt",
        sender_email: "juergen@example.org",
        email_verified: true,
        answer_address: None,
        thread: None,
        sender_phone: Some("+49 89 1234-567"),
        subject: "Gewerbeanmeldung: Rückfrage zu Ihrem Schreiben vom 3. März",
        reference: Some("GA-2026/0815"),
        text,
        submitted_at: 1_795_786_200, // 2026-11-27 13:30 UTC
        attachments,
    }
}

fn recipients(issued: &[&Issued]) -> Vec<Recipient> {
    issued
        .iter()
        .map(|i| Recipient::from_certificate(&i.certificate).unwrap())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

fn decrypt_openssl(der: &[u8], issued: &Issued) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "m.der", der);
    openssl(
        dir.path(),
        &[
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            &input,
            "-inkey",
            &issued.key_path().to_string_lossy(),
            "-recip",
            &issued.cert_path().to_string_lossy(),
        ],
    )
}

fn decrypt_gpgsm(der: &[u8], issued: &Issued) -> Vec<u8> {
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let input = write(home.path(), "m.der", der);
    let gpgsm = |args: &[&str]| {
        let mut command = Command::new("gpgsm");
        command.env("GNUPGHOME", home.path()).args([
            "--batch",
            "--disable-dirmngr",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
        ]);
        command.args(args);
        command
    };
    // As in an authority's client: the chain first, then the key and certificate.
    for ca in ["root.pem", "intermediate.pem"] {
        run(&mut gpgsm(&[
            "--import",
            &issued.dir.join(ca).to_string_lossy(),
        ]));
    }
    import_p12_into_gpgsm(issued, &gpgsm);
    let output = gpgsm(&["--decrypt", &input])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home.path())
        .args(["--kill", "all"])
        .status();
    // gpgsm exits with 2 after decrypting a message that also names recipients whose
    // certificates it does not hold ("failed to find the certificate"), as every message to
    // a unit and its central office does. The plaintext is complete; callers compare it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success()
            || (output.status.code() == Some(2) && !stderr.contains("decryption failed")),
        "gpgsm: {stderr}"
    );
    output.stdout
}

/// Imports the recipient's key, making its PKCS#12 file again when gpgsm refuses it
/// (see `Issued::remake_p12`): three refusals in a row would be a real failure.
fn import_p12_into_gpgsm(issued: &Issued, gpgsm: &dyn Fn(&[&str]) -> Command) {
    let mut p12 = issued.p12_path();
    let mut refusals = Vec::new();
    while refusals.len() < 3 {
        let output = gpgsm(&["--import", &p12.to_string_lossy()])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            return;
        }
        assert!(
            stderr.contains("error parsing or decrypting the PKCS#12 file"),
            "gpgsm --import: {stderr}"
        );
        refusals.push(stderr);
        p12 = issued.remake_p12();
    }
    panic!("gpgsm refused three fresh PKCS#12 files: {refusals:#?}");
}

fn decrypt_nss(der: &[u8], issued: &Issued) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sql:{}", dir.path().display());
    let input = write(dir.path(), "m.der", der);
    let output = dir.path().join("out");
    run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    run(Command::new("pk12util").args([
        "-i",
        &issued.p12_path().to_string_lossy(),
        "-d",
        &db,
        "-W",
        "",
        "-K",
        "",
    ]));
    run(Command::new("cmsutil").args([
        "-D",
        "-d",
        &db,
        "-i",
        &input,
        "-o",
        &output.to_string_lossy(),
    ]));
    std::fs::read(output).unwrap()
}

fn encrypt_default(entity: &[u8], recipient: &Issued) -> Vec<u8> {
    encrypt(
        &recipients(&[recipient]),
        Algorithms::default(),
        entity,
        &mut OsRng,
    )
    .unwrap()
}

/// The plaintext as OpenSSL, gpgsm and NSS each recover it.
fn decrypt_everywhere(der: &[u8], recipient: &Issued) -> [Vec<u8>; 3] {
    [
        decrypt_openssl(der, recipient),
        decrypt_gpgsm(der, recipient),
        decrypt_nss(der, recipient),
    ]
}

struct Parsed {
    subject: String,
    date: String,
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

fn parse_with_python(entity: &[u8]) -> Parsed {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "entity.eml", entity);
    let script = write(dir.path(), "parse_mime.py", include_bytes!("parse_mime.py"));
    let json: serde_json::Value =
        serde_json::from_slice(&run(Command::new("python3").args([&script, &input]))).unwrap();
    assert_eq!(
        json["defects"],
        serde_json::json!([]),
        "the parser found defects"
    );
    assert_eq!(json["content_type"], "multipart/mixed");
    Parsed {
        subject: json["subject"].as_str().unwrap().to_owned(),
        date: json["date"].as_str().unwrap().to_owned(),
        parts: json["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["content_type"].as_str().unwrap().to_owned(),
                    p["filename"].as_str().map(str::to_owned),
                    base64::engine::general_purpose::STANDARD
                        .decode(p["content"].as_str().unwrap())
                        .unwrap(),
                )
            })
            .collect(),
    }
}

/// What the authority reads equals what the citizen wrote and attached.
fn assert_faithful(entity: &[u8], message: &Message) {
    if let Some(line) = entity.split(|&b| b == b'\n').find(|line| line.len() > 78) {
        panic!(
            "a line is longer than 78 characters: {}",
            String::from_utf8_lossy(line)
        );
    }
    let parsed = parse_with_python(entity);
    assert_eq!(parsed.subject, message.subject);
    let (text_type, _, text) = &parsed.parts[0];
    assert_eq!(text_type, "text/plain");
    let text = String::from_utf8(text.clone()).unwrap();
    let body = text
        .split("------------------------------------------\r\n\r\n")
        .nth(1)
        .unwrap();
    assert_eq!(
        body.trim_end(),
        message.text.replace('\n', "\r\n").trim_end()
    );
    assert!(text.contains(&format!(
        "Name:            {} (ungeprüft)",
        message.sender_name
    )));
    assert!(text.contains("unverschlüsselt"));

    let (json_type, json_name, json) = &parsed.parts[1];
    assert_eq!(json_type, "application/json");
    assert_eq!(json_name.as_deref(), Some("kontaktformular.json"));
    let record: FormRecord = serde_json::from_slice(json).unwrap();
    assert_eq!(record.sender.name, message.sender_name);
    assert_eq!(record.sender.email, message.sender_email);
    assert_eq!(record.reference.as_deref(), message.reference);
    assert_eq!(record.submitted_at, "2026-11-27T13:30:00Z");
    assert_eq!(parsed.date, "Fri, 27 Nov 2026 13:30:00 +0000");
    assert!(record.unchecked.contains(&"sender.name".to_owned()));

    assert_eq!(parsed.parts.len(), 2 + message.attachments.len());
    for (attachment, (media_type, name, bytes)) in
        message.attachments.iter().zip(&parsed.parts[2..])
    {
        assert_eq!(media_type, attachment.media_type);
        assert_eq!(name.as_deref(), Some(attachment.file_name));
        assert!(
            matches!(attachment.content, Body::Memory(content) if bytes == content),
            "attachment {} differs",
            attachment.file_name
        );
    }
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

#[test]
fn all_three_decryptors_read_the_default_for_several_recipients() {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let unit = pki.issue(&Leaf::good("unit", UNIT));
    let png = pseudo_random(40_000, 7);
    let pdf = pdf();
    let long_name = "Bescheid über die Änderung der Gewerbeerlaubnis – März 2026 (Kopie für die Akte, bitte aufbewahren).pdf";
    let attachments = [
        Attachment::new(long_name, "application/pdf", &pdf),
        Attachment::new("Grundriß Erdgeschoß.png", "image/png", &png),
    ];
    let text = "Sehr geehrte Damen und Herren,\n\nanbei die Unterlagen. Grüße aus Köln – ½ € ✓\n";
    let message = message(text, &attachments);
    let entity = compose(&message);
    let der = encrypt(
        &recipients(&[&unit, &central]),
        Algorithms::default(),
        &entity,
        &mut OsRng,
    )
    .unwrap();

    for (engine, decrypted) in [
        ("openssl (unit key)", decrypt_openssl(&der, &unit)),
        ("openssl (central key)", decrypt_openssl(&der, &central)),
        ("gpgsm", decrypt_gpgsm(&der, &central)),
        ("NSS cmsutil", decrypt_nss(&der, &unit)),
    ] {
        assert!(decrypted == entity, "{engine} decrypted something else");
        assert_faithful(&decrypted, &message);
    }
}

#[test]
fn empty_text_and_binary_files_survive_every_decryptor() {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_001).collect();
    let attachments = [Attachment::new(
        "daten.bin",
        "application/octet-stream",
        &binary,
    )];
    for (text, attachments) in [("", &[][..]), ("", &attachments[..])] {
        let message = message(text, attachments);
        let entity = compose(&message);
        let der = encrypt_default(&entity, &central);
        for decrypted in decrypt_everywhere(&der, &central) {
            assert!(decrypted == entity);
            assert_faithful(&decrypted, &message);
        }
    }
}

#[test]
fn a_ten_megabyte_attachment_decrypts_everywhere() {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let big = pseudo_random(10_000_000, 42);
    let attachments = [Attachment::new(
        "Scan aller Unterlagen.pdf",
        "application/pdf",
        &big,
    )];
    let message = message("Zehn Megabyte im Anhang.", &attachments);
    let entity = compose(&message);
    let der = encrypt_default(&entity, &central);
    for decrypted in decrypt_everywhere(&der, &central) {
        assert!(decrypted == entity);
    }
    assert_faithful(&decrypt_openssl(&der, &central), &message);
}

#[test]
fn oaep_and_gcm_decrypt_with_openssl() {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let unit = pki.issue(&Leaf::good("unit", UNIT));
    let pdf = pdf();
    let attachments = [Attachment::new("Antrag.pdf", "application/pdf", &pdf)];
    let message = message("Mit OAEP und GCM.", &attachments);
    let entity = compose(&message);
    for content in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
        for key_transport in [KeyTransport::RsaPkcs1v15, KeyTransport::RsaOaepSha256] {
            let algorithms = Algorithms {
                content,
                key_transport,
            };
            let der = encrypt(
                &recipients(&[&central, &unit]),
                algorithms,
                &entity,
                &mut OsRng,
            )
            .unwrap();
            for issued in [&central, &unit] {
                let decrypted = decrypt_openssl(&der, issued);
                assert!(decrypted == entity, "{algorithms:?}");
            }
            assert_faithful(&decrypt_openssl(&der, &unit), &message);
        }
    }
}

#[test]
fn a_tampered_gcm_message_is_refused() {
    let pki = Pki::new();
    let central = pki.issue(&Leaf::good("central", CENTRAL));
    let algorithms = Algorithms {
        content: ContentEncryption::Aes256Gcm,
        key_transport: KeyTransport::RsaPkcs1v15,
    };
    let mut der = encrypt(
        &recipients(&[&central]),
        algorithms,
        b"Content-Type: text/plain\r\n\r\nhallo\r\n",
        &mut OsRng,
    )
    .unwrap();
    let at = der.len() - 25;
    der[at] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "m.der", &der);
    let status = Command::new("openssl")
        .args([
            "cms", "-decrypt", "-binary", "-inform", "DER", "-in", &input, "-inkey",
        ])
        .arg(central.key_path())
        .output()
        .unwrap();
    assert!(
        !status.status.success(),
        "openssl accepted a tampered GCM message"
    );
}
