#![cfg(all(not(target_arch = "wasm32"), feature = "answers"))]
//! An authority's signed answer, as OpenSSL signs mail: the signature verifies over its
//! content and its signer passes as a signing certificate for the authority's mailbox that
//! chains to the anchors. Detached and opaque, issuer-and-serial and subject key identifier,
//! with and without signed attributes; a changed content, a stranger's chain, another
//! mailbox and an encryption-only certificate are each refused.

use smime::certificate::{CheckContext, Problem};
use smime::signed::{self, SignatureProblem};
use testkit::{Issued, Issuer, Leaf, Pki, openssl, unix};

const MAILBOX: &str = "gewerbeamt@lra-musterhausen.example";
const CONTENT: &[u8] =
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nSehr geehrter Herr M\xc3\xbcller, anbei der Bescheid.\r\n";

fn sign(pki: &Pki, signer: &Issued, extra: &[&str]) -> Vec<u8> {
    std::fs::write(pki.dir.path().join("content.txt"), CONTENT).unwrap();
    let (cert, key) = (signer.cert_path(), signer.key_path());
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-md",
        "sha256",
        "-in",
        "content.txt",
        "-outform",
        "DER",
        "-signer",
        cert.to_str().unwrap(),
        "-inkey",
        key.to_str().unwrap(),
        "-certfile",
        "intermediate.pem",
    ];
    args.extend_from_slice(extra);
    openssl(pki.dir.path(), &args)
}

fn check(
    pki: &Pki,
    signature: &[u8],
    detached: Option<&[u8]>,
    mailbox: &str,
) -> Result<signed::Verified, SignatureProblem> {
    let anchors = pki.anchors.clone();
    signed::verify(
        signature,
        detached,
        &CheckContext {
            now: unix("2026-12-03"),
            mailbox,
            anchors: &anchors,
            intermediates: &[],
            verified_elsewhere: &[],
        },
    )
}

#[test]
fn a_detached_signature_by_the_mailboxs_certificate_verifies_over_its_content() {
    let pki = Pki::new();
    let authority = pki.issue(&Leaf::good("gewerbeamt", MAILBOX));
    let signature = sign(&pki, &authority, &[]);
    let verified = check(&pki, &signature, Some(CONTENT), MAILBOX).unwrap();
    assert_eq!(verified.signer, authority.certificate);
    assert_eq!(verified.content, CONTENT);

    let mut changed = CONTENT.to_vec();
    changed[60] ^= 1;
    assert!(matches!(
        check(&pki, &signature, Some(&changed), MAILBOX),
        Err(SignatureProblem::ContentChanged)
    ));
}

#[test]
fn an_opaque_signature_gives_its_content_and_other_signer_shapes_verify_too() {
    let pki = Pki::new();
    let authority = pki.issue(&Leaf::good("gewerbeamt", MAILBOX));
    let opaque = sign(&pki, &authority, &["-nodetach"]);
    assert_eq!(
        check(&pki, &opaque, None, MAILBOX).unwrap().content,
        CONTENT
    );
    assert_eq!(signed::opaque_content(&opaque).unwrap(), CONTENT);
    // The signer named by its subject key identifier, as Outlook can write it.
    let by_key_id = sign(&pki, &authority, &["-keyid"]);
    assert!(check(&pki, &by_key_id, Some(CONTENT), MAILBOX).is_ok());
    // No signed attributes: the signature over the content itself.
    let bare = sign(&pki, &authority, &["-noattr"]);
    assert!(check(&pki, &bare, Some(CONTENT), MAILBOX).is_ok());
}

#[test]
fn a_signature_is_not_the_authoritys_unless_its_certificate_is_for_the_mailbox_and_chains_to_the_anchors()
 {
    let pki = Pki::new();
    let stranger = pki.issue(&Leaf {
        issuer: Issuer::Stranger,
        ..Leaf::good("fremd", MAILBOX)
    });
    let signature = sign(&pki, &stranger, &[]);
    let problems = refusal(check(&pki, &signature, Some(CONTENT), MAILBOX));
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::Untrusted { .. })),
        "{problems:?}"
    );

    let other = pki.issue(&Leaf::good("bauamt", "bauamt@lra-musterhausen.example"));
    let problems = refusal(check(
        &pki,
        &sign(&pki, &other, &[]),
        Some(CONTENT),
        MAILBOX,
    ));
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Problem::AddressMissing { .. })),
        "{problems:?}"
    );

    let encryption_only = pki.issue(&Leaf {
        key_usage: "critical,keyEncipherment",
        ..Leaf::good("nur-verschluesseln", MAILBOX)
    });
    let signature = sign(&pki, &encryption_only, &[]);
    let problems = refusal(check(&pki, &signature, Some(CONTENT), MAILBOX));
    assert_eq!(problems, vec![Problem::NoDigitalSignature]);
    assert!(matches!(
        check(&pki, b"kein CMS", Some(CONTENT), MAILBOX),
        Err(SignatureProblem::Unreadable)
    ));
}

/// The signer's certificate's problems, for a signature refused because of them.
fn refusal(result: Result<signed::Verified, SignatureProblem>) -> Vec<Problem> {
    match result {
        Err(SignatureProblem::Certificate(verdict)) => verdict.problems,
        other => panic!("not refused for its certificate: {:?}", other.map(|_| ())),
    }
}
