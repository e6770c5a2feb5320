//! Certificates come from LDAP directories and import files: parsed and checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime::certificate::{
    CheckContext, check_encryption_certificate, webcrypto_signatures, mail_addresses, name_text,
    parse_certificates,
};

fuzz_target!(|data: &[u8]| {
    let Ok(certificates) = parse_certificates(data) else {
        return;
    };
    for certificate in &certificates {
        let context = CheckContext {
            now: 1_800_000_000,
            mailbox: "poststelle@lra-test.example",
            anchors: &certificates,
            intermediates: &certificates,
            verified_elsewhere: &[],
        };
        let _ = check_encryption_certificate(certificate, &context);
        let _ = name_text(&certificate.tbs_certificate.subject);
        let _ = mail_addresses(certificate);
        let _ = smime::revocation::distribution_points(certificate);
    }
    let _ = webcrypto_signatures(&certificates, &certificates, &[]);
});
