//! Accepting connections, with what `axum::serve` leaves out: a deadline for a request's
//! header (hyper's header read timeout, which needs a timer that axum does not set), an idle
//! timeout (no byte from the client for so long closes the connection, a stalled upload
//! too), a cap on connections per client, and the API's error shape on the refusals hyper
//! writes itself (a broken request line, a URI or a header block too long).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;
use wire::{ErrorBody, ErrorCode, ErrorParams};

use super::error;

/// How long connections may take, and how many one client may hold (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// A request's header must be complete this long after the connection began waiting
    /// for it (also between the requests of a kept-alive connection).
    pub header_read_timeout_seconds: u64,
    /// A connection on which the client sends nothing for this long is closed.
    pub idle_timeout_seconds: u64,
    /// Connections one client address may hold at once (reverse proxies in
    /// `relay.trusted_proxies` are not capped).
    pub max_per_client: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout_seconds: 20,
            idle_timeout_seconds: 60,
            max_per_client: 64,
        }
    }
}

/// Connections open per client address.
#[derive(Default)]
struct OpenConnections(Mutex<HashMap<IpAddr, usize>>);

/// One of a client's connections; given back when dropped.
struct Slot {
    open: Arc<OpenConnections>,
    client: IpAddr,
}

impl OpenConnections {
    fn take(self: &Arc<Self>, client: IpAddr, most: usize) -> Option<Slot> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(client).or_default();
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests end.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    trusted_proxies: Arc<[IpAddr]>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let open = Arc::new(OpenConnections::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop_tx.closed() => break,
        };
        let most = if trusted_proxies.contains(&peer.ip()) {
            usize::MAX
        } else {
            limits.max_per_client
        };
        let Some(slot) = open.take(peer.ip(), most) else {
            tokio::spawn(refuse(stream, ErrorCode::TooManyConnections));
            continue;
        };
        let connection = Connection {
            router: router.clone(),
            limits: limits.clone(),
            stop: stop_tx.clone(),
            done: done_rx.clone(),
        };
        tokio::spawn(connection.run(stream, peer, slot));
    }
    drop(done_rx);
    done_tx.closed().await;
}

struct Connection {
    router: Router,
    limits: ConnectionLimits,
    stop: tokio::sync::watch::Sender<()>,
    done: tokio::sync::watch::Receiver<()>,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr, _slot: Slot) {
        let mut timed = TimeoutStream::new(stream);
        timed.set_read_timeout(Some(Duration::from_secs(self.limits.idle_timeout_seconds)));
        let io = TokioIo::new(HyperRefusals::new(Box::pin(timed)));
        let service = self
            .router
            .map_request(move |request: axum::http::Request<_>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(
                self.limits.header_read_timeout_seconds.max(1),
            ));
        let connection =
            builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
        let mut connection = std::pin::pin!(connection);
        let mut stopping = std::pin::pin!(self.stop.closed());
        loop {
            tokio::select! {
                // Timeouts and clients that hang up end here; nothing to tell anyone.
                _ = connection.as_mut() => break,
                _ = &mut stopping => connection.as_mut().graceful_shutdown(),
            }
        }
        drop(self.done);
    }
}

/// An error answer written straight to the socket, in the API's shape, with the headers
/// every answer of the portal carries.
fn raw_refusal(code: ErrorCode) -> Vec<u8> {
    let status = error::status(code);
    let body = serde_json::to_vec(&ErrorBody {
        code,
        field: None,
        params: ErrorParams::default(),
    })
    .expect("an error body serialises");
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    head.push_str("content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n");
    for (name, value) in super::web::SECURITY_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Turns a client away before HTTP starts (too many connections), then closes.
async fn refuse(mut stream: TcpStream, code: ErrorCode) {
    let refusal = raw_refusal(code);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        stream.write_all(&refusal).await?;
        stream.shutdown().await
    })
    .await;
}

/// The error code for a refusal hyper writes itself, by its status line.
fn hyper_refusal(head: &[u8]) -> Option<ErrorCode> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let code = match status {
        b"400" => ErrorCode::RequestInvalid,
        b"414" => ErrorCode::UriTooLong,
        b"431" => ErrorCode::HeadersTooLarge,
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    // Every answer of the router carries a policy; hyper's own answers carry none.
    let ours = head[..end]
        .to_ascii_lowercase()
        .windows(24)
        .any(|w| w == b"content-security-policy:");
    (!ours).then_some(code)
}

/// Passes everything through, but replaces the bare refusals hyper writes on a request it
/// cannot parse (status and nothing else) with the API's refusal; hyper closes the
/// connection after them.
struct HyperRefusals<S> {
    inner: S,
    state: Replacing,
}

enum Replacing {
    /// Nothing to replace (yet).
    Not,
    /// A replacement being written, how much of it is written, and the length of what it
    /// replaces (reported as written once it is).
    Now(Vec<u8>, usize, usize),
    /// Replaced; hyper closes the connection next.
    Done,
}

impl<S> HyperRefusals<S> {
    fn new(inner: S) -> Self {
        HyperRefusals {
            inner,
            state: Replacing::Not,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HyperRefusals<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HyperRefusals<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if matches!(this.state, Replacing::Not)
            && let Some(code) = hyper_refusal(buf)
        {
            this.state = Replacing::Now(raw_refusal(code), 0, buf.len());
        }
        let Replacing::Now(replacement, written, replaced) = &mut this.state else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while *written < replacement.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &replacement[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        let replaced = *replaced;
        this.state = Replacing::Done;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_refusals_are_replaced() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(hyper_refusal(bare), Some(ErrorCode::RequestInvalid));
        let ours =
            b"HTTP/1.1 400 Bad Request\r\nContent-Security-Policy: default-src 'none'\r\n\r\n{}";
        assert_eq!(hyper_refusal(ours), None);
        assert_eq!(hyper_refusal(b"HTTP/1.1 100 Continue\r\n\r\n"), None);
        assert_eq!(
            hyper_refusal(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"),
            Some(ErrorCode::HeadersTooLarge)
        );
        let refusal = String::from_utf8(raw_refusal(ErrorCode::UriTooLong)).unwrap();
        assert!(
            refusal.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{refusal}"
        );
        assert!(refusal.ends_with("{\"code\":\"uri_too_long\",\"params\":{}}"));
        assert!(refusal.contains("x-content-type-options: nosniff\r\n"));
    }
}
