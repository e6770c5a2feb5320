//! The real binary's connections, as an attacker holds them: headers sent a line at a time,
//! connections that send nothing, many at once from one client, and requests hyper cannot
//! parse. Bounded: a few seconds of timeouts, a handful of connections.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Server, serve_with};

const HEADER_TIMEOUT: u64 = 2;
const IDLE_TIMEOUT: u64 = 3;
const PER_CLIENT: usize = 4;

async fn server(dir: &std::path::Path) -> Server {
    serve_with(
        dir,
        None,
        &[
            (
                "POSTSIEGEL_HTTP__HEADER_READ_TIMEOUT_SECONDS",
                &HEADER_TIMEOUT.to_string(),
            ),
            (
                "POSTSIEGEL_HTTP__IDLE_TIMEOUT_SECONDS",
                &IDLE_TIMEOUT.to_string(),
            ),
            ("POSTSIEGEL_HTTP__MAX_PER_CLIENT", &PER_CLIENT.to_string()),
        ],
    )
    .await
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes; what it sent, and how long that took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "still open after {limit:?}: {}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// The status and the JSON body of a raw answer, asserting the headers every answer has.
fn refusal(raw: &[u8]) -> (u16, serde_json::Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{head}");
    assert!(lower.contains("content-security-policy:"), "{head}");
    assert!(lower.contains("x-content-type-options: nosniff"), "{head}");
    let status = head[9..12].parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn slow_headers_and_silent_connections_are_closed_and_one_client_holds_only_a_few() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let address = address(&server);

    // Connections that send nothing take the client's whole share, and one more is turned
    // away at once. (The start's health check may still hold a connection for a moment.)
    let mut open = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..PER_CLIENT + 2 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        let mut first = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut first)).await {
            Err(_) => open.push(stream),
            Ok(read) => {
                let n = read.unwrap();
                let (rest, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
                refused.push([&first[..n], &rest].concat());
            }
        }
    }
    assert!(
        (PER_CLIENT - 1..=PER_CLIENT).contains(&open.len()),
        "{} held",
        open.len()
    );
    for raw in &refused {
        let (status, body) = refusal(raw);
        assert_eq!(
            (status, body["code"].as_str()),
            (429, Some("too_many_connections"))
        );
    }
    // And each is closed within the header deadline, though it never sent a byte.
    for stream in &mut open {
        let (_, took) = until_closed(stream, Duration::from_secs(HEADER_TIMEOUT + 3)).await;
        assert!(took < Duration::from_secs(HEADER_TIMEOUT + 2), "{took:?}");
    }
    drop(open);

    // A header sent a line every half second: bytes flow, but the header never ends.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut closed = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if slow
            .write_all(format!("X-Line-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow header was let run");
    assert!(
        started.elapsed() < Duration::from_secs(HEADER_TIMEOUT + 3),
        "{:?}",
        started.elapsed()
    );

    // A body that stalls half way is closed after the idle timeout, not the upload's 15 min.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            b"POST /api/verification/code HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"form\":",
        )
        .await
        .unwrap();
    let (_, took) = until_closed(&mut stalled, Duration::from_secs(IDLE_TIMEOUT + 20)).await;
    assert!(took < Duration::from_secs(IDLE_TIMEOUT + 15), "{took:?}");

    // The portal still answers.
    let health = reqwest::get(format!("{}/api/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn requests_hyper_cannot_read_get_the_apis_answer_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let address = address(&server);
    let long_uri = format!(
        "GET /api/forms?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-{i}: a\r\n"))
            .collect::<String>()
    );
    let cases = [
        ("GARBAGE\r\n\r\n".to_owned(), 400, "request_invalid"),
        (long_uri, 414, "uri_too_long"),
        (many_headers, 431, "headers_too_large"),
    ];
    for (request, status, code) in cases {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let (raw, _) = until_closed(&mut stream, Duration::from_secs(10)).await;
        let (got, body) = refusal(&raw);
        assert_eq!((got, body["code"].as_str()), (status, Some(code)));
    }
}
