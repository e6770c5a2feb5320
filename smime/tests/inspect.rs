#![cfg(not(target_arch = "wasm32"))]
//! Inspecting uploads without decrypting them.

use rand_core::OsRng;
use smime::envelope::{Algorithms, ContentEncryption, Envelope, KeyTransport, Recipient, encrypt};
use smime::inspect::{EnvelopeKind, INSPECT_LIMIT, InspectError, inspect};
use testkit::{Leaf, Pki, openssl};

#[test]
fn inspection_names_the_recipients_and_the_exact_length_from_the_header_alone() {
    let pki = Pki::new();
    let a = pki.issue(&Leaf::good("a", "a@lra-test.example"));
    let b = pki.issue(&Leaf::good("b", "b@lra-test.example"));
    let c = pki.issue(&Leaf::good("c", "c@lra-test.example"));
    let recipients: Vec<Recipient> = [&a, &b]
        .iter()
        .map(|i| Recipient::from_certificate(&i.certificate).unwrap())
        .collect();
    let content = vec![0x41u8; 3_000_000];

    for (encryption, kind) in [
        (ContentEncryption::Aes256Cbc, EnvelopeKind::EnvelopedData),
        (
            ContentEncryption::Aes256Gcm,
            EnvelopeKind::AuthEnvelopedData,
        ),
    ] {
        let algorithms = Algorithms {
            content: encryption,
            key_transport: KeyTransport::RsaOaepSha256,
        };
        let der = encrypt(&recipients, algorithms, &content, &mut OsRng).unwrap();
        let envelope =
            Envelope::new(&recipients, algorithms, content.len() as u64, &mut OsRng).unwrap();
        let header_len = envelope.header().len();
        assert_eq!(envelope.total_len(), der.len() as u64);

        // Every prefix shorter than the header asks for more; the header alone suffices.
        for n in [0, 1, 10, header_len / 2, header_len - 1] {
            assert_eq!(
                inspect(&der[..n]),
                Err(InspectError::Incomplete),
                "prefix {n}"
            );
        }
        let inspection = inspect(&der[..header_len]).unwrap();
        assert_eq!(inspection, inspect(&der[..INSPECT_LIMIT]).unwrap());
        assert_eq!(inspection.kind, kind);
        assert_eq!(inspection.total_len, der.len() as u64);
        assert_eq!(inspection.ciphertext_offset, header_len as u64);
        assert_eq!(inspection.recipients.len(), 2);
        assert!(inspection.addressed_exactly_to(&[a.certificate.clone(), b.certificate.clone()]));
        assert!(inspection.addressed_exactly_to(&[b.certificate.clone(), a.certificate.clone()]));
        assert!(!inspection.addressed_exactly_to(std::slice::from_ref(&a.certificate)));
        assert!(!inspection.addressed_exactly_to(&[
            a.certificate.clone(),
            b.certificate.clone(),
            c.certificate.clone()
        ]));

        let trailer_start = (inspection.ciphertext_offset + inspection.ciphertext_len) as usize;
        inspection.check_trailer(&der[trailer_start..]).unwrap();
        let mut longer = der[trailer_start..].to_vec();
        longer.push(0);
        assert!(inspection.check_trailer(&longer).is_err());
    }
}

#[test]
fn foreign_and_malformed_uploads_are_named() {
    let pki = Pki::new();
    let a = pki.issue(&Leaf::good("a", "a@lra-test.example"));
    let dir = pki.dir.path();
    std::fs::write(
        dir.join("m.txt"),
        b"Content-Type: text/plain\r\n\r\nhallo\r\n",
    )
    .unwrap();
    let key = a.key_path().to_string_lossy().into_owned();
    let cert = a.cert_path().to_string_lossy().into_owned();

    // What OpenSSL makes (DER) inspects like our own.
    let theirs = openssl(
        dir,
        &[
            "cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-in", "m.txt", &cert,
        ],
    );
    let inspection = inspect(&theirs).unwrap();
    assert_eq!(inspection.total_len, theirs.len() as u64);
    assert!(inspection.addressed_exactly_to(std::slice::from_ref(&a.certificate)));

    // Streamed BER with indefinite lengths is not what our app sends.
    let streamed = openssl(
        dir,
        &[
            "cms", "-encrypt", "-binary", "-stream", "-aes256", "-outform", "DER", "-in", "m.txt",
            &cert,
        ],
    );
    assert_eq!(inspect(&streamed), Err(InspectError::IndefiniteLength));

    let signed = openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            "m.txt",
            "-signer",
            &cert,
            "-inkey",
            &key,
        ],
    );
    assert_eq!(inspect(&signed), Err(InspectError::SignedOnly));

    let data = openssl(
        dir,
        &["cms", "-data_create", "-outform", "DER", "-in", "m.txt"],
    );
    assert!(matches!(inspect(&data), Err(InspectError::NotEncrypted(_))));

    assert_eq!(
        inspect(b"%PDF-1.7 not a CMS message"),
        Err(InspectError::NotCms)
    );
    assert_eq!(
        inspect(&[0x30, 0x80, 0x06]),
        Err(InspectError::IndefiniteLength)
    );
    // An EnvelopedData whose recipient list alone claims 1 MiB: no honest upload has that.
    let long = |tag: u8, len: u32| [&[tag, 0x84][..], &len.to_be_bytes()].concat();
    let set_len = 1 << 20;
    let inner_len = 3 + 6 + set_len + 100;
    let oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03,
    ];
    let header_too_large = [
        long(0x30, 11 + 6 + 6 + inner_len),
        oid.to_vec(),
        long(0xA0, 6 + inner_len),
        long(0x30, inner_len),
        vec![0x02, 0x01, 0x00],
        long(0x31, set_len),
    ]
    .concat();
    let mut huge = header_too_large.clone();
    huge.resize(INSPECT_LIMIT + 100, 0);
    assert_eq!(inspect(&huge), Err(InspectError::HeaderTooLarge));
}

#[test]
fn lengths_from_the_wire_never_overflow() {
    // A length of 2^64 - 1, as an attack on the portal sent it: once a panic in debug
    // builds, a wrapped length in release ones.
    let mut upload = vec![0x30, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    upload.extend([0u8; 32]);
    assert!(matches!(inspect(&upload), Err(InspectError::Malformed(_))));
    // And one that fits a u64 but no upload.
    let huge = [0x30, 0x88, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x00];
    assert!(matches!(inspect(&huge), Err(InspectError::Malformed(_))));
}
