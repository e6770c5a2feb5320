#![cfg(target_arch = "wasm32")]
//! The S/MIME core in headless Chromium: encrypt, inspect, and decrypt again with the
//! fixture's private key (RSA and AES in RustCrypto), byte for byte.

use smime::certificate::{CheckContext, check_encryption_certificate, parse_certificates};
use smime::envelope::{Algorithms, Recipient, encrypt};
use smime::inspect::{EnvelopeKind, inspect};
use smime::mime::{Attachment, Message, compose};
use wasm_bindgen_test::wasm_bindgen_test as test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const CERT: &[u8] = include_bytes!("fixtures/browser-test.pem");
const KEY: &str = include_str!("fixtures/browser-test.key.pem");

#[test]
fn encrypts_in_the_browser_and_decrypts_back() {
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
    let attachments = [Attachment {
        file_name: "Grundriß.png",
        media_type: "image/png",
        content: &png,
    }];
    let entity = compose(&Message {
        form: "browser-test",
        unit: None,
        recipient: "Browser Test",
        sender_name: "Erika",
        sender_email: "erika@example.org",
        email_verified: true,
        sender_phone: None,
        subject: "Prüfung",
        reference: None,
        text: "Hallo aus dem Browser",
        submitted_at: 1_795_786_200,
        attachments: &attachments,
    });
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    let der = encrypt(
        &[recipient],
        Algorithms::default(),
        &entity,
        &mut rand_core::OsRng,
    )
    .unwrap();

    let inspection = inspect(&der).unwrap();
    assert_eq!(inspection.kind, EnvelopeKind::EnvelopedData);
    assert_eq!(inspection.total_len, der.len() as u64);
    assert!(inspection.addressed_exactly_to(std::slice::from_ref(&certificate)));

    assert_eq!(decrypt_cbc(&der), entity);
}

/// Decrypts an EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5) with the fixture's key.
fn decrypt_cbc(der: &[u8]) -> Vec<u8> {
    smime::testing::decrypt_cbc(der, KEY)
}

#[test]
fn certificate_checks_run_in_the_browser() {
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let anchors = [certificate.clone()];
    let now = smime::certificate::not_before(&certificate) + 86_400;
    let ok = check_encryption_certificate(
        &certificate,
        &CheckContext {
            now,
            mailbox: "poststelle@browser-test.example",
            anchors: &anchors,
            intermediates: &[],
            verified_elsewhere: &[],
        },
    );
    assert!(ok.is_ok(), "{ok}");
    let wrong = check_encryption_certificate(
        &certificate,
        &CheckContext {
            now,
            mailbox: "someone@else.example",
            anchors: &[],
            intermediates: &[],
            verified_elsewhere: &[],
        },
    );
    let codes: Vec<&str> = wrong.problems.iter().map(|p| p.code()).collect();
    assert_eq!(
        codes,
        ["certificate_address_missing", "certificate_untrusted"]
    );
}

/// WebCrypto and RustCrypto make the same bytes from the same key, IV and content, whatever
/// the pieces: CBC with the IV carried from piece to piece and padding only at the end; GCM
/// from CTR and GHASH, tag included.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn webcrypto_and_rustcrypto_make_identical_ciphertext() {
    use smime::envelope::{
        ContentCipher, ContentEncryption, ContentKey, SoftwareCipher, ciphertext_len,
    };
    use smime::webcrypto::WebCryptoCipher;

    let content: Vec<u8> = (0..200_003u32).map(|i| (i * 31 % 251) as u8).collect();
    for encryption in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
        let key = || ContentKey {
            encryption,
            key: zeroize::Zeroizing::new([0x5a; 32]),
            iv: if encryption == ContentEncryption::Aes256Cbc {
                [0x3c; 16]
            } else {
                [
                    0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0, 0,
                    0, 0,
                ]
            },
        };
        let total = ciphertext_len(encryption, content.len() as u64) as usize;
        // One call in software: the reference.
        let mut reference = vec![0u8; total];
        let reference_tag = SoftwareCipher::new(&key())
            .finish_now(&content, &mut reference)
            .unwrap();
        for piece in [16usize, 4096, 65_536, 1 << 20] {
            let whole = content.len() / piece * piece;
            let whole = if whole == content.len() {
                whole - piece
            } else {
                whole
            };
            let mut out = vec![0u8; total];
            let mut web = WebCryptoCipher::new(&key()).await.unwrap();
            let mut start = 0;
            while start < whole {
                let end = (start + piece).min(whole);
                web.update(&content[start..end], &mut out[start..end])
                    .await
                    .unwrap();
                start = end;
            }
            let tag = web
                .finish(&content[whole..], &mut out[whole..])
                .await
                .unwrap();
            assert!(out == reference, "{encryption:?}, pieces of {piece}");
            assert_eq!(tag, reference_tag, "{encryption:?}, pieces of {piece}");
        }
    }
}

/// The upload as the app makes it: a Blob of header, ciphertext and trailer that inspects and
/// decrypts to the entity; progress reported piece by piece up to the total.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn encrypts_to_a_blob_of_parts_with_progress() {
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let entity: Vec<u8> = (0..300_001u32).map(|i| (i % 253) as u8).collect();
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    let mut reports = Vec::new();
    let blob = smime::webcrypto::encrypt_to_blob(
        &[recipient],
        Algorithms::default(),
        smime::webcrypto::Content::Wasm(&entity),
        65_536,
        &mut rand_core::OsRng,
        |done, total| reports.push((done, total)),
    )
    .await
    .unwrap();
    assert_eq!(blob.type_(), "application/pkcs7-mime");
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .unwrap();
    let der = js_sys::Uint8Array::new(&buffer).to_vec();
    assert_eq!(der.len() as f64, blob.size());
    let inspection = inspect(&der).unwrap();
    assert_eq!(inspection.total_len, der.len() as u64);
    assert!(inspection.addressed_exactly_to(std::slice::from_ref(&certificate)));
    assert_eq!(decrypt_cbc(&der), entity);
    assert_eq!(reports.len(), 5);
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(*reports.last().unwrap(), (300_001, 300_001));
}

/// Content handed over as a JS array encrypts to the same kind of upload, without entering
/// wasm memory.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn encrypts_content_that_stays_in_javascript() {
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let entity: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let array = js_sys::Uint8Array::from(&entity[..]);
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    let blob = smime::webcrypto::encrypt_to_blob(
        &[recipient],
        Algorithms::default(),
        smime::webcrypto::Content::Js(&array),
        16_384,
        &mut rand_core::OsRng,
        |_, _| {},
    )
    .await
    .unwrap();
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .unwrap();
    assert_eq!(
        decrypt_cbc(&js_sys::Uint8Array::new(&buffer).to_vec()),
        entity
    );
}

/// A chain signed with ECDSA (P-384 root, P-256 intermediate, RSA leaf), as an app built
/// without `rust-ecdsa` checks it: WebCrypto verifies the signatures, the check trusts only
/// those. A tampered signature fails closed.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn ecdsa_chains_are_verified_with_webcrypto() {
    use smime::certificate::ecdsa_signatures;
    use smime::webcrypto::verify_ecdsa_signatures;
    let mut chain = parse_certificates(include_bytes!("fixtures/ecdsa-chain.pem")).unwrap();
    let anchors = [chain.pop().unwrap()];
    let intermediates = [chain.pop().unwrap()];
    let leaf = chain.pop().unwrap();
    let now = smime::certificate::not_before(&leaf) + 86_400;
    let check = |verified: &[smime::certificate::VerifiedSignature]| {
        check_encryption_certificate(
            &leaf,
            &CheckContext {
                now,
                mailbox: "poststelle@ecdsa-chain.example",
                anchors: &anchors,
                intermediates: &intermediates,
                verified_elsewhere: verified,
            },
        )
    };

    let pending = ecdsa_signatures(std::slice::from_ref(&leaf), &anchors, &intermediates);
    let curves: Vec<_> = pending.iter().map(|s| (s.curve, s.hash)).collect();
    assert_eq!(curves, [("P-256", "SHA-256"), ("P-384", "SHA-384")]);
    let verified = verify_ecdsa_signatures(&pending).await;
    assert_eq!(verified.len(), 2);
    let verdict = check(&verified);
    assert!(verdict.is_ok(), "{verdict}");

    // Without the browser's word on them, the same chain does not pass.
    #[cfg(not(feature = "rust-ecdsa"))]
    assert!(matches!(
        check(&[]).problems[..],
        [smime::certificate::Problem::BadSignature { .. }]
    ));

    let mut tampered = pending.clone();
    tampered[0].signature[5] ^= 1;
    let verified = verify_ecdsa_signatures(&tampered).await;
    assert_eq!(verified.len(), 1);
    #[cfg(not(feature = "rust-ecdsa"))]
    assert!(matches!(
        check(&verified).problems[..],
        [smime::certificate::Problem::BadSignature { .. }]
    ));
}
