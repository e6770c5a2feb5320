#![cfg(all(not(target_arch = "wasm32"), feature = "answers"))]
//! The conversation key's backup file (PKCS#12): what the browser writes opens in OpenSSL and
//! in NSS (Thunderbird's key store) with the citizen's passphrase, what OpenSSL writes opens
//! here, and a wrong passphrase is told apart from a file that is no key file at all.

use std::path::Path;
use std::process::Command;

use der::Encode;
use rand_core::OsRng;
use smime::backup::{self, BackupError};
use testkit::{Issued, Leaf, Pki, openssl};

const PASSPHRASE: &str = "Grüne Wiese am Fluss 42";

struct Citizen {
    pki: Pki,
    issued: Issued,
    pkcs8: Vec<u8>,
}

fn citizen() -> Citizen {
    let pki = Pki::new();
    let issued = pki.issue(&Leaf::good("citizen", "antwort-x@antwort.example"));
    let key = issued.key_path().to_string_lossy().into_owned();
    let pkcs8 = openssl(
        pki.dir.path(),
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER",
        ],
    );
    Citizen { pki, issued, pkcs8 }
}

fn sealed(citizen: &Citizen) -> Vec<u8> {
    backup::seal(
        &citizen.pkcs8,
        &citizen.issued.certificate,
        &[citizen.pki.ca("intermediate")],
        "Postsiegel antwort-x@antwort.example",
        PASSPHRASE,
        &mut OsRng,
    )
    .unwrap()
}

/// `openssl pkcs12 -info -nodes` on `backup.p12` with `pass` (`pass:…`).
fn openssl_opens(dir: &Path, pass: &str) -> std::process::Output {
    Command::new("openssl")
        .current_dir(dir)
        .args([
            "pkcs12",
            "-in",
            "backup.p12",
            "-passin",
            pass,
            "-info",
            "-nodes",
        ])
        .output()
        .unwrap()
}

fn pem(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(openssl(dir, args)).unwrap()
}

#[test]
fn a_backup_opens_in_openssl_with_its_passphrase_and_holds_key_and_chain() {
    let citizen = citizen();
    let dir = citizen.pki.dir.path();
    std::fs::write(dir.join("backup.p12"), sealed(&citizen)).unwrap();
    let pass = format!("pass:{PASSPHRASE}");

    let out = openssl_opens(dir, &pass);
    let info = String::from_utf8_lossy(&out.stderr).into_owned();
    let contents = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{info}");
    assert!(info.contains("MAC: sha256, Iteration 600000"), "{info}");
    assert!(
        info.contains("PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256"),
        "{info}"
    );
    std::fs::write(dir.join("opened.pem"), &contents).unwrap();
    let modulus = |file: &str| pem(dir, &["rsa", "-in", file, "-noout", "-modulus"]);
    assert_eq!(modulus("opened.pem"), modulus("citizen.key"));
    let leaf = pem(dir, &["x509", "-in", "citizen.pem"]);
    let intermediate = pem(dir, &["x509", "-in", "intermediate.pem"]);
    assert!(contents.contains(leaf.trim()) && contents.contains(intermediate.trim()));
    assert!(contents.contains("friendlyName: Postsiegel antwort-x@antwort.example"));

    let wrong = openssl_opens(dir, "pass:falsch");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Mac verify error"));
}

#[test]
fn a_backup_imports_into_nss_as_thunderbird_would() {
    let citizen = citizen();
    let dir = citizen.pki.dir.path();
    std::fs::write(dir.join("backup.p12"), sealed(&citizen)).unwrap();
    std::fs::create_dir(dir.join("nss")).unwrap();
    testkit::run(
        Command::new("certutil")
            .args(["-N", "-d", "sql:nss", "--empty-password"])
            .current_dir(dir),
    );
    testkit::run(
        Command::new("pk12util")
            .args([
                "-i",
                "backup.p12",
                "-d",
                "sql:nss",
                "-W",
                PASSPHRASE,
                "-K",
                "",
            ])
            .current_dir(dir),
    );
    let keys = testkit::run(
        Command::new("certutil")
            .args(["-K", "-d", "sql:nss"])
            .current_dir(dir),
    );
    assert!(
        String::from_utf8_lossy(&keys).contains("Postsiegel antwort-x@antwort.example"),
        "{}",
        String::from_utf8_lossy(&keys)
    );
}

#[test]
fn a_backup_opens_here_as_it_was_sealed() {
    let citizen = citizen();
    let opened = backup::open(&sealed(&citizen), PASSPHRASE).unwrap();
    assert_eq!(opened.pkcs8.as_slice(), citizen.pkcs8.as_slice());
    assert_eq!(opened.certificate, citizen.issued.certificate);
    assert_eq!(opened.chain, vec![citizen.pki.ca("intermediate")]);
}

#[test]
fn what_openssl_exports_by_default_opens_here() {
    let citizen = citizen();
    let dir = citizen.pki.dir.path();
    // OpenSSL 3's defaults: key and certificates under PBES2 (AES-256-CBC), MAC HMAC-SHA256.
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "citizen.pem",
            "-inkey",
            "citizen.key",
            "-certfile",
            "intermediate.pem",
            "-out",
            "openssl.p12",
            "-passout",
            "pass:Tür 7",
        ],
    );
    let opened = backup::open(&std::fs::read(dir.join("openssl.p12")).unwrap(), "Tür 7").unwrap();
    assert_eq!(opened.pkcs8.as_slice(), citizen.pkcs8.as_slice());
    assert_eq!(
        opened.certificate.to_der().unwrap(),
        citizen.issued.certificate.to_der().unwrap()
    );
    assert_eq!(opened.chain, vec![citizen.pki.ca("intermediate")]);
}

#[test]
fn a_wrong_passphrase_is_told_apart_from_a_file_that_is_no_key_file() {
    let citizen = citizen();
    let file = sealed(&citizen);
    assert!(matches!(
        backup::open(&file, "Grüne Wiese am Fluss 43"),
        Err(BackupError::WrongPassphrase)
    ));
    assert!(matches!(
        backup::open(&file, ""),
        Err(BackupError::WrongPassphrase)
    ));
    let not_a_backup = citizen.issued.der.clone();
    assert!(matches!(
        backup::open(&not_a_backup, PASSPHRASE),
        Err(BackupError::NotPkcs12)
    ));
    assert!(matches!(
        backup::open(b"%PDF-1.7 kein Schluessel", PASSPHRASE),
        Err(BackupError::NotPkcs12)
    ));
}
