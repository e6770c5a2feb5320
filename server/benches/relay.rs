//! The relay under load, the real release binary on the embedded defaults (SQLite, spool):
//! accepted submissions per second for 100 KB uploads beside `/api/health` requests per
//! second in the same run, accepted 100 KB answers per second through the mail listener
//! (one conversation, 32 SMTP connections), and the server's peak resident memory while
//! 20 uploads of 25 MB each arrive at once, beside its peak before them.
//!
//! `POSTSIEGEL_DEV_BENCH_SMOKE=1` runs it once, small, as the test command does. Writes
//! `relay.json` into `POSTSIEGEL_DEV_BENCH_OUT` when that names a folder.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand_core::OsRng;
use smime::envelope::{Algorithms, Recipient, encrypt};

use postsiegel_server::directory::demo;

const FORM: &str = "vg-talheim";

fn main() {
    let smoke = std::env::var_os("POSTSIEGEL_DEV_BENCH_SMOKE").is_some();
    tokio::runtime::Runtime::new().unwrap().block_on(run(smoke));
}

struct Portal {
    child: Child,
    base: String,
    /// The mail listener, and the conversation open for answers.
    listener_port: u16,
    alias: String,
    answer_certificate: smime::Certificate,
}

const ANSWER_DOMAIN: &str = "antwort.bench.example";

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Portal {
    /// Peak resident memory so far (VmHWM), in MB.
    fn peak_mb(&self) -> f64 {
        proc_kb(self.child.id(), "VmHWM:") / 1000.0
    }

    fn resident_mb(&self) -> f64 {
        proc_kb(self.child.id(), "VmRSS:") / 1000.0
    }
}

fn proc_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// A configured portal on the demo certificates; Talheim's form takes 60 MB mails and
/// needs no verification; rate limits out of the way (they are not what is measured).
async fn start(dir: &Path) -> Portal {
    let data = dir.join("data");
    let demo = demo::ensure(&data, postsiegel_server::clock::unix_now()).unwrap();
    let directory = std::fs::read_to_string(demo.directory_file())
        .unwrap()
        .replace(
            "policy = { mailbox_limit_bytes = 25000000,",
            "policy = { mailbox_limit_bytes = 60000000, verify_email = false,",
        );
    assert!(directory.contains("verify_email = false"));
    std::fs::write(demo.folder.join("bench.toml"), directory).unwrap();
    let unlimited = "{ burst = 1000000, period_ms = 1 }";
    let listener_port = free_port();
    let config = dir.join("postsiegel.toml");
    std::fs::write(
        &config,
        format!(
            "dist_dir = \"{dist}\"\n[pki]\ntrust_anchors = [\"{ca}\"]\ncrl_files = [\"{crl}\"]\n\
             [relay]\nmax_queue_bytes = 100000000000\n\
             [relay.limits]\napi = {unlimited}\ncodes = {unlimited}\nsubmissions = {unlimited}\n\
             unverified_submissions = {unlimited}\n\
             [inbound]\nbind = \"127.0.0.1:{listener_port}\"\nreturn_domain = \"return.bench.example\"\n\
             hostname = \"mx.bench.example\"\nmessages = {unlimited}\n\
             [answers]\ndomain = \"{ANSWER_DOMAIN}\"\n",
            dist = dir.display(),
            ca = demo.ca_certificate().display(),
            crl = demo.crl().display(),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("index.html"), "<!DOCTYPE html><body></body>").unwrap();
    let binary = env!("CARGO_BIN_EXE_postsiegel");
    let import = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .arg("import")
        .arg(demo.folder.join("bench.toml"))
        .env("POSTSIEGEL_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let (alias, answer_certificate) = open_conversation(&data, dir).await;
    let port = free_port();
    let child = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("POSTSIEGEL_DATA_DIR", &data)
        .env("POSTSIEGEL_BIND", format!("127.0.0.1:{port}"))
        .env("POSTSIEGEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let portal = Portal {
        child,
        base: format!("http://127.0.0.1:{port}"),
        listener_port,
        alias,
        answer_certificate,
    };
    let started = Instant::now();
    while reqwest::get(format!("{}/api/health", portal.base))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the portal did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    portal
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A conversation opened as the relay opens one, written into the portal's database
/// before it starts: its alias and the certificate answers are encrypted to.
async fn open_conversation(data: &Path, dir: &Path) -> (String, smime::Certificate) {
    use postsiegel_server::answers::{Answers, AnswersConfig, Requester};
    use postsiegel_server::store::conversations::OpenedConversation;
    use postsiegel_server::store::submissions::NewSubmission;
    let store = postsiegel_server::store::Store::open(data).await.unwrap();
    let now = postsiegel_server::clock::unix_now();
    let config = AnswersConfig {
        domain: ANSWER_DOMAIN.into(),
        conversation_days: 180,
        pending_hours: 6,
        ca_certificate: None,
        ca_key: None,
        dkim: None,
    };
    let answers = Answers::load(config, data, "http://127.0.0.1", store.clone(), now).unwrap();
    testkit::openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=x",
            "-keyout",
            "citizen.key",
            "-out",
            "citizen.csr",
        ],
    );
    let csr = std::fs::read(dir.join("citizen.csr")).unwrap();
    let requester = Requester {
        address: "citizen@example.org",
        form: FORM,
        token_hash: "bench",
    };
    let issued = answers.issue(&requester, &csr, now).await.unwrap();
    let receipt = "2026-BNCH-0001";
    let submission = NewSubmission {
        receipt,
        status_token_hash: "bench",
        form_slug: FORM,
        mailbox: "poststelle@vg-talheim.example",
        message_id: "bench@bench.example",
        mail_bytes: 1,
        citizen_address: None,
        accepted_at: now,
        return_token: "bench",
        receipt_requested: false,
        opens: Some(OpenedConversation {
            alias: &issued.alias,
            ends_at: now + 86_400,
            status_url: "http://127.0.0.1/status/bench",
        }),
        continues: None,
    };
    store.insert_submission(&submission, None).await.unwrap();
    store.mark_delivered(receipt, now, None).await.unwrap();
    let certificate = smime::certificate::parse_certificates(issued.certificate_pem.as_bytes())
        .unwrap()
        .remove(0);
    (issued.alias, certificate)
}

/// An answer's mail, encrypted to `certificate`, `bytes` long before encryption; the
/// Message-ID is `<{n}@…>` with `{n}` to fill in.
fn answer_mail(alias: &str, certificate: &smime::Certificate, bytes: usize) -> String {
    let recipient = Recipient::from_certificate(certificate).unwrap();
    let content: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    let der = encrypt(&[recipient], Algorithms::default(), &content, &mut OsRng).unwrap();
    let mut body = Vec::new();
    smime::mime::base64_lines(&mut body, &der);
    format!(
        "From: <poststelle@vg-talheim.example>\r\nTo: <{alias}>\r\nMessage-ID: <{{n}}@vg-talheim.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}.\r\n",
        String::from_utf8(body).expect("base64 is ASCII")
    )
}

/// Sends `count` answers over one SMTP connection, each in a transaction of its own, the
/// n-th numbered `first + n`; every one must get `250`.
async fn send_answers(port: u16, alias: &str, mail: &str, first: usize, count: usize) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut reply = async || loop {
        let line = lines.next_line().await.unwrap().unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            return line;
        }
    };
    reply().await;
    write
        .write_all(b"EHLO mx.vg-talheim.example\r\n")
        .await
        .unwrap();
    reply().await;
    for n in first..first + count {
        write
            .write_all(format!("MAIL FROM:<>\r\nRCPT TO:<{alias}>\r\nDATA\r\n").as_bytes())
            .await
            .unwrap();
        for _ in 0..3 {
            let line = reply().await;
            assert!(line.starts_with('2') || line.starts_with('3'), "{line}");
        }
        write
            .write_all(mail.replace("{n}", &n.to_string()).as_bytes())
            .await
            .unwrap();
        let done = reply().await;
        assert!(done.starts_with("250 2.0.0 OK"), "{done}");
    }
}

fn upload_of(dir: &Path, bytes: usize) -> bytes::Bytes {
    let certificate = smime::certificate::parse_certificates(
        &std::fs::read(dir.join("data/demo/certificates/talheim-poststelle.pem")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let recipient = Recipient::from_certificate(&certificate).unwrap();
    let content: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    encrypt(&[recipient], Algorithms::default(), &content, &mut OsRng)
        .unwrap()
        .into()
}

/// Sends `count` requests made by `request`, `concurrency` at a time; returns per second.
async fn rate<F, Fut>(count: usize, concurrency: usize, request: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let per_task = count / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    request().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_task * concurrency) as f64 / started.elapsed().as_secs_f64()
}

async fn run(smoke: bool) {
    let dir = tempfile::tempdir().unwrap();
    let portal = start(dir.path()).await;
    let client = reqwest::Client::new();
    let submit_url = format!("{}/api/submissions/{FORM}", portal.base);
    let health_url = format!("{}/api/health", portal.base);
    let (count, concurrency, big_uploads) = if smoke { (40, 4, 2) } else { (6000, 32, 20) };

    // Throughput: alternate the reference and ours, twice, and keep the better of each.
    let small = upload_of(dir.path(), 100_000);
    let mut accepted_per_second: f64 = 0.0;
    let mut health_per_second: f64 = 0.0;
    for _ in 0..2 {
        let (client_h, url) = (client.clone(), health_url.clone());
        health_per_second = health_per_second.max(
            rate(count, concurrency, move || {
                let (client, url) = (client_h.clone(), url.clone());
                async move {
                    let response = client.get(&url).send().await.unwrap();
                    assert!(response.status().is_success());
                }
            })
            .await,
        );
        let (client_s, url, body) = (client.clone(), submit_url.clone(), small.clone());
        accepted_per_second = accepted_per_second.max(
            rate(count, concurrency, move || {
                let (client, url, body) = (client_s.clone(), url.clone(), body.clone());
                async move {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/pkcs7-mime")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
                }
            })
            .await,
        );
    }

    // Answers through the mail listener: 100 KB each, `concurrency` connections.
    let mail = answer_mail(&portal.alias, &portal.answer_certificate, 100_000);
    let per_connection = count / concurrency;
    let started = Instant::now();
    let senders: Vec<_> = (0..concurrency)
        .map(|c| {
            let (alias, mail) = (portal.alias.clone(), mail.clone());
            let port = portal.listener_port;
            tokio::spawn(async move {
                send_answers(port, &alias, &mail, c * per_connection, per_connection).await
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let answers_per_second =
        (per_connection * concurrency) as f64 / started.elapsed().as_secs_f64();

    // Memory: 20 uploads of 25 MB at once.
    let big = upload_of(dir.path(), if smoke { 1_000_000 } else { 25_000_000 });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_peak = portal.peak_mb();
    let before_resident = portal.resident_mb();
    let started = Instant::now();
    let uploads: Vec<_> = (0..big_uploads)
        .map(|_| {
            let (client, url, body) = (client.clone(), submit_url.clone(), big.clone());
            tokio::spawn(async move {
                let response = client
                    .post(&url)
                    .header("content-type", "application/pkcs7-mime")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
            })
        })
        .collect();
    for upload in uploads {
        upload.await.unwrap();
    }
    let big_seconds = started.elapsed().as_secs_f64();
    let peak = portal.peak_mb();

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("relay, {profile} binary, SQLite + spool");
    println!("| measure | value | reference (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| accepted 100 KB submissions | {accepted_per_second:.0}/s | /api/health {health_per_second:.0}/s | {:.2} |",
        accepted_per_second / health_per_second
    );
    println!(
        "| accepted 100 KB answers (SMTP) | {answers_per_second:.0}/s | /api/health {health_per_second:.0}/s | {:.2} |",
        answers_per_second / health_per_second
    );
    println!(
        "| peak resident memory, {big_uploads} x {:.0} MB at once ({big_seconds:.1} s) | {peak:.0} MB | {before_peak:.0} MB before (resident {before_resident:.0} MB) | +{:.0} MB |",
        big.len() as f64 / 1e6,
        peak - before_peak
    );
    println!(
        "targets: >= 500 submissions/s: {}; >= 200 answers/s: {}; peak < 200 MB: {}",
        if accepted_per_second >= 500.0 {
            "met"
        } else {
            "MISSED"
        },
        if answers_per_second >= 200.0 {
            "met"
        } else {
            "MISSED"
        },
        if peak < 200.0 { "met" } else { "MISSED" }
    );
    if let Some(folder) = std::env::var_os("POSTSIEGEL_DEV_BENCH_OUT") {
        let json = serde_json::json!({
            "accepted_100kb_per_second": accepted_per_second,
            "health_per_second": health_per_second,
            "accepted_100kb_answers_per_second": answers_per_second,
            "concurrent_uploads": big_uploads,
            "upload_bytes": big.len(),
            "peak_resident_mb": peak,
            "peak_resident_before_mb": before_peak,
        });
        std::fs::write(
            Path::new(&folder).join("relay.json"),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }
}
