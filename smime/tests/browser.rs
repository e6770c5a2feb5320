#![cfg(target_arch = "wasm32")]
//! The S/MIME core in headless Chromium: encrypt, inspect, and decrypt again with the
//! fixture's private key (RSA and AES in RustCrypto), byte for byte.

use smime::certificate::{CheckContext, check_encryption_certificate, parse_certificates};
use smime::envelope::{Algorithms, Recipient, encrypt};
use smime::inspect::{EnvelopeKind, inspect};
use smime::mime::{Attachment, Message, compose};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test as test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/cipher_reference.rs"]
mod reference;

const CERT: &[u8] = include_bytes!("fixtures/browser-test.pem");
const KEY: &str = include_str!("fixtures/browser-test.key.pem");

#[test]
fn encrypts_in_the_browser_and_decrypts_back() {
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
    let attachments = [Attachment::new("Grundriß.png", "image/png", &png)];
    let entity = compose(&message("Hallo aus dem Browser", &attachments));
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

/// A message from the browser test's citizen with `text` and `attachments`.
fn message<'a>(text: &'a str, attachments: &'a [Attachment<'a>]) -> Message<'a> {
    Message {
        form: "browser-test",
        unit: None,
        recipient: "Browser Test",
        sender_name: "Erika",
        sender_email: "erika@example.org",
        email_verified: true,
        answer_address: None,
        thread: None,
        sender_phone: None,
        subject: "Prüfung",
        reference: None,
        text,
        submitted_at: 1_795_786_200,
        attachments,
    }
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

/// WebCrypto makes RustCrypto's bytes from the same key, IV and content, whatever the
/// pieces: CBC with the IV carried from piece to piece and padding only at the end; GCM
/// from CTR and GHASH, tag included. RustCrypto's output is the reference computed
/// natively (`support/cipher_reference.rs` says why), compared by WebCrypto's SHA-256.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn webcrypto_and_rustcrypto_make_identical_ciphertext() {
    use smime::envelope::{ContentCipher, ContentEncryption, ciphertext_len};
    use smime::webcrypto::WebCryptoCipher;

    let content = reference::content();
    for encryption in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
        let total = ciphertext_len(encryption, content.len() as u64) as usize;
        let (reference_digest, reference_tag) = reference::reference(encryption);
        for piece in [16usize, 4096, 65_536, 1 << 20] {
            let whole = content.len() / piece * piece;
            let whole = if whole == content.len() {
                whole - piece
            } else {
                whole
            };
            let mut out = vec![0u8; total];
            let mut web = WebCryptoCipher::new(&reference::key(encryption))
                .await
                .unwrap();
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
            let digest = smime::webcrypto::sha256(&js_sys::Uint8Array::from(&out[..]))
                .await
                .unwrap();
            assert_eq!(
                reference::hex(&digest),
                reference_digest,
                "{encryption:?}, pieces of {piece}"
            );
            assert_eq!(
                tag.map(|t| reference::hex(&t)).as_deref(),
                reference_tag,
                "{encryption:?}, pieces of {piece}"
            );
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
    use smime::certificate::webcrypto_signatures;
    use smime::webcrypto::verify_signatures;
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

    let pending = webcrypto_signatures(std::slice::from_ref(&leaf), &anchors, &intermediates);
    let curves: Vec<_> = pending.iter().map(|s| (s.curve, s.hash)).collect();
    assert_eq!(
        curves,
        [(Some("P-256"), "SHA-256"), (Some("P-384"), "SHA-384")]
    );
    let verified = verify_signatures(&pending).await;
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
    let verified = verify_signatures(&tampered).await;
    assert_eq!(verified.len(), 1);
    #[cfg(not(feature = "rust-ecdsa"))]
    assert!(matches!(
        check(&verified).problems[..],
        [smime::certificate::Problem::BadSignature { .. }]
    ));
}

/// Randomness that repeats: two encryptions drawing from equal seeds draw the same key, IV
/// and padding, so their outputs can be compared byte for byte.
struct Repeatable(u64);

impl rand_core::RngCore for Repeatable {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Repeatable {}

/// The app's way: the entity made piece by piece from an attachment left in JavaScript,
/// each piece made while WebCrypto encrypts the one before. In CBC and in GCM the upload
/// is byte for byte what RustCrypto makes of the entity `compose` builds in one buffer, and
/// the citizen's copy (`entity_blob`) is that entity.
#[test]
async fn the_entity_made_in_pieces_encrypts_as_the_whole() {
    use smime::envelope::ContentEncryption;
    use smime::webcrypto::{Content, JsBytes, encrypt_to_blob};
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..700_001u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8))
        .collect();
    let in_js = JsBytes(js_sys::Uint8Array::from(&pdf[..]));
    let digest = smime::webcrypto::sha256(&in_js.0).await.unwrap();
    let whole = compose(&message(
        "Anbei.",
        &[Attachment::new("Plan.pdf", "application/pdf", &pdf)],
    ));
    let from_js = [Attachment {
        file_name: "Plan.pdf",
        media_type: "application/pdf",
        content: smime::mime::Body::Source(&in_js),
        sha256: digest,
    }];
    for content in [ContentEncryption::Aes256Cbc, ContentEncryption::Aes256Gcm] {
        let algorithms = Algorithms {
            content,
            ..Algorithms::default()
        };
        let mut entity = smime::mime::Entity::new(&message("Anbei.", &from_js));
        let blob = encrypt_to_blob(
            std::slice::from_ref(&recipient),
            algorithms,
            Content::Entity(&mut entity),
            100_000,
            &mut Repeatable(7),
            |_, _| {},
        )
        .await
        .unwrap();
        let upload = bytes_of(&blob).await;
        let reference = encrypt(
            std::slice::from_ref(&recipient),
            algorithms,
            &whole,
            &mut Repeatable(7),
        )
        .unwrap();
        assert!(upload == reference, "{content:?}: the uploads differ");
        let mut entity = smime::mime::Entity::new(&message("Anbei.", &from_js));
        let copy = smime::webcrypto::entity_blob(&mut entity, "message/rfc822").unwrap();
        assert!(
            bytes_of(&copy).await == whole,
            "{content:?}: the copy differs"
        );
    }
}

async fn bytes_of(blob: &web_sys::Blob) -> Vec<u8> {
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .unwrap();
    js_sys::Uint8Array::new(&buffer).to_vec()
}

/// WebCrypto that does not answer (WebKitGTK, rarely and under load, has left a
/// verification pending for good): by the deadline it counts as "does not hold", so the
/// check verifies an RSA chain itself and fails an ECDSA one closed, instead of the send
/// waiting for ever.
#[test]
async fn a_verification_that_never_settles_counts_as_not_holding() {
    use smime::certificate::webcrypto_signatures;
    use smime::webcrypto::verify_signatures_within;
    let mut ecdsa = parse_certificates(include_bytes!("fixtures/ecdsa-chain.pem")).unwrap();
    let rsa = parse_certificates(CERT).unwrap().remove(0);
    let ecdsa_anchors = [ecdsa.pop().unwrap()];
    let intermediates = [ecdsa.pop().unwrap()];
    let ecdsa_leaf = ecdsa.pop().unwrap();
    let rsa_anchors = [rsa.clone()];
    let cases: [(_, &[_], &[_], _, _); 2] = [
        (
            &rsa,
            &rsa_anchors,
            &[],
            "poststelle@browser-test.example",
            true,
        ),
        (
            &ecdsa_leaf,
            &ecdsa_anchors,
            &intermediates,
            "poststelle@ecdsa-chain.example",
            false,
        ),
    ];
    for (leaf, anchors, intermediates, mailbox, passes) in cases {
        let pending = webcrypto_signatures(std::slice::from_ref(leaf), anchors, intermediates);
        let held = hang_verifications();
        let verified = verify_signatures_within(&pending, 300).await;
        answer_verifications();
        assert_eq!(held.call0(&JsValue::NULL).unwrap(), pending.len() as f64);
        assert!(verified.is_empty(), "{mailbox}");
        let verdict = check_encryption_certificate(
            leaf,
            &CheckContext {
                now: smime::certificate::not_before(leaf) + 86_400,
                mailbox,
                anchors,
                intermediates,
                verified_elsewhere: &verified,
            },
        );
        #[cfg(not(feature = "rust-ecdsa"))]
        assert_eq!(verdict.is_ok(), passes, "{mailbox}: {verdict}");
        #[cfg(feature = "rust-ecdsa")]
        assert!(verdict.is_ok(), "{mailbox}: {verdict}; {passes}");
    }
}

/// Makes every call of `crypto.subtle.verify` return a promise that never settles; gives
/// a function that tells how many calls it held.
fn hang_verifications() -> js_sys::Function {
    js_sys::Function::new_no_args(
        "let held = 0;
         crypto.subtle.verify = () => { held += 1; return new Promise(() => {}); };
         return () => held;",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .unchecked_into()
}

/// `crypto.subtle.verify` as the browser has it.
fn answer_verifications() {
    js_sys::Function::new_no_args("delete crypto.subtle.verify;")
        .call0(&JsValue::NULL)
        .unwrap();
}

/// RSA signatures of a chain go to WebCrypto too (many times faster than RSA in wasm):
/// one that holds is reported, a tampered one is not, and the check passes on WebCrypto's
/// word. Without it the check verifies the signature itself.
#[test]
async fn rsa_signatures_are_verified_with_webcrypto() {
    use smime::certificate::webcrypto_signatures;
    use smime::webcrypto::verify_signatures;
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let anchors = [certificate.clone()];
    let pending = webcrypto_signatures(std::slice::from_ref(&certificate), &anchors, &[]);
    let kinds: Vec<_> = pending.iter().map(|s| (s.curve, s.hash)).collect();
    assert_eq!(kinds, [(None, "SHA-256")]);
    let verified = verify_signatures(&pending).await;
    assert_eq!(verified.len(), 1);
    let mut tampered = pending.clone();
    tampered[0].signature[7] ^= 1;
    assert!(verify_signatures(&tampered).await.is_empty());
    for verified_elsewhere in [&verified[..], &[]] {
        let verdict = check_encryption_certificate(
            &certificate,
            &CheckContext {
                now: 1_798_761_600,
                mailbox: "poststelle@browser-test.example",
                anchors: &anchors,
                intermediates: &[],
                verified_elsewhere,
            },
        );
        assert!(verdict.is_ok(), "{verdict}");
    }
}

/// WebCrypto's AES-CBC decryption in pieces gives back what RustCrypto encrypted, whatever
/// the length against the piece (WebCrypto checks padding on every call; only the last
/// piece has it), and refuses a damaged end or a length that is not whole blocks.
#[test]
async fn webcrypto_decrypts_cbc_in_pieces_as_rustcrypto_encrypted() {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let key = [7u8; 32];
    let iv = [9u8; 16];
    for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 200, 4096, 5000] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mut buffer = plaintext.clone();
        buffer.resize(len + 16, 0);
        let ciphertext = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut buffer, len)
            .unwrap()
            .to_vec();
        for piece in [16, 64, 4096] {
            let opened = smime::webcrypto::decrypt_cbc(&key, &iv, &ciphertext, piece)
                .await
                .unwrap();
            assert_eq!(opened, plaintext, "{len} bytes in pieces of {piece}");
        }
        let mut damaged = ciphertext.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x5a;
        assert!(
            smime::webcrypto::decrypt_cbc(&key, &iv, &damaged, 64)
                .await
                .is_err(),
            "{len}: a damaged end (its padding) is refused"
        );
    }
    let ciphertext = [0u8; 40];
    assert!(
        smime::webcrypto::decrypt_cbc(&key, &iv, &ciphertext, 64)
            .await
            .is_err()
    );
}

/// A signed entity encrypted in pieces: the signer gets the SHA-256 of exactly the signed
/// part (WebCrypto's, of the bytes copied as they were made, the same as Rust's over the
/// entity read whole), and the signature stands where it is due.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn a_signed_entity_is_signed_over_webcryptos_digest_of_its_signed_part() {
    use sha2::Digest;
    let certificate = parse_certificates(CERT).unwrap().remove(0);
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8))
        .collect();
    let attachments = [Attachment::new("Nachweis.pdf", "application/pdf", &pdf)];
    let message = message("Signiert aus dem Browser", &attachments);
    const SIGNATURE: usize = 400;
    // Rust's digest, over the entity read to where the signature is due.
    let mut reference = smime::mime::Entity::signed(&message, SIGNATURE);
    let mut head = vec![0; reference.len() as usize];
    let made = reference.read(&mut head);
    let expected = reference.signed_digest().unwrap();
    let range = reference.signed_range().unwrap();
    let direct: [u8; 32] =
        sha2::Sha256::digest(&head[range.start as usize..range.end as usize]).into();
    assert_eq!(expected, direct);

    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let told = seen.clone();
    let signer: Box<smime::webcrypto::Signer> = Box::new(move |digest| {
        told.set(Some(digest));
        Box::pin(async { Ok(vec![0x30; SIGNATURE]) })
    });
    let mut entity = smime::mime::Entity::signed(&message, SIGNATURE);
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    // Small pieces, so that the signed part spans many and ends inside one.
    let blob = smime::webcrypto::encrypt_to_blob(
        &[recipient],
        Algorithms::default(),
        smime::webcrypto::Content::Signed(&mut entity, &*signer),
        16_384,
        &mut rand_core::OsRng,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(seen.get(), Some(expected));
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .unwrap();
    let plain = decrypt_cbc(&js_sys::Uint8Array::new(&buffer).to_vec());
    assert_eq!(plain.len() as u64, reference.len());
    assert!(plain[..made] == head[..made], "the signed part differs");
    let mut lines = Vec::new();
    smime::mime::base64_lines(&mut lines, &[0x30; SIGNATURE]);
    assert!(
        plain[made..].starts_with(&lines),
        "the signature is not where it is due"
    );
}
