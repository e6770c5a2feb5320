//! Accepted messages survive a crash: the real binary, SIGKILLed while the SMTP server is
//! down or while it holds its reply to DATA, then restarted. Delivery is at least once,
//! with one Message-ID; what was not accepted is cleared away at the restart. The same for
//! what the mail listener took: a bounce killed right after its `250` still counts, and an
//! answer killed right after its `250` is there once after the restart.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, now, serve};
use postsiegel_server::directory::demo;
use testkit::smtp::{Behaviour, Received, SmtpServer};

const MAILBOX: &str = "poststelle@lra-musterhausen.example";

/// A configured portal (not the demo) on the demo's certificates, its Landratsamt form
/// without e-mail verification, delivering to SMTP on `smtp_port`.
fn configure(dir: &Path, smtp_port: u16) -> std::path::PathBuf {
    configure_with(dir, smtp_port, "")
}

/// Like [`configure`], with `extra` appended to the configuration file.
fn configure_with(dir: &Path, smtp_port: u16, extra: &str) -> std::path::PathBuf {
    configure_directory(dir, smtp_port, extra, false)
}

/// Like [`configure_with`]; `verify`: the Landratsamt's forms verify addresses, as the
/// demo's do.
fn configure_directory(
    dir: &Path,
    smtp_port: u16,
    extra: &str,
    verify: bool,
) -> std::path::PathBuf {
    let data = dir.join("data");
    let demo = demo::ensure(&data, now()).unwrap();
    let mut directory = std::fs::read_to_string(demo.directory_file()).unwrap();
    if !verify {
        directory = directory.replace(
            "policy = { allowed_types = ",
            "policy = { verify_email = false, allowed_types = ",
        );
        assert!(directory.contains("verify_email = false"));
    }
    std::fs::write(demo.folder.join("crash-test.toml"), directory).unwrap();
    let config = dir.join("postsiegel.toml");
    std::fs::write(
        &config,
        format!(
            "mail_from = \"Postsiegel <kontaktformular@portal.example>\"\n\
             [pki]\ntrust_anchors = [\"{ca}\"]\ncrl_files = [\"{crl}\"]\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout_seconds = 60\n{extra}",
            ca = demo.ca_certificate().display(),
            crl = demo.crl().display(),
        ),
    )
    .unwrap();
    testkit::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_postsiegel"))
            .arg("--config")
            .arg(&config)
            .arg("import")
            .arg(demo.folder.join("crash-test.toml"))
            .env("POSTSIEGEL_DATA_DIR", &data),
    );
    config
}

async fn submit(server: &Server, dir: &Path) -> serde_json::Value {
    let der = common::encrypted_to(
        &dir.join("data/demo/certificates/lra-poststelle.pem"),
        b"Content-Type: text/plain\r\n\r\nBitte nicht verlieren.\r\n",
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/submissions/landratsamt-musterhausen",
            server.base
        ))
        .header("content-type", "application/pkcs7-mime")
        .body(der)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn state(server: &Server, accepted: &serde_json::Value) -> String {
    let url = format!(
        "{}/api/status/{}",
        server.base,
        accepted["status_token"].as_str().unwrap()
    );
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    status["state"].as_str().unwrap().to_owned()
}

fn message_id(mail: &Received) -> String {
    String::from_utf8_lossy(&mail.data)
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_owned))
        .expect("a Message-ID")
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_smtp_is_down_it_delivers_exactly_once_after_the_restart_and_clears_leftovers()
{
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = common::free_port();
    let config = configure(dir.path(), smtp_port);
    let server = serve(dir.path(), Some(&config)).await;
    let accepted = submit(&server, dir.path()).await;
    // The worker tries at once; nothing listens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state(&server, &accepted).await, "queued");
    server.crash();
    // What a crash at other moments leaves: an upload half received, a mail half written,
    // a mail written whose record never was. None of it is a message anyone was promised.
    let queue = dir.path().join("data/queue");
    let leftovers = [
        queue.join("incoming/half-an-upload.der"),
        queue.join("2026-AAAA-AAAA.eml.partial"),
        queue.join("2026-BBBB-BBBB.eml"),
    ];
    for leftover in &leftovers {
        std::fs::write(leftover, b"Reply-To: <someone@example.org>\r\n").unwrap();
    }

    let smtp = SmtpServer::start_on(smtp_port);
    let server = serve(dir.path(), Some(&config)).await;
    for leftover in &leftovers {
        assert!(!leftover.exists(), "{} is still there", leftover.display());
    }
    // A second portal on the same data folder would sweep away the first one's uploads: it
    // does not start.
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_postsiegel"))
        .current_dir(dir.path())
        .env_remove("POSTSIEGEL_CONFIG")
        .env(
            "POSTSIEGEL_BIND",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("POSTSIEGEL_DIST_DIR", dir.path().join("dist"))
        .env("POSTSIEGEL_DATA_DIR", dir.path().join("data"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("another postsiegel already serves"),
        "{stderr}"
    );
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(received[0].rcpt_tos, [MAILBOX]);
    let receipt = accepted["receipt"].as_str().unwrap();
    assert!(message_id(&received[0]).starts_with(&format!("<{receipt}.")));
    // And not again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(state(&server, &accepted).await, "delivered");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_smtp_holds_its_reply_it_delivers_again_with_the_same_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let config = configure(dir.path(), smtp.port());
    smtp.set(Behaviour::HoldData(Duration::from_secs(30)));
    let server = serve(dir.path(), Some(&config)).await;
    let accepted = submit(&server, dir.path()).await;
    // The SMTP server has the message but has not said so.
    smtp.wait_for(1, Duration::from_secs(30));
    server.crash();

    smtp.set(Behaviour::Accept);
    let server = serve(dir.path(), Some(&config)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while state(&server, &accepted).await != "delivered" {
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = smtp.received();
    assert!(
        (1..=2).contains(&received.len()),
        "{} deliveries",
        received.len()
    );
    let first = message_id(&received[0]);
    assert!(received.iter().all(|m| message_id(m) == first));
    assert!(received.iter().all(|m| m.rcpt_tos == [MAILBOX]));
}

/// Sends `mail` to the listener from the null sender in one raw conversation and kills the
/// server the moment the `250` to its end of data arrives.
async fn report_then_crash(server: Server, port: u16, recipient: &str, mail: &[u8]) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut reply = async || lines.next_line().await.unwrap().unwrap();
    assert!(reply().await.starts_with("220"));
    write
        .write_all(b"HELO mx.authority.example\r\n")
        .await
        .unwrap();
    assert!(reply().await.starts_with("250"));
    for command in [
        "MAIL FROM:<>".to_owned(),
        format!("RCPT TO:<{recipient}>"),
        "DATA".into(),
    ] {
        write
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        let answer = reply().await;
        assert!(
            answer.starts_with('2') || answer.starts_with('3'),
            "{command}: {answer}"
        );
    }
    write.write_all(mail).await.unwrap();
    write.write_all(b".\r\n").await.unwrap();
    let answer = reply().await;
    server.crash();
    assert!(answer.starts_with("250 "), "{answer}");
}

/// POSTs `body` as JSON (with the verification `token`, if any); the answer's JSON.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header(wire::TOKEN_HEADER, token);
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The configuration's `[inbound]`: the mail listener on `port`.
fn listener_section(port: u16) -> String {
    format!(
        "[inbound]\nbind = \"127.0.0.1:{port}\"\n\
         return_domain = \"return.portal.example\"\nhostname = \"returns.portal.example\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounce_taken_right_before_a_kill_is_read_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let listener_port = common::free_port();
    let config = configure_with(dir.path(), smtp.port(), &listener_section(listener_port));
    let server = serve(dir.path(), Some(&config)).await;
    let accepted = submit(&server, dir.path()).await;
    let delivered = smtp.wait_for(1, Duration::from_secs(30)).remove(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state(&server, &accepted).await != "delivered" {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered.mail_from.ends_with("@return.portal.example"));
    let id = message_id(&delivered);
    let bounce = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/flufl-bounce/dsn_13.txt"
    ))
    .unwrap()
    .replace("<mailman.8262.1143060203.1568.wed_ride@grizz.org>", &id)
    .replace('\n', "\r\n");
    report_then_crash(
        server,
        listener_port,
        &delivered.mail_from,
        bounce.as_bytes(),
    )
    .await;

    let server = serve(dir.path(), Some(&config)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while state(&server, &accepted).await != "failed_after_handover" {
        assert!(std::time::Instant::now() < deadline, "the bounce was lost");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An answer killed right after its `250`: after the restart it is there, once, and the
/// citizen is told (at least once, one Message-ID). The whole way runs through the real binary: the code by mail, a
/// conversation's certificate for an openssl key, the message, the answer over SMTP.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_taken_right_before_a_kill_is_there_once_after_the_restart() {
    const CITIZEN: &str = "juergen@example.org";
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let listener_port = common::free_port();
    let config = configure_directory(
        dir.path(),
        smtp.port(),
        &format!(
            "{}[answers]\ndomain = \"antwort.portal.example\"\n",
            listener_section(listener_port)
        ),
        true,
    );
    let public_url = [("POSTSIEGEL_PUBLIC_URL", "https://kontakt.example.de")];
    let server = common::serve_with(dir.path(), Some(&config), &public_url).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);
    let form = "landratsamt-musterhausen";

    let sent = client
        .post(api("/api/verification/code"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "form": form, "address": CITIZEN }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let code_mail = smtp.wait_for(1, Duration::from_secs(30)).remove(0);
    let text = String::from_utf8_lossy(&code_mail.data).into_owned();
    let code = text
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap()
        .to_owned();
    let token: serde_json::Value = post_json(
        &client,
        &api("/api/verification/confirm"),
        None,
        serde_json::json!({ "form": form, "address": CITIZEN, "code": code }),
    )
    .await;
    let token = token["token"].as_str().unwrap().to_owned();

    let citizen = tempfile::tempdir().unwrap();
    testkit::openssl(
        citizen.path(),
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-keyout", "key.pem",
            "-out", "csr.pem",
        ],
    );
    let csr = std::fs::read_to_string(citizen.path().join("csr.pem")).unwrap();
    let issued: serde_json::Value = post_json(
        &client,
        &api("/api/answers/certificate"),
        Some(&token),
        serde_json::json!({ "form": form, "csr": csr }),
    )
    .await;
    let alias = issued["alias"].as_str().expect("a certificate").to_owned();
    std::fs::write(
        citizen.path().join("cert.pem"),
        issued["certificate"].as_str().unwrap(),
    )
    .unwrap();

    let der = common::encrypted_to(
        &dir.path().join("data/demo/certificates/lra-poststelle.pem"),
        b"Content-Type: text/plain\r\n\r\nBitte antworten Sie.\r\n",
    );
    let accepted: serde_json::Value = client
        .post(api(&format!("/api/submissions/{form}")))
        .header("content-type", "application/pkcs7-mime")
        .header(wire::TOKEN_HEADER, &token)
        .header(wire::CONVERSATION_HEADER, &alias)
        .body(der)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while state(&server, &accepted).await != "delivered" {
        assert!(std::time::Instant::now() < deadline, "{accepted}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(
        citizen.path().join("answer.txt"),
        "Content-Type: text/plain\r\n\r\nDie Antwort.\r\n",
    )
    .unwrap();
    let encrypted = testkit::openssl(
        citizen.path(),
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-in",
            "answer.txt",
            "-outform",
            "SMIME",
            "-from",
            MAILBOX,
            "-to",
            &alias,
            "-subject",
            "Re",
            "cert.pem",
        ],
    );
    let mail = format!(
        "Message-ID: <answer-1@lra-musterhausen.example>\r\n{}",
        String::from_utf8(encrypted)
            .unwrap()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
    );
    report_then_crash(server, listener_port, &alias, mail.as_bytes()).await;

    let server = common::serve_with(dir.path(), Some(&config), &public_url).await;
    let status_url = format!(
        "{}/api/status/{}",
        server.base,
        accepted["status_token"].as_str().unwrap()
    );
    let status: serde_json::Value = reqwest::get(&status_url)
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(status["answers"].as_array().unwrap().len(), 1, "{status}");
    let kept = std::fs::read_dir(dir.path().join("data/answers/received"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    let decrypted = testkit::openssl(
        citizen.path(),
        &[
            "cms",
            "-decrypt",
            "-in",
            &std::fs::read_dir(dir.path().join("data/answers/received"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .to_string_lossy(),
            "-inkey",
            "key.pem",
        ],
    );
    assert_eq!(
        decrypted,
        b"Content-Type: text/plain\r\n\r\nDie Antwort.\r\n"
    );
    // The notice goes out; at least once, as every mail: the kill may have come while
    // the worker was handing it over, and then it goes again with the same Message-ID.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let notices: Vec<Received> = smtp
            .received()
            .into_iter()
            .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: Antwort auf"))
            .collect();
        if !notices.is_empty() {
            break notices;
        }
        assert!(std::time::Instant::now() < deadline, "no notice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = message_id(&notices[0]);
    let again: Vec<Received> = smtp
        .received()
        .into_iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("Subject: Antwort auf"))
        .collect();
    assert!(again.len() <= 2, "{} notices", again.len());
    assert!(again.iter().all(|m| message_id(m) == first));
}
