#![cfg(all(not(target_arch = "wasm32"), feature = "answers"))]
//! Opening answers as openssl encrypts them, beyond what the portal's answers tests send
//! (which open answers from openssl, gpgsm and NSS): two recipients, AES-192, RSA-OAEP with
//! SHA-1 (Outlook's), and the refusals: another certificate, another key, a changed GCM
//! message (refused before any plaintext).

use std::path::Path;

use testkit::openssl;

use smime::open::{OpenError, decrypt};

const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nIhr Antrag ist bewilligt.\r\n";

/// A key `<name>.key` and a certificate `<name>.pem` for it; both parsed.
fn holder(dir: &Path, name: &str) -> (smime::Certificate, rsa::RsaPrivateKey) {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "1",
        ],
    );
    let pem = std::fs::read(dir.join(&cert)).unwrap();
    let certificate = smime::certificate::parse_certificates(&pem)
        .unwrap()
        .remove(0);
    let key_pem = std::fs::read_to_string(dir.join(&key)).unwrap();
    let key =
        <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key_pem).unwrap();
    (certificate, key)
}

/// `ENTITY` as `openssl cms -encrypt` writes it with `cipher`, to each of `recipients`
/// with the key transport options `keyopts`.
fn encrypted(dir: &Path, cipher: &str, keyopts: &[&str], recipients: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("entity.txt"), ENTITY).unwrap();
    let mut args = vec![
        "cms",
        "-encrypt",
        "-binary",
        "-in",
        "entity.txt",
        "-outform",
        "DER",
        cipher,
    ];
    for recipient in recipients {
        args.extend_from_slice(&["-recip", recipient]);
        for option in keyopts {
            args.extend_from_slice(&["-keyopt", option]);
        }
    }
    openssl(dir, &args)
}

#[test]
fn answers_to_several_recipients_in_every_algorithm_open_with_the_right_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let (mine, my_key) = holder(dir.path(), "citizen");
    let (theirs, their_key) = holder(dir.path(), "colleague");
    for (cipher, keyopts) in [
        ("-aes192", &[][..]),
        ("-aes256", &["rsa_padding_mode:oaep"]),
        ("-aes-128-gcm", &[]),
    ] {
        let message = encrypted(
            dir.path(),
            cipher,
            keyopts,
            &["colleague.pem", "citizen.pem"],
        );
        assert_eq!(
            decrypt(&message, &mine, &my_key).as_deref(),
            Ok(ENTITY),
            "{cipher} {keyopts:?}"
        );
        assert_eq!(
            decrypt(&message, &theirs, &their_key).as_deref(),
            Ok(ENTITY),
            "{cipher} {keyopts:?}"
        );
        let only_theirs = encrypted(dir.path(), cipher, keyopts, &["colleague.pem"]);
        assert_eq!(
            decrypt(&only_theirs, &mine, &my_key),
            Err(OpenError::NotForThisKey)
        );
        // The right certificate with another key: the content key does not come out.
        assert!(matches!(
            decrypt(&only_theirs, &theirs, &my_key),
            Err(OpenError::KeyUnwrap | OpenError::Damaged | OpenError::Tampered)
        ));
    }
}

#[test]
fn a_changed_gcm_answer_is_refused_and_garbage_too() {
    let dir = tempfile::tempdir().unwrap();
    let (mine, my_key) = holder(dir.path(), "citizen");
    let mut message = encrypted(dir.path(), "-aes-256-gcm", &[], &["citizen.pem"]);
    let at = message.len() - 30;
    message[at] ^= 1;
    assert_eq!(decrypt(&message, &mine, &my_key), Err(OpenError::Tampered));
    assert_eq!(decrypt(b"hello", &mine, &my_key), Err(OpenError::Malformed));
}
