//! The SMTP test server, driven by a raw SMTP dialogue over a TCP socket: what it stores
//! and how it answers in each behaviour.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use testkit::smtp::{Behaviour, Received, SmtpServer, free_port};

/// A message whose lines starting with a dot must be dot-stuffed on the wire.
const MESSAGE: &[u8] = b"From: buerger@example.org\r\nTo: poststelle@amt.example\r\n\
Subject: Test\r\n\r\n.a line that starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n";

/// Just enough of an SMTP client to see every reply code.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(server: &SmtpServer) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut client = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert_eq!(client.reply().0, 220);
        assert_eq!(client.command("EHLO client.example").0, 250);
        client
    }

    /// Reads one reply, all its lines: (code, text of every line).
    fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("no SMTP reply: {e} (after {text:?})"));
            assert!(line.len() >= 4, "short SMTP reply line: {line:?}");
            text.push_str(&line);
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn command(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends `message` (ending in CRLF) after DATA's 354, dot-stuffed, and the final dot;
    /// the caller reads the reply.
    fn send_data(&mut self, message: &[u8]) {
        assert_eq!(self.command("DATA").0, 354);
        let mut wire = Vec::new();
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
        }
        wire.extend_from_slice(b".\r\n");
        self.send(&wire);
    }

    /// MAIL, RCPT for each recipient and DATA; the reply to the final dot.
    fn mail(&mut self, from: &str, to: &[&str], message: &[u8]) -> (u16, String) {
        assert_eq!(self.command(&format!("MAIL FROM:<{from}>")).0, 250);
        for rcpt in to {
            assert_eq!(self.command(&format!("RCPT TO:<{rcpt}>")).0, 250);
        }
        self.send_data(message);
        self.reply()
    }
}

#[test]
fn accepts_and_stores_the_exact_bytes_in_arrival_order() {
    let server = SmtpServer::start();
    let mut client = Client::connect(&server);
    let to = ["poststelle@amt.example", "kopie@amt.example"];
    assert_eq!(client.mail("buerger@example.org", &to, MESSAGE).0, 250);
    let second = b"Subject: second\r\n\r\nbody\r\n";
    // The null sender, as bounces have.
    assert_eq!(client.mail("", &["a@amt.example"], second).0, 250);
    assert_eq!(client.command("QUIT").0, 221);

    let received = server.wait_for(2, Duration::from_secs(5));
    assert_eq!(
        received,
        [
            Received {
                mail_from: "buerger@example.org".into(),
                rcpt_tos: to.map(String::from).to_vec(),
                data: MESSAGE.to_vec(),
            },
            Received {
                mail_from: "<>".into(),
                rcpt_tos: vec!["a@amt.example".into()],
                data: second.to_vec(),
            },
        ]
    );
}

#[test]
fn refuses_at_rcpt_with_the_right_codes() {
    let server = SmtpServer::start();
    let mut client = Client::connect(&server);
    assert_eq!(client.command("MAIL FROM:<a@example.org>").0, 250);
    server.set(Behaviour::TempFailRcpt);
    let (code, text) = client.command("RCPT TO:<x@amt.example>");
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("451 4.3.0 "), "{text}");
    server.set(Behaviour::PermFailRcpt);
    let (code, text) = client.command("RCPT TO:<x@amt.example>");
    assert!(
        text.starts_with("550 5.1.1 ") && text.contains("no such mailbox"),
        "{text}"
    );
    assert_eq!(code, 550);
    // No recipient was taken: DATA has nobody to deliver to.
    assert_eq!(client.command("DATA").0, 503);
    assert!(server.received().is_empty());
}

#[test]
fn refuses_at_the_end_of_data_with_the_right_codes_and_stores_nothing() {
    let server = SmtpServer::start();
    let mut client = Client::connect(&server);
    server.set(Behaviour::TempFailData);
    let (code, text) = client.mail("a@example.org", &["x@amt.example"], MESSAGE);
    assert_eq!(code, 451, "{text}");
    server.set(Behaviour::PermFailData);
    let (code, text) = client.mail("a@example.org", &["x@amt.example"], MESSAGE);
    assert!(text.starts_with("554 5.6.0 "), "{text}");
    assert_eq!(code, 554);
    assert!(server.received().is_empty());
}

#[test]
fn behaviour_changes_while_the_server_runs() {
    let server = SmtpServer::start();
    let mut client = Client::connect(&server);
    assert_eq!(
        client
            .mail("a@example.org", &["one@amt.example"], b"1\r\n")
            .0,
        250
    );
    server.set(Behaviour::PermFailData);
    assert_eq!(
        client
            .mail("a@example.org", &["two@amt.example"], b"2\r\n")
            .0,
        554
    );
    server.set(Behaviour::Accept);
    assert_eq!(
        client
            .mail("a@example.org", &["three@amt.example"], b"3\r\n")
            .0,
        250
    );
    let received = server.wait_for(2, Duration::from_secs(5));
    let data: Vec<&[u8]> = received.iter().map(|r| r.data.as_slice()).collect();
    assert_eq!(data, [b"1\r\n", b"3\r\n"]);
}

/// What crash tests rely on: the message is stored before the 250 comes, and a client that
/// goes away while waiting leaves it stored and the server serving.
#[test]
fn hold_data_stores_the_message_before_answering() {
    // Long enough that a busy machine still stores the message within half of it.
    let hold = Duration::from_secs(3);
    let server = SmtpServer::start();
    server.set(Behaviour::HoldData(hold));
    let mut client = Client::connect(&server);
    assert_eq!(client.command("MAIL FROM:<a@example.org>").0, 250);
    assert_eq!(client.command("RCPT TO:<x@amt.example>").0, 250);
    // Timed from before sending: the server's hold starts later, so the reply cannot come
    // sooner than `hold` from here.
    let sent = Instant::now();
    client.send_data(MESSAGE);
    let received = server.wait_for(1, hold / 2);
    assert_eq!(received[0].data, MESSAGE);
    assert_eq!(client.reply().0, 250);
    assert!(sent.elapsed() >= hold, "{:?}", sent.elapsed());

    // This client dies while the server holds its reply.
    let mut client = Client::connect(&server);
    assert_eq!(client.command("MAIL FROM:<a@example.org>").0, 250);
    assert_eq!(client.command("RCPT TO:<y@amt.example>").0, 250);
    client.send_data(b"second\r\n");
    assert_eq!(server.wait_for(2, hold / 2)[1].data, b"second\r\n");
    drop(client);
    server.set(Behaviour::Accept);
    let mut client = Client::connect(&server);
    assert_eq!(
        client.mail("a@example.org", &["z@amt.example"], b"3\r\n").0,
        250
    );
    assert_eq!(server.wait_for(3, Duration::from_secs(5)).len(), 3);
}

#[test]
fn auth_is_required_and_checked() {
    let server = SmtpServer::with_auth("relay", "geheim");
    let mut client = Client::connect(&server);
    let (_, ehlo) = client.command("EHLO client.example");
    assert!(ehlo.contains("AUTH LOGIN PLAIN"), "{ehlo}");
    let (code, text) = client.command("MAIL FROM:<a@example.org>");
    assert!(text.starts_with("530 5.7.0"), "{text}");
    assert_eq!(code, 530);

    let plain = |user: &str, password: &str| {
        format!(
            "AUTH PLAIN {}",
            BASE64.encode(format!("\0{user}\0{password}"))
        )
    };
    assert_eq!(client.command(&plain("relay", "falsch")).0, 535);
    assert_eq!(client.command(&plain("relay", "geheim")).0, 235);
    assert_eq!(
        client.mail("a@example.org", &["x@amt.example"], b"1\r\n").0,
        250
    );

    // LOGIN too, on a new connection.
    let mut client = Client::connect(&server);
    assert_eq!(client.command("AUTH LOGIN").0, 334);
    assert_eq!(client.command(&BASE64.encode("relay")).0, 334);
    assert_eq!(client.command(&BASE64.encode("geheim")).0, 235);
    assert_eq!(
        client.mail("a@example.org", &["x@amt.example"], b"2\r\n").0,
        250
    );
    assert_eq!(server.wait_for(2, Duration::from_secs(5)).len(), 2);
}

#[test]
fn a_server_without_auth_or_tls_offers_neither() {
    let server = SmtpServer::start();
    let mut client = Client::connect(&server);
    let (_, ehlo) = client.command("EHLO client.example");
    assert!(
        !ehlo.contains("AUTH") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
}

/// The handshake is checked by OpenSSL against `ca_pem`, with the name and the address.
#[test]
fn starttls_is_offered_with_a_certificate_to_trust() {
    let server = SmtpServer::with_starttls();
    let mut client = Client::connect(&server);
    let (_, ehlo) = client.command("EHLO client.example");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    drop(client);

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    for check in [
        ["-verify_hostname", "localhost"],
        ["-verify_ip", "127.0.0.1"],
    ] {
        let mut openssl = Command::new("openssl")
            .args(["s_client", "-starttls", "smtp", "-connect"])
            .arg(format!("127.0.0.1:{}", server.port()))
            .args(["-verify_return_error", "-CAfile"])
            .arg(&ca)
            .args(check)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        openssl
            .stdin
            .take()
            .unwrap()
            .write_all(b"QUIT\r\n")
            .unwrap();
        let output = openssl.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("Verify return code: 0 (ok)"),
            "{check:?}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Crash tests stop the server and start a new one where the relay expects it.
#[test]
fn restarts_on_the_same_port() {
    let first = SmtpServer::start();
    let port = first.port();
    let mut client = Client::connect(&first);
    assert_eq!(
        client.mail("a@example.org", &["x@amt.example"], b"1\r\n").0,
        250
    );
    drop(first);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    let second = SmtpServer::start_on(port);
    assert_eq!(second.port(), port);
    assert!(second.received().is_empty());
    let mut client = Client::connect(&second);
    assert_eq!(
        client.mail("a@example.org", &["x@amt.example"], b"2\r\n").0,
        250
    );
    assert_eq!(second.wait_for(1, Duration::from_secs(5))[0].data, b"2\r\n");
}

#[test]
fn starts_on_a_given_free_port() {
    let port = free_port();
    let server = SmtpServer::start_on(port);
    Client::connect(&server);
}

#[test]
#[should_panic(expected = "received 0 message(s) within")]
fn wait_for_panics_with_what_arrived() {
    let server = SmtpServer::start();
    server.wait_for(1, Duration::from_millis(100));
}

/// A crash test that restarts on a port someone else took learns why at once.
#[test]
#[should_panic(expected = "did not start on port")]
fn start_on_a_taken_port_panics_with_the_servers_reason() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    SmtpServer::start_on(taken.local_addr().unwrap().port());
}
