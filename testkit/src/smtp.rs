//! A real SMTP server for the relay's tests: aiosmtpd (`testkit/smtp_server.py`) in its own
//! process, storing every message it accepts in a temporary folder, with a behaviour (accept,
//! refuse at RCPT or DATA, hold the reply) that a test may change while it runs.
//!
//! aiosmtpd comes from the venv that `scripts/setup.sh` (`ensure_aiosmtpd`) installs; its
//! Python is `POSTSIEGEL_DEV_PYTHON`, else `venv/bin/python` in `POSTSIEGEL_DEV_CACHE` (default
//! `~/.cache/postsiegel`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use crate::free_port;

// Embedded, not found by path: a cargo target folder shared by several clones would
// otherwise point every test binary at whichever clone built it last.
const SCRIPT: &str = include_str!("../smtp_server.py");
const STARTUP_LIMIT: Duration = Duration::from_secs(15);

/// An aiosmtpd process on 127.0.0.1. Dropping it kills the process (our own child, by its
/// PID) and removes its folder. Should the test process die first, the server exits too: it
/// watches its standard input, which only we hold.
pub struct SmtpServer {
    process: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca_pem: Option<Vec<u8>>,
}

/// A message as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The reverse path without angle brackets; `<>` for the null sender.
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The DATA bytes, dot-unstuffed, ending in CRLF: the message exactly as sent.
    pub data: Vec<u8>,
}

/// How the server answers; read by the server at every RCPT and at the end of every DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    /// `451 4.3.0` to every RCPT.
    TempFailRcpt,
    /// `550 5.1.1 ... no such mailbox` to every RCPT.
    PermFailRcpt,
    /// `451 4.3.0` at the end of DATA; nothing stored.
    TempFailData,
    /// `554 5.6.0` at the end of DATA; nothing stored.
    PermFailData,
    /// Stores the message at the end of DATA, then waits this long before answering `250`:
    /// for crash tests where the client dies while the server holds its reply.
    HoldData(Duration),
}

#[derive(Default)]
struct Options {
    port: Option<u16>,
    auth: Option<(String, String)>,
    starttls: bool,
    implicit_tls: bool,
}

impl SmtpServer {
    /// A server on a free port that accepts everything.
    pub fn start() -> SmtpServer {
        launch(Options::default())
    }

    /// A server on `port`: crash tests restart the server where the relay expects it.
    pub fn start_on(port: u16) -> SmtpServer {
        launch(Options {
            port: Some(port),
            ..Options::default()
        })
    }

    /// A server that offers AUTH PLAIN and LOGIN (without TLS) for this one account and
    /// refuses MAIL (`530 5.7.0`) before a successful AUTH.
    pub fn with_auth(user: &str, password: &str) -> SmtpServer {
        launch(Options {
            auth: Some((user.to_owned(), password.to_owned())),
            ..Options::default()
        })
    }

    /// A server that offers STARTTLS with a self-signed certificate for `localhost` and
    /// `127.0.0.1`; trust [`SmtpServer::ca_pem`] to verify it.
    pub fn with_starttls() -> SmtpServer {
        launch(Options {
            starttls: true,
            ..Options::default()
        })
    }

    /// A server that talks TLS from the first byte (as on port 465) with the same kind of
    /// certificate as [`SmtpServer::with_starttls`].
    pub fn with_implicit_tls() -> SmtpServer {
        launch(Options {
            implicit_tls: true,
            ..Options::default()
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM certificate a client must trust to talk TLS to this server.
    ///
    /// Panics unless the server was made with TLS.
    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca_pem
            .clone()
            .expect("this SMTP server has no TLS: make it with_starttls() or with_implicit_tls()")
    }

    /// Changes how the server answers from its next command on, even mid-session.
    pub fn set(&self, behaviour: Behaviour) {
        let text = match behaviour {
            Behaviour::Accept => "accept".to_owned(),
            Behaviour::TempFailRcpt => "tempfail-rcpt".to_owned(),
            Behaviour::PermFailRcpt => "permfail-rcpt".to_owned(),
            Behaviour::TempFailData => "tempfail-data".to_owned(),
            Behaviour::PermFailData => "permfail-data".to_owned(),
            Behaviour::HoldData(hold) => format!("hold-data:{}", hold.as_secs_f64()),
        };
        // Renamed into place so that the server never reads half a word.
        let part = self.dir.path().join("behaviour.part");
        std::fs::write(&part, text).unwrap();
        std::fs::rename(part, self.dir.path().join("behaviour")).unwrap();
    }

    /// Every message stored so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let messages = self.dir.path().join("messages");
        let Ok(entries) = std::fs::read_dir(&messages) else {
            return vec![];
        };
        // The server writes `<n>.json` after `<n>.eml`: a listed .json is a whole message.
        let mut numbers: Vec<u64> = entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".json")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .map(|n| {
                let meta = std::fs::read_to_string(messages.join(format!("{n}.json"))).unwrap();
                let (mail_from, rcpt_tos) = parse_meta(&meta);
                Received {
                    mail_from,
                    rcpt_tos,
                    data: std::fs::read(messages.join(format!("{n}.eml"))).unwrap(),
                }
            })
            .collect()
    }

    /// Waits until at least `count` messages are stored and returns them all.
    ///
    /// Panics after `timeout` with what did arrive and the server's log.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            if start.elapsed() >= timeout {
                let summary: Vec<String> = received
                    .iter()
                    .map(|r| format!("from <{}> to {:?}", r.mail_from, r.rcpt_tos))
                    .collect();
                panic!(
                    "the SMTP server on port {} received {} message(s) within {timeout:?}, \
                     expected {count}: {summary:?}\nserver log:\n{}",
                    self.port,
                    received.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Our own child by its PID; the folder goes when `dir` drops after this.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The Python of the test venv (aiosmtpd, dkimpy).
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("POSTSIEGEL_DEV_PYTHON") {
        return python.into();
    }
    // Where scripts/setup.sh puts the venv; scripts/test runs the setup in a subshell, so
    // its POSTSIEGEL_DEV_PYTHON does not reach the tests.
    let cache = match std::env::var_os("POSTSIEGEL_DEV_CACHE") {
        Some(cache) => PathBuf::from(cache),
        None => Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/postsiegel"),
    };
    let default = cache.join("venv/bin/python");
    if default.exists() {
        return default;
    }
    panic!("aiosmtpd is missing: run scripts/test (it installs it) or set POSTSIEGEL_DEV_PYTHON");
}

fn launch(options: Options) -> SmtpServer {
    let dir = tempfile::tempdir().unwrap();
    let mut arguments = vec![];
    if let Some((user, password)) = &options.auth {
        arguments.extend([
            "--user".into(),
            user.into(),
            "--password".into(),
            password.into(),
        ]);
    }
    let tls = match (options.starttls, options.implicit_tls) {
        (true, true) => panic!("STARTTLS or implicit TLS, not both"),
        (true, false) => Some("--starttls"),
        (false, true) => Some("--tls"),
        (false, false) => None,
    };
    let ca_pem = tls.map(|flag| {
        let (cert, key) = crate::tls_server_certificate(dir.path());
        arguments.extend([flag.into(), cert.clone().into(), key.into()]);
        std::fs::read(cert).unwrap()
    });
    // A free port may be taken before the server binds it: try another.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let port = options.port.unwrap_or_else(free_port);
        match spawn(dir.path(), port, &arguments) {
            Ok(process) => {
                return SmtpServer {
                    process,
                    port,
                    dir,
                    ca_pem,
                };
            }
            Err(log)
                if options.port.is_none()
                    && log.contains("address already in use")
                    && attempts < 5 => {}
            Err(log) => panic!("the SMTP server (aiosmtpd) did not start on port {port}:\n{log}"),
        }
    }
}

/// Starts the script and waits for its `ready`; `Err` carries its log (stderr) if it exits
/// or does not get ready in time.
fn spawn(dir: &Path, port: u16, arguments: &[std::ffi::OsString]) -> Result<Child, String> {
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let python = python();
    let script = dir.join("smtp_server.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut process = Command::new(&python)
        .arg(&script)
        .arg(dir)
        .arg(port.to_string())
        .args(arguments)
        // Held open by `process` (never written): the server exits when it closes.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = process.stdout.take().unwrap();
    let (ready, ready_received) = mpsc::channel();
    // Reads on until the server exits, so that nothing it prints can ever block it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                let _ = ready.send(());
            }
        }
    });
    match ready_received.recv_timeout(STARTUP_LIMIT) {
        Ok(()) => Ok(process),
        Err(e) => {
            let _ = process.kill();
            let status = process.wait().map(|s| s.to_string()).unwrap_or_default();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let why = match e {
                mpsc::RecvTimeoutError::Timeout => format!("not ready in {STARTUP_LIMIT:?}"),
                mpsc::RecvTimeoutError::Disconnected => format!("exited ({status})"),
            };
            Err(format!("{why}\n{log}"))
        }
    }
}

/// Reads the `<n>.json` that the server writes: `mail_from` and `rcpt_tos`.
fn parse_meta(text: &str) -> (String, Vec<String>) {
    #[derive(serde::Deserialize)]
    struct Meta {
        mail_from: String,
        rcpt_tos: Vec<String>,
    }
    let meta: Meta = serde_json::from_str(text).expect("the server's JSON");
    (meta.mail_from, meta.rcpt_tos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_servers_json() {
        let (from, to) = parse_meta(
            r#"{"mail_from": "a\"b@x.de", "rcpt_tos": ["stelle@amt.de", "müller@x.de", "\u0007\\@x"], "received_at": "2026-01-01T00:00:00+00:00"}"#,
        );
        assert_eq!(from, "a\"b@x.de");
        assert_eq!(to, ["stelle@amt.de", "müller@x.de", "\u{7}\\@x"]);
        let empty = parse_meta(r#"{"rcpt_tos": [], "mail_from": ""}"#);
        assert_eq!(empty, (String::new(), vec![]));
    }

    fn spawn_plain() -> (tempfile::TempDir, Child) {
        let dir = tempfile::tempdir().unwrap();
        let process = spawn(dir.path(), free_port(), &[]).unwrap();
        (dir, process)
    }

    fn exits_soon(process: &mut Child) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if process.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = process.kill();
        let _ = process.wait();
        false
    }

    /// A test process that dies without dropping its server must not leave it behind.
    #[test]
    fn server_exits_when_its_stdin_closes() {
        let (_dir, mut process) = spawn_plain();
        drop(process.stdin.take());
        assert!(exits_soon(&mut process), "still running after stdin closed");
    }

    #[test]
    fn server_exits_on_sigterm() {
        let (_dir, mut process) = spawn_plain();
        crate::run(Command::new("kill").args(["-TERM", &process.id().to_string()]));
        assert!(exits_soon(&mut process), "still running after SIGTERM");
        assert!(process.wait().unwrap().success());
    }
}
