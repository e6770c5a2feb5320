#![cfg(all(not(target_arch = "wasm32"), feature = "answers"))]
//! The citizen's signatures, built here around signatures that openssl makes (as WebCrypto
//! will in the browser: RSASSA-PKCS1-v1_5, SHA-256): openssl accepts the certificate
//! request, and verifies the message's S/MIME signature against the CA that issued the
//! signer's certificate; a changed entity fails.

use std::path::Path;
use std::process::Command;

use testkit::openssl;

use sha2::Digest;
use smime::signing;

/// An RSA key as the browser makes one; its public key (DER).
fn key(dir: &Path) -> Vec<u8> {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"],
    )
}

/// What the browser's `subtle.sign` gives for `bytes`.
fn sign(dir: &Path, bytes: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("to-sign.der"), bytes).unwrap();
    openssl(dir, &["dgst", "-sha256", "-sign", "key.pem", "to-sign.der"])
}

#[test]
fn a_request_built_around_the_keys_signature_verifies_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let public_key = key(dir.path());
    let info = signing::request_info(&public_key).unwrap();
    let pem = signing::request_pem(&info, &sign(dir.path(), &info)).unwrap();
    std::fs::write(dir.path().join("request.pem"), &pem).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args(["req", "-in", "request.pem", "-verify", "-noout", "-pubkey"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("verify OK"), "{said}");
    let public_pem = openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"]);
    assert!(
        said.contains(String::from_utf8(public_pem).unwrap().trim()),
        "{said}"
    );

    // Another key's signature: refused.
    let other = tempfile::tempdir().unwrap();
    key(other.path());
    let forged = signing::request_pem(&info, &sign(other.path(), &info)).unwrap();
    std::fs::write(dir.path().join("forged.pem"), forged).unwrap();
    let refused = Command::new("openssl")
        .current_dir(dir.path())
        .args(["req", "-in", "forged.pem", "-verify", "-noout"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success()
            || !String::from_utf8_lossy(&refused.stderr).contains("verify OK")
    );
}

/// A CA and, for `key.pem`, a certificate for an alias address signed by it (PEM files
/// `ca.pem`, `cert.pem`), as the portal's answers CA issues it.
fn certificate(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Antwort-CA",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=email:antwort-x@antwort.example\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req", "-new", "-key", "key.pem", "-subj", "/", "-out", "leaf.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    );
}

/// What openssl verifies in `signed` (as `signed.eml` in `dir`) against `ca.pem`: the
/// signed content.
fn verified(dir: &Path, signed: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("signed.eml"), signed).unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "smimesign",
        ],
    )
}

fn parse(dir: &Path, name: &str) -> smime::Certificate {
    let pem = std::fs::read(dir.join(name)).unwrap();
    smime::certificate::parse_certificates(&pem)
        .unwrap()
        .remove(0)
}

#[test]
fn a_message_signed_in_two_steps_verifies_in_openssl_and_a_changed_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    key(dir.path());
    certificate(dir.path());
    let entity =
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag, bitte antworten Sie mir.\r\n";
    let digest: [u8; 32] = sha2::Sha256::digest(entity).into();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let attributes = signing::signed_attributes(&digest, at).unwrap();
    let signature = signing::detached_signature(
        &digest,
        at,
        &sign(dir.path(), &attributes),
        &parse(dir.path(), "cert.pem"),
        &[parse(dir.path(), "ca.pem")],
    )
    .unwrap();
    let signed = signing::multipart_signed(
        b"From: <antwort-x@antwort.example>\r\nReply-To: <antwort-x@antwort.example>\r\n",
        entity,
        &signature,
        "----signed-b0undary",
    );
    let content = verified(dir.path(), &signed);
    assert_eq!(content, entity);
    // The certificates came with the signature: openssl can write them out.
    let carried = openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-noverify",
            "-certsout",
            "carried.pem",
            "-out",
            "/dev/null",
        ],
    );
    drop(carried);
    let carried =
        String::from_utf8(std::fs::read(dir.path().join("carried.pem")).unwrap()).unwrap();
    assert_eq!(carried.matches("BEGIN CERTIFICATE").count(), 2);

    let changed = String::from_utf8(signed)
        .unwrap()
        .replace("bitte antworten", "bitte schweigen");
    std::fs::write(dir.path().join("changed.eml"), changed).unwrap();
    let refused = Command::new("openssl")
        .current_dir(dir.path())
        .args(["cms", "-verify", "-in", "changed.eml", "-CAfile", "ca.pem"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("verification failure"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The form's way: the entity signed in one pass, read in small pieces up to its signature,
/// signed, then read on; openssl verifies it and gets back exactly the unsigned entity,
/// whose From and Reply-To are the alias.
#[test]
fn an_entity_signed_in_one_pass_verifies_in_openssl_and_carries_the_alias() {
    let dir = tempfile::tempdir().unwrap();
    key(dir.path());
    certificate(dir.path());
    let (signer, ca) = (parse(dir.path(), "cert.pem"), parse(dir.path(), "ca.pem"));
    let at = 1_796_000_000;
    let attachment_bytes = vec![0x5a; 300_001];
    let attachments = [smime::mime::Attachment::new(
        "Grundriss Büro.pdf",
        "application/pdf",
        &attachment_bytes,
    )];
    let message = smime::mime::Message {
        form: "landratsamt-musterhausen",
        unit: Some("gewerbeamt"),
        recipient: "Gewerbeamt",
        sender_name: "Jürgen Müller",
        sender_email: "j.mueller@example.org",
        email_verified: true,
        answer_address: Some("antwort-abc@antwort.example"),
        thread: None,
        sender_phone: None,
        subject: "Gewerbeanmeldung",
        reference: None,
        text: "Bitte antworten Sie mir verschlüsselt.",
        submitted_at: at,
        attachments: &attachments,
    };
    // The signature's length is fixed before signing: the same structure around a blank
    // signature of the key's size.
    let blank =
        signing::detached_signature(&[0; 32], at, &[0; 256], &signer, std::slice::from_ref(&ca))
            .unwrap();
    let mut entity = smime::mime::Entity::signed(&message, blank.len());
    let total = entity.len() as usize;
    let mut out = Vec::new();
    let mut buffer = vec![0; 1000];
    let mut signed_once = false;
    while out.len() < total {
        let n = entity.read(&mut buffer);
        out.extend_from_slice(&buffer[..n]);
        if n == 0 {
            let digest = entity.signed_digest().expect("stopped at the signature");
            let attributes = signing::signed_attributes(&digest, at).unwrap();
            let signature = signing::detached_signature(
                &digest,
                at,
                &sign(dir.path(), &attributes),
                &signer,
                std::slice::from_ref(&ca),
            )
            .unwrap();
            assert_eq!(
                entity.set_signature(&signature[1..]),
                Err(smime::mime::SignatureError::Length {
                    expected: blank.len(),
                    actual: blank.len() - 1
                })
            );
            entity.set_signature(&signature).unwrap();
            signed_once = true;
        }
    }
    assert!(signed_once);
    assert_eq!(entity.read(&mut buffer), 0);
    let content = verified(dir.path(), &out);
    assert_eq!(content, smime::mime::compose(&message));
    let text = String::from_utf8_lossy(&out);
    let outer = &text[..text.find("\r\n\r\n").unwrap()];
    assert!(
        outer.contains(
            "From: <antwort-abc@antwort.example>\r\nReply-To: <antwort-abc@antwort.example>"
        ),
        "{outer}"
    );
    assert!(outer.contains("multipart/signed"), "{outer}");
    let inner = String::from_utf8_lossy(&content);
    assert!(
        inner.contains("\r\nFrom: <antwort-abc@antwort.example>\r\n"),
        "{inner}"
    );
}
