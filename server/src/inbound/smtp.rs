//! The listener's SMTP (and LMTP) session. smtp-proto parses the commands and the DATA
//! stream (dot-unstuffing, the end of data); the session around it is ours, because what
//! matters here is ours: RCPT looked up in the database, the mail synced to disk and
//! recorded before `250`, one reply per recipient under LMTP, the limits and timeouts,
//! and bytes pipelined before STARTTLS thrown away. Every answer is US-ASCII; the log
//! names no address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{
    EXT_8BIT_MIME, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EXT_START_TLS,
    EhloResponse, Request,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

use super::answers::{AnswerDesk, Facts};
use super::{InboundConfig, InboundFolder};
use crate::clock::unix_now;
use crate::relay::limits::ClientLimiter;
use crate::store::conversations::Conversation;
use crate::store::inbound::InboundMail;
use crate::store::{Store, StoreError};

/// The longest command line (RFC 5321 §4.5.3.1.4 allows 512; smtp-proto's limit).
const MAX_LINE: usize = 4096;
/// Recipients per transaction: a report has one.
const MAX_RECIPIENTS: usize = 20;
/// Bad commands before the listener hangs up.
const MAX_ERRORS: u32 = 10;

pub struct Listener {
    pub config: InboundConfig,
    pub store: Store,
    pub folder: InboundFolder,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Wakes the reader when a mail was taken.
    pub wake: Arc<tokio::sync::Notify>,
    pub connections: Arc<tokio::sync::Semaphore>,
    pub messages: ClientLimiter,
    /// Answers to conversations' aliases, when answers are on.
    pub answers: Option<AnswerDesk>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("the listener's TLS files: {0}")]
    Tls(String),
}

/// A rustls server configuration from the configured PEM files.
pub fn tls_acceptor(
    config: &InboundConfig,
) -> Result<Option<tokio_rustls::TlsAcceptor>, ListenerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    let bad = |what: &std::path::Path, e: &dyn std::fmt::Display| {
        ListenerError::Tls(format!("{}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| bad(&files.certificate, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&files.certificate, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|e| bad(&files.private_key, &e))?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ListenerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| ListenerError::Tls(e.to_string()))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
}

/// Why a conversation ended.
enum End {
    Closed,
    /// `220` to STARTTLS was sent: the TLS handshake comes next.
    StartTls,
}

/// One client's conversation.
struct Session {
    client: IpAddr,
    helo: Option<String>,
    lmtp: bool,
    tls: bool,
    mail_from: Option<String>,
    /// The return tokens of the accepted recipients.
    recipients: Vec<String>,
    /// The conversation whose alias is this transaction's one recipient.
    answer: Option<Conversation>,
    errors: u32,
    /// The client before Postfix, from XFORWARD: what SPF judges.
    origin_ip: Option<IpAddr>,
    origin_helo: Option<String>,
}

impl Session {
    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
        self.answer = None;
    }

    /// The SMTP client SPF judges: Postfix's own client where it forwarded that, else ours.
    fn judged_client(&self) -> (IpAddr, String) {
        match &self.origin_ip {
            Some(ip) => (*ip, self.origin_helo.clone().unwrap_or_default()),
            None => (self.client, self.helo.clone().unwrap_or_default()),
        }
    }
}

impl Listener {
    /// Takes connections until the process ends.
    pub async fn run(self: Arc<Self>, socket: TcpListener) {
        loop {
            let (mut tcp, peer) = match socket.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "the mail listener could not take a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                let _ = tcp
                    .write_all(b"421 4.3.2 Too many connections, try again later\r\n")
                    .await;
                continue;
            };
            let listener = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(error) = listener.connection(tcp, peer).await {
                    tracing::debug!(%error, "a mail connection ended with an error");
                }
            });
        }
    }

    async fn connection(&self, mut tcp: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
        let mut session = Session {
            client: peer.ip(),
            helo: None,
            lmtp: false,
            tls: false,
            mail_from: None,
            recipients: Vec::new(),
            answer: None,
            errors: 0,
            origin_ip: None,
            origin_helo: None,
        };
        let greeting = format!("220 {} ESMTP Postsiegel\r\n", self.config.hostname);
        tcp.write_all(greeting.as_bytes()).await?;
        if let End::StartTls = self.converse(&mut tcp, &mut session).await? {
            let acceptor = self.tls.clone().expect("STARTTLS is offered only with TLS");
            let handshake = timeout(self.idle(), acceptor.accept(tcp)).await;
            let mut tls = handshake.map_err(|_| timed_out())??;
            // RFC 3207 §4.2: everything learnt before TLS is forgotten.
            session.helo = None;
            session.reset();
            session.tls = true;
            self.converse(&mut tls, &mut session).await?;
        }
        Ok(())
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.config.idle_seconds)
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &mut Session,
    ) -> std::io::Result<End> {
        let mut buffer = vec![0u8; 8192];
        // What was read and not yet answered: the start of a command line, or commands
        // pipelined after a DATA's end. Lines are cut here; smtp-proto parses each one.
        let mut pending: Vec<u8> = Vec::new();
        let mut read_more = true;
        loop {
            if read_more {
                let n = timeout(self.idle(), stream.read(&mut buffer))
                    .await
                    .map_err(|_| timed_out())??;
                if n == 0 {
                    return Ok(End::Closed);
                }
                pending.extend_from_slice(&buffer[..n]);
            }
            let mut out = Vec::new();
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(attributes) = xforward(&line) {
                    out.extend_from_slice(self.forwarded(session, attributes));
                    continue;
                }
                let request = match RequestReceiver::default().ingest(&mut line.iter()) {
                    Ok(request) => request.into_owned(),
                    Err(error) => {
                        session.errors += 1;
                        out.extend_from_slice(syntax_reply(&error));
                        if session.errors >= MAX_ERRORS {
                            out.extend_from_slice(b"421 4.7.0 Too many errors\r\n");
                            stream.write_all(&out).await?;
                            return Ok(End::Closed);
                        }
                        continue;
                    }
                };
                match request {
                    Request::Quit => {
                        out.extend_from_slice(b"221 2.0.0 Bye\r\n");
                        stream.write_all(&out).await?;
                        return Ok(End::Closed);
                    }
                    Request::StartTls if self.tls.is_some() && !session.tls => {
                        // Whatever the client sent after STARTTLS in the same packet was
                        // sent in the clear: dropped, never read as if it came over TLS.
                        out.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                        stream.write_all(&out).await?;
                        return Ok(End::StartTls);
                    }
                    Request::Data
                        if session.mail_from.is_some()
                            && (!session.recipients.is_empty() || session.answer.is_some()) =>
                    {
                        out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
                        stream.write_all(&out).await?;
                        out.clear();
                        let rest = std::mem::take(&mut pending);
                        let (replies, leftover) = self.data(stream, session, &rest).await?;
                        out.extend_from_slice(&replies);
                        session.reset();
                        pending = leftover;
                    }
                    other => self.command(other, session, &mut out).await,
                }
            }
            if pending.len() > MAX_LINE {
                out.extend_from_slice(b"500 5.5.6 Line too long\r\n");
                stream.write_all(&out).await?;
                return Ok(End::Closed);
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
            }
            // Commands that followed a DATA's end in the same read are answered first.
            read_more = !pending.contains(&b'\n');
        }
    }

    /// XFORWARD (Postfix's, from a configured peer only): the client Postfix talked to,
    /// which SPF judges instead of Postfix itself.
    fn forwarded(&self, session: &mut Session, attributes: Vec<(String, String)>) -> &'static [u8] {
        if !self.config.xforward_from.contains(&session.client) {
            return b"502 5.5.1 Command not implemented\r\n";
        }
        for (name, value) in attributes {
            if value.eq_ignore_ascii_case("[UNAVAILABLE]")
                || value.eq_ignore_ascii_case("[TEMPUNAVAIL]")
            {
                continue;
            }
            match name.as_str() {
                "ADDR" => {
                    let address = value.strip_prefix("IPV6:").unwrap_or(&value);
                    session.origin_ip = address.parse().ok();
                }
                "HELO" => session.origin_helo = Some(value),
                _ => {}
            }
        }
        b"250 2.0.0 OK\r\n"
    }

    async fn command(&self, request: Request<String>, session: &mut Session, out: &mut Vec<u8>) {
        let reply: &[u8] = match request {
            Request::Ehlo { host } => {
                self.hello(session, host, false, out);
                return;
            }
            Request::Lhlo { host } => {
                self.hello(session, host, true, out);
                return;
            }
            Request::Helo { host } => {
                session.helo = Some(host);
                session.reset();
                out.extend_from_slice(format!("250 {}\r\n", self.config.hostname).as_bytes());
                return;
            }
            Request::Mail { from } => {
                if session.helo.is_none() {
                    b"503 5.5.1 Send EHLO first\r\n"
                } else if session.mail_from.is_some() {
                    b"503 5.5.1 Sender already given\r\n"
                } else if from.size as u64 > self.config.max_message_bytes {
                    b"552 5.3.4 Message too big\r\n"
                } else if self.messages.check(session.client).is_err() {
                    b"450 4.7.0 Too many messages, try again later\r\n"
                } else {
                    session.mail_from = Some(from.address);
                    b"250 2.1.0 OK\r\n"
                }
            }
            Request::Rcpt { to } => {
                let alias = self
                    .answers
                    .as_ref()
                    .and_then(|desk| desk.alias_of(&to.address));
                if session.mail_from.is_none() {
                    b"503 5.5.1 Send MAIL first\r\n"
                } else if session.answer.is_some()
                    || (alias.is_some() && !session.recipients.is_empty())
                {
                    // Each answer gets a reply of its own at the end of DATA.
                    b"452 4.5.3 One recipient per message for answers, send the rest again\r\n"
                } else if let Some(alias) = alias {
                    self.answer_recipient(&alias, session).await
                } else if session.recipients.len() >= MAX_RECIPIENTS {
                    b"452 4.5.3 Too many recipients\r\n"
                } else {
                    match self.recipient(&to.address).await {
                        Ok(Some(token)) => {
                            session.recipients.push(token);
                            b"250 2.1.5 OK\r\n"
                        }
                        Ok(None) => b"550 5.1.1 No such mailbox\r\n",
                        Err(error) => {
                            tracing::error!(%error, "looking up a return address failed");
                            b"451 4.3.0 Temporary failure, try again later\r\n"
                        }
                    }
                }
            }
            Request::Data => {
                if session.mail_from.is_none() {
                    b"503 5.5.1 Send MAIL first\r\n"
                } else {
                    b"554 5.5.1 No valid recipients\r\n"
                }
            }
            Request::Rset => {
                session.reset();
                b"250 2.0.0 OK\r\n"
            }
            Request::Noop { .. } => b"250 2.0.0 OK\r\n",
            Request::Vrfy { .. } => b"252 2.5.0 Cannot verify, send mail to try\r\n",
            Request::StartTls if session.tls => b"503 5.5.1 TLS already active\r\n",
            Request::StartTls => b"454 4.7.0 TLS not available\r\n",
            _ => b"502 5.5.1 Command not implemented\r\n",
        };
        out.extend_from_slice(reply);
    }

    fn hello(&self, session: &mut Session, host: String, lmtp: bool, out: &mut Vec<u8>) {
        session.helo = Some(host);
        session.lmtp = lmtp;
        session.reset();
        let mut response = EhloResponse::new(self.config.hostname.as_str());
        // No SMTPUTF8: the listener answers, and takes return addresses, in US-ASCII only.
        response.capabilities =
            EXT_SIZE | EXT_8BIT_MIME | EXT_PIPELINING | EXT_ENHANCED_STATUS_CODES;
        if self.tls.is_some() && !session.tls {
            response.capabilities |= EXT_START_TLS;
        }
        response.size = self.config.max_message_bytes as usize;
        let mut lines = Vec::new();
        response.write(&mut lines).expect("writing to memory");
        if self.config.xforward_from.contains(&session.client) {
            // The last line `250 X` becomes `250-X`, and XFORWARD ends the list.
            if let Some(last) = lines[..lines.len() - 2].iter().rposition(|&b| b == b'\n') {
                lines[last + 4] = b'-';
            }
            lines.extend_from_slice(b"250 XFORWARD NAME ADDR PROTO HELO\r\n");
        }
        out.extend_from_slice(&lines);
    }

    /// RCPT for an alias: taken only while its conversation is live.
    async fn answer_recipient(&self, alias: &str, session: &mut Session) -> &'static [u8] {
        let desk = self
            .answers
            .as_ref()
            .expect("an alias only where answers are on");
        match desk.live(alias).await {
            Ok(Some(conversation)) => {
                session.answer = Some(conversation);
                b"250 2.1.5 OK\r\n"
            }
            Ok(None) => b"550 5.1.1 No such mailbox\r\n",
            Err(error) => {
                tracing::error!(%error, "looking up an alias failed");
                b"451 4.3.0 Temporary failure, try again later\r\n"
            }
        }
    }

    /// The return token of `address`, if it is a return address the portal gave out.
    async fn recipient(&self, address: &str) -> Result<Option<String>, StoreError> {
        let Some(token) = crate::mail::return_token_of(address, &self.config.return_domain) else {
            return Ok(None);
        };
        Ok(self.store.return_target(&token).await?.map(|_| token))
    }

    /// Reads the DATA (starting with `already`, the bytes read with the command), keeps
    /// its first `keep_bytes`, and stores one copy per recipient. Answers the replies (one
    /// under SMTP, one per recipient under LMTP) and the bytes that followed the end.
    async fn data<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        session: &Session,
        already: &[u8],
    ) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let mut receiver = DataReceiver::new();
        // smtp-proto recognises a dot line only after a CRLF it has seen: it is shown
        // one, so that a message that starts with a dot (or is empty) ends right.
        let mut kept = Vec::new();
        receiver.ingest(&mut b"\r\n".iter(), &mut kept);
        kept.clear();
        // An answer is kept whole; of a report, its start says everything.
        let keep = if session.answer.is_some() {
            self.config.max_message_bytes as usize
        } else {
            self.config.keep_bytes as usize
        };
        let deadline = Instant::now() + Duration::from_secs(self.config.data_seconds);
        let mut total = 0u64;
        let mut chunk = already.to_vec();
        let mut buffer = vec![0u8; 65536];
        let leftover = loop {
            let before = kept.len();
            let mut bytes = chunk.iter();
            let done = receiver.ingest(&mut bytes, &mut kept);
            total += (kept.len() - before) as u64;
            if kept.len() > keep {
                kept.truncate(keep);
            }
            if done {
                break bytes.as_slice().to_vec();
            }
            let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
                .await
                .map_err(|_| timed_out())??;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client left during DATA",
                ));
            }
            chunk.clear();
            chunk.extend_from_slice(&buffer[..read]);
        };
        if total > self.config.max_message_bytes {
            // One answer per recipient under LMTP, one in all under SMTP.
            let answers = if session.lmtp {
                session.recipients.len()
            } else {
                1
            };
            return Ok((b"552 5.3.4 Message too big\r\n".repeat(answers), leftover));
        }
        if let (Some(conversation), Some(desk)) = (&session.answer, &self.answers) {
            let (client_ip, helo) = session.judged_client();
            let facts = Facts {
                client_ip,
                helo: &helo,
                mail_from: session.mail_from.as_deref().unwrap_or_default(),
            };
            let reply = desk.take(conversation, &kept, &facts).await;
            return Ok((reply.into_bytes(), leftover));
        }
        let mut out = Vec::new();
        let mut failed = false;
        for token in &session.recipients {
            let stored = self.store_mail(session, token, &kept).await;
            let reply: &[u8] = match stored {
                Ok(()) => b"250 2.0.0 OK\r\n",
                Err(error) => {
                    tracing::error!(%error, "a received mail could not be stored");
                    failed = true;
                    b"451 4.3.0 Could not store the message, try again later\r\n"
                }
            };
            if session.lmtp {
                out.extend_from_slice(reply);
            }
        }
        if !session.lmtp {
            // One reply for all: any copy not stored makes the client try again (a copy
            // stored twice is read twice, and a report applies once).
            out.extend_from_slice(if failed {
                b"451 4.3.0 Could not store the message, try again later\r\n"
            } else {
                b"250 2.0.0 OK\r\n"
            });
        }
        self.wake.notify_one();
        Ok((out, leftover))
    }

    /// The mail on disk, synced, and its row: only then may the `250` go.
    async fn store_mail(&self, session: &Session, token: &str, bytes: &[u8]) -> Result<(), String> {
        let id = crate::relay::verification::random_id();
        let folder = self.folder.clone();
        let data = bytes.to_vec();
        let file_id = id.clone();
        tokio::task::spawn_blocking(move || folder.write_synced(&file_id, &data))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (client_ip, helo) = session.judged_client();
        let record = InboundMail {
            id: id.clone(),
            return_token: token.to_owned(),
            client_ip: client_ip.to_string(),
            helo,
            mail_from: session.mail_from.clone().unwrap_or_default(),
            received_at: unix_now(),
        };
        if let Err(error) = self.store.insert_inbound(&record).await {
            let _ = std::fs::remove_file(self.folder.mail(&id));
            return Err(error.to_string());
        }
        tracing::info!(inbound = %id, "a mail to a return address was taken");
        Ok(())
    }
}

/// The attributes of an `XFORWARD NAME=value ...` line (names upper-cased, xtext decoded
/// only as far as Postfix writes it), or none for any other command.
fn xforward(line: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !command.eq_ignore_ascii_case("XFORWARD") {
        return None;
    }
    Some(
        rest.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_ascii_uppercase(), value.to_owned()))
            .collect(),
    )
}

fn syntax_reply(error: &smtp_proto::Error) -> &'static [u8] {
    match error {
        smtp_proto::Error::UnknownCommand => b"500 5.5.2 Command unrecognized\r\n",
        smtp_proto::Error::ResponseTooLong => b"500 5.5.6 Line too long\r\n",
        smtp_proto::Error::InvalidSenderAddress => b"501 5.1.7 Bad sender address syntax\r\n",
        smtp_proto::Error::InvalidRecipientAddress => b"501 5.1.3 Bad recipient address syntax\r\n",
        smtp_proto::Error::UnsupportedParameter { .. } => b"555 5.5.4 Parameter not supported\r\n",
        _ => b"501 5.5.4 Syntax error\r\n",
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the client was silent too long",
    )
}
