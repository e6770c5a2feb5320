#![cfg(not(target_arch = "wasm32"))]
//! Inputs that once broke a parser (found by an attack on the portal, or by `scripts/fuzz`),
//! kept in `fuzz/regressions/<target>/` and run here the way the fuzz target runs them:
//! each must come to an answer, never a panic.

use std::path::PathBuf;

use smime::envelope::Algorithms;

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut inputs: Vec<_> = entries
        .flatten()
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn the_inspector_answers_every_input_that_once_broke_it() {
    let inputs = regressions("inspect");
    assert!(
        !inputs.is_empty(),
        "the overflow found by the attack is kept"
    );
    for (path, data) in inputs {
        let result = std::panic::catch_unwind(|| {
            if let Ok(found) = smime::inspect::inspect(&data) {
                let _ = found.check_policy(Algorithms::default(), &[]);
                let _ = found.trailer_len();
            }
        });
        assert!(result.is_ok(), "{} panics", path.display());
    }
}

#[test]
fn the_certificate_and_crl_parsers_answer_every_input_that_once_broke_them() {
    for (path, data) in regressions("certificate") {
        let result = std::panic::catch_unwind(|| {
            for certificate in smime::certificate::parse_certificates(&data).unwrap_or_default() {
                let _ = smime::certificate::name_text(&certificate.tbs_certificate.subject);
                let _ = smime::revocation::distribution_points(&certificate);
            }
        });
        assert!(result.is_ok(), "{} panics", path.display());
    }
    for (path, data) in regressions("crl") {
        let result = std::panic::catch_unwind(|| smime::revocation::parse_crl(&data).is_ok());
        assert!(result.is_ok(), "{} panics", path.display());
    }
}
