//! Shared by the server's integration tests: a portal on the generated demo directory, and
//! requests against its router in process.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use postsiegel_server::answers::Answers;
use postsiegel_server::compose::{self, RelayParts};
use postsiegel_server::config::Config;
use postsiegel_server::directory::catalog::{Catalog, SharedCatalog};
use postsiegel_server::directory::demo::{self, Demo};
use postsiegel_server::directory::import;
use postsiegel_server::directory::pki::{Pki, PkiConfig};
use postsiegel_server::dkim::Dkim;
use postsiegel_server::http::router;
use postsiegel_server::http::web::Frontend;
use postsiegel_server::inbound::authenticity::Dns;
use postsiegel_server::model::Directory;
use postsiegel_server::relay::secret::Secret;
use postsiegel_server::relay::signing::PortalSigner;
use postsiegel_server::relay::transport::Transport;
use postsiegel_server::relay::worker::Worker;
use postsiegel_server::store::Store;

pub const FROM: &str = "Postsiegel <kontaktformular@portal.example>";
pub const PUBLIC_URL: &str = "https://kontakt.example.de";

pub fn now() -> u64 {
    postsiegel_server::clock::unix_now()
}

pub struct Portal {
    pub app: axum::Router,
    pub demo: Demo,
    pub directory: Directory,
    pub store: Store,
    pub worker: Worker,
    /// The mail listener and its reader, when the configuration has `inbound`.
    pub inbound: Option<compose::Inbound>,
    /// The DNS answers the reader's DKIM and SPF checks find (none unless a test adds them).
    pub dns: Arc<Dns>,
    pub data: tempfile::TempDir,
}

/// The demo directory, changed by `adjust`, served with a relay whose mail goes to
/// `transport` (the spool folder `<data>/spool` when none).
pub async fn portal(adjust: impl FnOnce(&mut Directory), transport: Option<Transport>) -> Portal {
    portal_signing(adjust, transport, None, None).await
}

/// Like [`portal`], signing mails with `dkim` and as the portal with `signer`.
pub async fn portal_signing(
    adjust: impl FnOnce(&mut Directory),
    transport: Option<Transport>,
    dkim: Option<Dkim>,
    signer: Option<PortalSigner>,
) -> Portal {
    portal_with(adjust, transport, dkim, signer, |_| {}).await
}

/// The demo portal as it is, with the configuration changed by `configure`.
pub async fn portal_configured(configure: impl FnOnce(&mut Config)) -> Portal {
    portal_with(|_| {}, None, None, None, configure).await
}

/// Like [`portal_signing`], with the configuration changed by `configure`.
pub async fn portal_with(
    adjust: impl FnOnce(&mut Directory),
    transport: Option<Transport>,
    dkim: Option<Dkim>,
    signer: Option<PortalSigner>,
    configure: impl FnOnce(&mut Config),
) -> Portal {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_owned(),
        dist_dir: data.path().to_owned(),
        public_url: Some(PUBLIC_URL.into()),
        mail_from: FROM.into(),
        ..Config::default()
    };
    config.relay.max_queue_bytes = 1_000_000_000;
    configure(&mut config);
    std::fs::write(
        data.path().join("index.html"),
        "<!DOCTYPE html><html><head></head><body></body></html>",
    )
    .unwrap();
    let demo = demo::ensure(data.path(), now()).unwrap();
    let mut directory = import::load(&demo.directory_file()).unwrap();
    adjust(&mut directory);
    let pki = Pki::load(&demo.pki(&PkiConfig::default())).unwrap();
    let answer_dkim = config
        .answers
        .as_ref()
        .and_then(|a| a.dkim.as_ref())
        .map(|d| Dkim::load(d).unwrap());
    let settings = compose::catalog_settings(
        &config,
        dkim.as_ref(),
        answer_dkim.as_ref(),
        signer.as_ref(),
    )
    .unwrap();
    let catalog = SharedCatalog::new(Catalog::build(&directory, &pki, &settings, now()));
    let store = Store::open(data.path()).await.unwrap();
    let parts = RelayParts {
        store: store.clone(),
        secret: Secret::from_bytes([7; 32]),
        transport: transport.unwrap_or_else(|| compose::transport(&config).unwrap()),
        dkim: dkim.map(Arc::new),
        signer: signer.map(Arc::new),
        answers: config.answers.clone().map(|answers| {
            Arc::new(Answers::load(answers, data.path(), PUBLIC_URL, store.clone(), now()).unwrap())
        }),
        answer_dkim: answer_dkim.map(Arc::new),
    };
    let relayed = compose::relay(&config, catalog, parts);
    let dns = Arc::new(Dns::default());
    let inbound = compose::inbound(
        &config,
        store.clone(),
        relayed.worker.wake.clone(),
        dns.clone(),
    )
    .unwrap();
    let state = compose::api_state(&config, true, relayed.relay);
    let app = router(Frontend::load(&config.dist_dir).unwrap(), state);
    Portal {
        app,
        demo,
        directory,
        store,
        worker: relayed.worker,
        inbound,
        dns,
        data,
    }
}

/// Asks for a verification code for `address` on `form` and lets the worker send it.
pub async fn ask_for_code(portal: &Portal, form: &str, address: &str) {
    let sent = post_json(
        &portal.app,
        "/api/verification/code",
        serde_json::json!({ "form": form, "address": address }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{:?}", sent.json());
    portal.worker.work(now()).await.unwrap();
}

/// `entity` encrypted (AES-CBC, RSA PKCS#1 v1.5) to the first certificate of the PEM
/// file `certificate`: an upload the relay takes for that certificate's form.
pub fn encrypted_to(certificate: &std::path::Path, entity: &[u8]) -> Vec<u8> {
    let certificate = smime::certificate::parse_certificates(&std::fs::read(certificate).unwrap())
        .unwrap()
        .remove(0);
    let recipient = smime::envelope::Recipient::from_certificate(&certificate).unwrap();
    smime::envelope::encrypt(
        &[recipient],
        smime::envelope::Algorithms::default(),
        entity,
        &mut rand_core::OsRng,
    )
    .unwrap()
}

/// The mails of `received` addressed to `address`.
pub fn to(received: &[testkit::smtp::Received], address: &str) -> Vec<testkit::smtp::Received> {
    received
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == address))
        .cloned()
        .collect()
}

/// Asks for a code for `address` on `form`, reads it from the mail `smtp` got, confirms
/// it; the token.
pub async fn verify_by_mail(
    portal: &Portal,
    smtp: &testkit::smtp::SmtpServer,
    form: &str,
    address: &str,
) -> String {
    let before = to(&smtp.received(), address).len();
    ask_for_code(portal, form, address).await;
    let mails = to(
        &smtp.wait_for(before + 1, std::time::Duration::from_secs(10)),
        address,
    );
    let text = String::from_utf8_lossy(&mails[before].data).into_owned();
    let code = text
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .expect("a code in the mail")
        .to_owned();
    let confirmed = post_json(
        &portal.app,
        "/api/verification/confirm",
        serde_json::json!({ "form": form, "address": address, "code": code }),
    )
    .await;
    confirmed.json()["token"].as_str().unwrap().to_owned()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: body.to_vec(),
    }
}

pub async fn get(app: &axum::Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post_json(app: &axum::Router, uri: &str, json: serde_json::Value) -> Answer {
    send(
        app,
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .unwrap(),
    )
    .await
}

/// The real binary, serving; killed (SIGKILL) when dropped.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    /// Its standard error: the log.
    pub log: std::path::PathBuf,
}

impl Server {
    /// Kills the process as a power cut would: no shutdown, no flushing.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `postsiegel serve` in `dir` (data and dist below it, the log appended to
/// `dir/server.log`) and waits until it answers.
pub async fn serve(dir: &std::path::Path, config: Option<&std::path::Path>) -> Server {
    serve_with(dir, config, &[]).await
}

/// Like [`serve`], with extra environment variables (configuration overrides).
pub async fn serve_with(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> Server {
    use std::time::{Duration, Instant};
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!DOCTYPE html><html><head></head><body></body></html>",
    )
    .unwrap();
    let port = free_port();
    let log = dir.join("server.log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_postsiegel"));
    command
        .current_dir(dir)
        .env_remove("POSTSIEGEL_CONFIG")
        .env("POSTSIEGEL_LOG", "info")
        .env("NO_COLOR", "1")
        .env("POSTSIEGEL_BIND", format!("127.0.0.1:{port}"))
        .env("POSTSIEGEL_DIST_DIR", &dist)
        .env("POSTSIEGEL_DATA_DIR", dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .envs(env.iter().copied())
        .arg("serve");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut server = Server {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let started = Instant::now();
    while reqwest::get(format!("{}/api/health", server.base))
        .await
        .is_err()
    {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!(
                "the server ended ({status}) before answering: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// Verifies a DKIM signature with Python's dkimpy, the key served as DNS would at
/// `record_name` (`<selector>._domainkey.<domain>`), and no other name.
pub fn dkim_verifies(mail: &[u8], record_name: &str, public_key_der: &[u8]) -> bool {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.eml");
    std::fs::write(&file, mail).unwrap();
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(public_key_der)
    );
    let script = "import dkim, sys\n\
                  record = sys.argv[2].encode()\n\
                  name = (sys.argv[3] + '.').encode()\n\
                  def dns(asked, timeout=5):\n\
                  \x20   assert asked == name, asked\n\
                  \x20   return record\n\
                  ok = dkim.verify(open(sys.argv[1], 'rb').read(), dnsfunc=dns)\n\
                  print('pass' if ok else 'fail')\n";
    let output = testkit::run(
        std::process::Command::new(testkit::smtp::python())
            .args(["-c", script])
            .arg(&file)
            .arg(record)
            .arg(record_name),
    );
    String::from_utf8_lossy(&output).trim() == "pass"
}

/// Plain SMTP (no TLS, no login) to a test mail server on loopback.
pub fn plain_smtp(port: u16) -> Transport {
    Transport::smtp(&postsiegel_server::relay::transport::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: postsiegel_server::relay::transport::SmtpSecurity::None,
        username: None,
        password: None,
        extra_roots: None,
        timeout_seconds: 10,
    })
    .unwrap()
}
