//! Expiry care: the listing and the 60/30/7-day warnings, recorded once each.

use std::process::Command;

use postsiegel_server::directory::expiry::{due_warnings, expiring};
use postsiegel_server::model::{Directory, StoredCertificate};
use postsiegel_server::store::{Source, Store};
use testkit::{Leaf, Pki};

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `YYYYMMDDHHMMSSZ` for openssl, `days` from now (negative: in the past), less an hour so
/// that whole days counted from a few seconds later are stable ("in 4 days", not 4 or 5).
fn openssl_date(days: i64) -> &'static str {
    let t = smime::der::DateTime::from_unix_duration(std::time::Duration::from_secs(
        (now() as i64 + days * DAY as i64 - 3600) as u64,
    ))
    .unwrap();
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    );
    Box::leak(text.into_boxed_str())
}

fn directory(pki: &Pki) -> Directory {
    let mut certificates = Vec::new();
    for (name, days) in [
        ("in-5", 5),
        ("in-20", 20),
        ("in-45", 45),
        ("in-90", 90),
        ("gone", -1),
    ] {
        let mailbox: &'static str = Box::leak(format!("{name}@lra-test.example").into_boxed_str());
        let issued = pki.issue(&Leaf {
            not_before: openssl_date(-400),
            not_after: openssl_date(days),
            ..Leaf::good(Box::leak(name.to_owned().into_boxed_str()), mailbox)
        });
        certificates.push(StoredCertificate {
            mailbox: mailbox.into(),
            certificate: issued.certificate,
        });
    }
    Directory {
        authorities: vec![],
        certificates,
    }
}

#[tokio::test]
async fn warnings_come_60_30_and_7_days_ahead_once_each() {
    let pki = Pki::new();
    let directory = directory(&pki);
    let now = now();

    let soon: Vec<&str> = expiring(&directory.certificates, now, 60)
        .iter()
        .map(|c| c.mailbox.as_str())
        .collect();
    assert_eq!(
        soon,
        [
            "in-5@lra-test.example",
            "in-20@lra-test.example",
            "in-45@lra-test.example"
        ]
    );

    let warnings = due_warnings(&directory.certificates, now);
    let ids: Vec<String> = warnings
        .iter()
        .map(|w| w.id.split(':').take(3).collect::<Vec<_>>().join(":"))
        .collect();
    assert_eq!(
        ids,
        [
            "expiry-warning:7:in-5@lra-test.example",
            "expiry-warning:30:in-20@lra-test.example",
            "expiry-warning:60:in-45@lra-test.example",
        ]
    );
    assert_eq!(warnings[0].recipient, "in-5@lra-test.example");
    assert!(
        warnings[0].body.contains("läuft am"),
        "{}",
        warnings[0].body
    );

    let store = Store::in_memory().await.unwrap();
    assert_eq!(store.queue_mails(&warnings, now).await.unwrap(), 3);
    assert_eq!(
        store
            .queue_mails(&due_warnings(&directory.certificates, now), now)
            .await
            .unwrap(),
        0
    );

    // Sixteen days later: the 45-day certificate reaches 30 days, the 20-day one 7 days.
    let later = now + 16 * DAY;
    assert_eq!(
        store
            .queue_mails(&due_warnings(&directory.certificates, later), later)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.unsent_mails().await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_expiring_command_lists_and_queues() {
    let pki = Pki::new();
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path()).await.unwrap();
    store
        .replace_directory(&directory(&pki), Source::Import)
        .await
        .unwrap();
    let config = work.path().join("p.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", work.path())).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_postsiegel"))
        .arg("--config")
        .arg(&config)
        .args(["expiring", "--days", "30"])
        .env("POSTSIEGEL_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("@lra-test.example"))
        .collect();
    assert_eq!(listed.len(), 2, "{stdout}");
    assert!(
        listed[0].contains("in-5@lra-test.example") && listed[0].contains("in 4 days"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 new expiry warning(s) queued"),
        "{stdout}"
    );
}
