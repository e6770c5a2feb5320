//! Encryption speed of the S/MIME core, beside `openssl cms -encrypt` on the same bytes in
//! the same run (the machines are noisy: compare the ratio, not the absolute figures).
//!
//! `scripts/bench` runs 1 MB and 25 MB; `scripts/test` runs each benchmark once at 1 MB as a
//! smoke test (POSTSIEGEL_DEV_BENCH_SMOKE=1).

use std::process::{Command, Stdio};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::OsRng;
use smime::certificate::parse_certificates;
use smime::envelope::{Algorithms, Recipient, encrypt};
use smime::mime::{Attachment, Message, compose};

const MB: usize = 1_000_000;

fn sizes() -> Vec<usize> {
    if std::env::var_os("POSTSIEGEL_DEV_BENCH_SMOKE").is_some() {
        vec![MB]
    } else {
        vec![MB, 25 * MB]
    }
}

fn attachment(payload: usize) -> Vec<u8> {
    (0..payload).map(|i| (i * 7 % 251) as u8).collect()
}

fn compose_entity(attachment: &[u8]) -> Vec<u8> {
    let attachments = [Attachment::new(
        "Unterlagen.pdf",
        "application/pdf",
        attachment,
    )];
    compose(&Message {
        form: "bench",
        unit: None,
        recipient: "Bench",
        sender_name: "B",
        sender_email: "b@example.org",
        email_verified: true,
        answer_address: None,
        thread: None,
        sender_phone: None,
        subject: "Bench",
        reference: None,
        text: "Bench",
        submitted_at: 0,
        attachments: &attachments,
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Bench",
        ])
        .args(["-addext", "keyUsage=keyEncipherment", "-keyout"])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(&cert_path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let certificate = parse_certificates(&std::fs::read(&cert_path).unwrap())
        .unwrap()
        .remove(0);
    let recipients = [Recipient::from_certificate(&certificate).unwrap()];

    let mut group = c.benchmark_group("encrypt");
    group.sample_size(10);
    for payload in sizes() {
        let attachment = attachment(payload);
        let entity = compose_entity(&attachment);
        let input = dir.path().join(format!("entity-{payload}.eml"));
        std::fs::write(&input, &entity).unwrap();
        group.throughput(Throughput::Bytes(entity.len() as u64));
        let label = format!("{} MB", payload / MB);
        group.bench_with_input(
            BenchmarkId::new("postsiegel", &label),
            &entity,
            |b, entity| {
                b.iter(|| encrypt(&recipients, Algorithms::default(), entity, &mut OsRng).unwrap())
            },
        );
        group.bench_with_input(
            BenchmarkId::new("openssl cms -encrypt", &label),
            &input,
            |b, input| {
                b.iter(|| {
                    let status = Command::new("openssl")
                        .args([
                            "cms",
                            "-encrypt",
                            "-binary",
                            "-aes256",
                            "-outform",
                            "DER",
                            "-out",
                            "/dev/null",
                            "-in",
                        ])
                        .arg(input)
                        .arg(&cert_path)
                        .status()
                        .unwrap();
                    assert!(status.success());
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("compose MIME", &label),
            &attachment,
            |b, attachment| b.iter(|| compose_entity(attachment)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
