//! The return path: the portal's own mail listener. Every mail the portal sends goes out
//! with an envelope sender of its own on the return domain (`r-<token>@…`, see
//! `mail::return_address`); bounces, delay reports and confirmations of receipt come back
//! here. `smtp` takes them (refusing unknown recipients at RCPT, synced and recorded
//! before its `250`), `reader` reads them and turns what they report into the status the
//! citizen sees, `report` says what a mail reports, `authenticity` whether DKIM or SPF
//! vouches for who sent it.

pub mod answers;
pub mod authenticity;
pub mod reader;
pub mod report;
pub mod smtp;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::relay::limits::Limit;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// Where the listener takes mail: port 25 of the return domain's MX in production,
    /// or a loopback port behind Postfix (LMTP, see the README).
    pub bind: SocketAddr,
    /// The domain of the return addresses, e.g. `return.kontakt.example.de`.
    pub return_domain: String,
    /// The name in the greeting; it must not be the name of the MTA that hands mail over.
    pub hostname: String,
    /// A certificate and key (PEM) for STARTTLS; none: no STARTTLS offered.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// The largest mail taken (the SIZE the listener announces).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// Of a larger mail only this many first bytes are kept: the report comes before
    /// any returned copy of the message, which is all that lies beyond.
    #[serde(default = "default_keep_bytes")]
    pub keep_bytes: u64,
    /// A client silent for this long between two commands is disconnected.
    #[serde(default = "default_idle_seconds")]
    pub idle_seconds: u64,
    /// The whole DATA of one mail must arrive within this many seconds.
    #[serde(default = "default_data_seconds")]
    pub data_seconds: u64,
    /// Connections at once, from everyone.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Mails per client address.
    #[serde(default = "default_messages")]
    pub messages: Limit,
    /// How long after hand-over a bounce is still expected: the citizen's address (for
    /// the failure notice) is kept that long, unless a final report came first.
    #[serde(default = "default_report_days")]
    pub report_days: u64,
    /// Postfix in front (LMTP with `lmtp_send_xforward_command = yes`): its addresses,
    /// whose XFORWARD (the client it talked to) is believed for SPF.
    #[serde(default)]
    pub xforward_from: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

fn default_max_message_bytes() -> u64 {
    60_000_000
}
fn default_keep_bytes() -> u64 {
    1_000_000
}
fn default_idle_seconds() -> u64 {
    // RFC 5321 §4.5.3.2 asks servers to wait at least five minutes.
    300
}
fn default_data_seconds() -> u64 {
    600
}
fn default_max_connections() -> usize {
    100
}
fn default_messages() -> Limit {
    Limit {
        burst: 100,
        period_ms: 10_000,
    }
}
fn default_report_days() -> u64 {
    7
}

impl InboundConfig {
    /// A listener on `bind` for `return_domain`, every limit at its default.
    pub fn new(bind: SocketAddr, return_domain: &str, hostname: &str) -> InboundConfig {
        InboundConfig {
            bind,
            return_domain: return_domain.to_owned(),
            hostname: hostname.to_owned(),
            tls: None,
            max_message_bytes: default_max_message_bytes(),
            keep_bytes: default_keep_bytes(),
            idle_seconds: default_idle_seconds(),
            data_seconds: default_data_seconds(),
            max_connections: default_max_connections(),
            messages: default_messages(),
            report_days: default_report_days(),
            xforward_from: Vec::new(),
        }
    }
}

/// Where taken mails wait until they are read: `<data_dir>/inbound/<id>.eml`.
#[derive(Debug, Clone)]
pub struct InboundFolder(PathBuf);

impl InboundFolder {
    pub fn new(path: PathBuf) -> InboundFolder {
        InboundFolder(path)
    }

    pub fn mail(&self, id: &str) -> PathBuf {
        self.0.join(format!("{id}.eml"))
    }

    /// Writes a mail and syncs it and the folder: after this, a crash loses nothing.
    pub fn write_synced(&self, id: &str, bytes: &[u8]) -> std::io::Result<()> {
        crate::durable::write_file(&self.0, &format!("{id}.eml"), bytes)
    }
}
