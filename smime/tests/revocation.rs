#![cfg(not(target_arch = "wasm32"))]
//! CRL judgement against CRLs made by `openssl ca`.

use smime::revocation::{CrlError, GRACE_SECONDS, Status, distribution_points, parse_crl, status};
use testkit::{Leaf, Pki};

const MAILBOX: &str = "poststelle@lra-test.example";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn fresh_revoked_and_stale_crls() {
    let pki = Pki::new();
    let good = pki.issue(&Leaf {
        crl_distribution_points: Some("URI:http://crl.lra-test.example/issuing.crl,URI:ldap://ldap.lra-test.example/cn=Test%20Issuing%20CA?certificateRevocationList,URI:https://ignored.example/x.crl"),
        ..Leaf::good("good", MAILBOX)
    });
    let revoked = pki.issue(&Leaf::good("revoked", MAILBOX));
    pki.revoke(&revoked);
    let issuer = pki.ca("intermediate");
    let crl = parse_crl(&pki.crl("intermediate", 48)).unwrap();
    let now = now();

    let Status::Good { valid_until } = status(&good.certificate, &crl, &issuer, now).unwrap()
    else {
        panic!("not good")
    };
    // nextUpdate is 48 hours away; the CRL may be used 24 hours beyond it.
    assert!((valid_until as i64 - (now + 48 * 3600 + GRACE_SECONDS) as i64).abs() < 120);
    assert!(matches!(
        status(&revoked.certificate, &crl, &issuer, now),
        Ok(Status::Revoked { .. })
    ));

    // Past nextUpdate plus the grace period the CRL is stale: fail closed.
    assert!(matches!(
        status(
            &good.certificate,
            &crl,
            &issuer,
            now + 47 * 3600 + GRACE_SECONDS
        ),
        Ok(Status::Good { .. })
    ));
    assert!(matches!(
        status(
            &good.certificate,
            &crl,
            &issuer,
            now + 49 * 3600 + GRACE_SECONDS
        ),
        Ok(Status::Stale { .. })
    ));

    assert_eq!(
        distribution_points(&good.certificate),
        vec![
            "http://crl.lra-test.example/issuing.crl".to_owned(),
            "ldap://ldap.lra-test.example/cn=Test%20Issuing%20CA?certificateRevocationList"
                .to_owned(),
        ]
    );
    assert_eq!(
        distribution_points(&revoked.certificate),
        Vec::<String>::new()
    );
}

#[test]
fn a_crl_from_another_issuer_or_with_a_bad_signature_is_refused() {
    let pki = Pki::new();
    let good = pki.issue(&Leaf::good("good", MAILBOX));
    let issuer = pki.ca("intermediate");
    let stranger_crl = parse_crl(&pki.crl("stranger", 48)).unwrap();
    assert!(matches!(
        status(&good.certificate, &stranger_crl, &pki.ca("stranger"), now()),
        Err(CrlError::WrongIssuer { .. })
    ));

    let mut der = pki.crl("intermediate", 48);
    let last = der.len() - 1;
    der[last] ^= 0x01; // in the signature
    let tampered = parse_crl(&der).unwrap();
    assert_eq!(
        status(&good.certificate, &tampered, &issuer, now()),
        Err(CrlError::BadSignature)
    );

    assert!(parse_crl(b"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n").is_err());
}
