//! Where finished mails go: an SMTP server (lettre; STARTTLS, implicit TLS or plain, with
//! authentication), or, as the embedded default, one file per mail in a spool folder.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How the relay reaches the mail server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (the default), `tls` (implicit, port 465) or `none` (only on a trusted
    /// network, such as a relay on the same host).
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// PEM certificates to trust besides the system's (an authority's internal CA).
    #[serde(default)]
    pub extra_roots: Option<PathBuf>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_seconds: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("SMTP configuration: {0}")]
    Config(String),
}

/// Why a mail did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later: the server is down, busy, or answered 4xx.
    Temporary(String),
    /// It will never work: the server answered 5xx (no such mailbox, message refused).
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Spool(PathBuf),
}

impl Transport {
    pub fn smtp(config: &SmtpConfig) -> Result<Transport, TransportError> {
        let bad = |e: &dyn std::fmt::Display| TransportError::Config(e.to_string());
        let tls = || -> Result<TlsParameters, TransportError> {
            let mut parameters = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.extra_roots {
                let pem = std::fs::read(path)
                    .map_err(|e| TransportError::Config(format!("{}: {e}", path.display())))?;
                parameters = parameters
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| bad(&e))?);
            }
            parameters.build_rustls().map_err(|e| bad(&e))
        };
        let tls = match config.security {
            SmtpSecurity::Starttls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .tls(tls)
                .timeout(Some(Duration::from_secs(config.timeout_seconds)));
        if let Some(username) = &config.username {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Transport::Smtp(builder.build()))
    }

    /// Sends `mail` (the finished bytes) from `from` to `to`; the spool writes it as
    /// `<name>.eml`.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        name: &str,
        mail: &[u8],
    ) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => {
                let envelope = Envelope::new(
                    Some(
                        envelope_address(from)
                            .parse()
                            .map_err(|e| SendError::Permanent(format!("sender: {e}")))?,
                    ),
                    vec![
                        to.parse()
                            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?,
                    ],
                )
                .map_err(|e| SendError::Permanent(e.to_string()))?;
                smtp.send_raw(&envelope, mail)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        if e.is_permanent() {
                            SendError::Permanent(e.to_string())
                        } else {
                            SendError::Temporary(e.to_string())
                        }
                    })
            }
            Transport::Spool(folder) => {
                crate::durable::write_file(folder, &format!("{name}.eml"), mail)
                    .map_err(|e| SendError::Temporary(format!("spool: {e}")))
            }
        }
    }
}

/// `kontakt@portal.example` of `Postsiegel <kontakt@portal.example>`.
pub fn envelope_address(mailbox: &str) -> &str {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(start), Some(end)) if start < end => &mailbox[start + 1..end],
        _ => mailbox.trim(),
    }
}
