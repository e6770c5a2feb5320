//! CRLs are fetched over http:// and ldap:// from what certificates name.
#![no_main]

use libfuzzer_sys::fuzz_target;

const ISSUER: &[u8] = include_bytes!("../../smime/tests/fixtures/browser-test.pem");

fuzz_target!(|data: &[u8]| {
    let Ok(crl) = smime::revocation::parse_crl(data) else {
        return;
    };
    let issuer = smime::certificate::parse_certificates(ISSUER).unwrap().remove(0);
    let _ = smime::revocation::status(&issuer, &crl, &issuer, 1_800_000_000);
});
