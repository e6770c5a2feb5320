#![cfg(not(target_arch = "wasm32"))]
//! Certificate checks against certificates made by the openssl command line.

use smime::certificate::{CheckContext, Problem, check_encryption_certificate, mail_addresses};
use testkit::{Issuer, Leaf, Pki, unix};

const MAILBOX: &str = "poststelle@lra-test.example";

fn check(pki: &Pki, leaf: &Leaf, now: &str) -> Vec<Problem> {
    let issued = pki.issue(leaf);
    let context = CheckContext {
        now: unix(now),
        mailbox: MAILBOX,
        anchors: &pki.anchors,
        intermediates: &pki.intermediates,
        verified_elsewhere: &[],
    };
    check_encryption_certificate(&issued.certificate, &context).problems
}

#[test]
fn certificate_checks_accept_good_chains_and_name_each_problem() {
    let pki = Pki::new();
    let good = Leaf::good("good", MAILBOX);

    // A good chain through an intermediate, RSA with SHA-256 (leaf) and SHA-384 (intermediate).
    assert_eq!(check(&pki, &good, "2026-11-27"), vec![]);
    // The same through ECDSA: P-384 root, P-256 intermediate, signatures with SHA-256/384.
    let ec = Leaf {
        name: "ec-chain",
        issuer: Issuer::EcIntermediate,
        ..good.clone()
    };
    assert_eq!(check(&pki, &ec, "2026-11-27"), vec![]);
    let sha512 = Leaf {
        name: "sha512",
        digest: "sha512",
        ..good.clone()
    };
    assert_eq!(check(&pki, &sha512, "2026-11-27"), vec![]);
    // The address compares without regard to case; no EKU at all is fine.
    let upper = Leaf {
        name: "upper",
        email: "Poststelle@LRA-Test.example",
        extended_key_usage: None,
        ..good.clone()
    };
    assert_eq!(check(&pki, &upper, "2026-11-27"), vec![]);

    let expired = Leaf {
        name: "expired",
        not_before: "20200101000000Z",
        not_after: "20230101000000Z",
        ..good.clone()
    };
    assert!(matches!(
        check(&pki, &expired, "2026-11-27")[..],
        [Problem::Expired { .. }]
    ));
    let future = Leaf {
        name: "future",
        not_before: "20300101000000Z",
        not_after: "20330101000000Z",
        ..good.clone()
    };
    let problems = check(&pki, &future, "2026-11-27");
    assert!(
        matches!(problems[..], [Problem::NotYetValid { .. }]),
        "{problems:?}"
    );
    assert!(
        problems[0].to_string().contains("2030-01-01"),
        "{}",
        problems[0]
    );

    let signing_only = Leaf {
        name: "signing",
        key_usage: "critical,digitalSignature",
        ..good.clone()
    };
    assert_eq!(
        check(&pki, &signing_only, "2026-11-27"),
        vec![Problem::NoKeyEncipherment]
    );
    let tls = Leaf {
        name: "tls",
        extended_key_usage: Some("serverAuth"),
        ..good.clone()
    };
    assert_eq!(
        check(&pki, &tls, "2026-11-27"),
        vec![Problem::NoEmailProtection]
    );

    let other_address = Leaf {
        name: "other",
        email: "gewerbeamt@lra-test.example",
        ..good.clone()
    };
    let problems = check(&pki, &other_address, "2026-11-27");
    assert_eq!(
        problems,
        vec![Problem::AddressMissing {
            mailbox: MAILBOX.to_owned(),
            addresses: vec!["gewerbeamt@lra-test.example".to_owned()],
        }]
    );
    assert!(
        problems[0]
            .to_string()
            .contains("gewerbeamt@lra-test.example")
    );

    let small = Leaf {
        name: "small",
        key: "rsa:1024",
        ..good.clone()
    };
    assert_eq!(
        check(&pki, &small, "2026-11-27"),
        vec![Problem::KeyTooSmall { bits: 1024 }]
    );
    let ec_leaf = Leaf {
        name: "ec-leaf",
        key: "ec",
        ..good.clone()
    };
    assert_eq!(check(&pki, &ec_leaf, "2026-11-27"), vec![Problem::NotRsa]);

    let untrusted = Leaf {
        name: "untrusted",
        issuer: Issuer::Stranger,
        ..good.clone()
    };
    let problems = check(&pki, &untrusted, "2026-11-27");
    assert!(
        matches!(problems[..], [Problem::Untrusted { .. }]),
        "{problems:?}"
    );
    assert_eq!(problems[0].code(), "certificate_untrusted");

    // The intermediate itself is valid only from 2024: before that the chain fails.
    let early = Leaf {
        name: "early",
        not_before: "20200101000000Z",
        ..good.clone()
    };
    let problems = check(&pki, &early, "2022-06-01");
    assert!(
        matches!(problems[..], [Problem::IssuerNotValid { .. }]),
        "{problems:?}"
    );

    // Several problems at once are all reported.
    let bad = Leaf {
        name: "bad",
        key: "rsa:1024",
        email: "x@y.example",
        issuer: Issuer::Stranger,
        ..expired
    };
    assert_eq!(check(&pki, &bad, "2026-11-27").len(), 4);
}

#[test]
fn a_forged_signature_is_refused() {
    let pki = Pki::new();
    let issued = pki.issue(&Leaf::good("forged", MAILBOX));
    let mut forged = issued.certificate.clone();
    // Change the subject's serial: the issuer's signature no longer covers it.
    let mut serial = forged.tbs_certificate.serial_number.as_bytes().to_vec();
    *serial.last_mut().unwrap() ^= 1;
    forged.tbs_certificate.serial_number =
        x509_cert::serial_number::SerialNumber::new(&serial).unwrap();
    let context = CheckContext {
        now: unix("2026-11-27"),
        mailbox: MAILBOX,
        anchors: &pki.anchors,
        intermediates: &pki.intermediates,
        verified_elsewhere: &[],
    };
    let verdict = check_encryption_certificate(&forged, &context);
    assert!(
        matches!(verdict.problems[..], [Problem::BadSignature { .. }]),
        "{verdict:?}"
    );
    assert!(check_encryption_certificate(&issued.certificate, &context).is_ok());
}

#[test]
fn pem_bundles_and_der_both_parse() {
    let pki = Pki::new();
    let issued = pki.issue(&Leaf::good("bundle", MAILBOX));
    let mut bundle = std::fs::read(issued.cert_path()).unwrap();
    bundle.extend(std::fs::read(pki.dir.path().join("intermediate.pem")).unwrap());
    let parsed = smime::certificate::parse_certificates(&bundle).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0], issued.certificate);
    assert_eq!(
        smime::certificate::parse_certificates(&issued.der).unwrap(),
        vec![issued.certificate.clone()]
    );
    assert!(smime::certificate::parse_certificates(b"hello").is_err());
    assert_eq!(
        mail_addresses(&issued.certificate),
        vec![MAILBOX.to_owned()]
    );
}

#[test]
fn names_read_as_x509_cert_writes_them() {
    for text in [
        "CN=Postsiegel Demo-CA,O=Postsiegel Demo,C=DE",
        "CN=Stadt\\, Amt,OU=IT+OU=Post,O=Stadt,C=DE",
        "EMAILADDRESS=poststelle@example.de,CN=Poststelle",
        "CN=\\#1 Amt ,O=Stadt",
    ] {
        check_name(text);
    }
    // Every attribute of the table, by OID, against x509-cert's own rendering.
    for oid in [
        "2.5.4.3",
        "2.5.4.4",
        "2.5.4.5",
        "2.5.4.6",
        "2.5.4.7",
        "2.5.4.8",
        "2.5.4.9",
        "2.5.4.10",
        "2.5.4.11",
        "2.5.4.12",
        "2.5.4.42",
        "2.5.4.97",
        "1.2.840.113549.1.9.1",
        "0.9.2342.19200300.100.1.1",
        "0.9.2342.19200300.100.1.25",
        "1.2.3.4",
    ] {
        check_name(&format!("{oid}=#0c0141"));
    }
}

fn check_name(text: &str) {
    use std::str::FromStr;
    let name = x509_cert::name::Name::from_str(text).unwrap();
    assert_eq!(
        smime::certificate::name_text(&name),
        name.to_string(),
        "{text}"
    );
}
