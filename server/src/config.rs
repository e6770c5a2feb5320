//! The server's configuration: one typed struct, read from defaults, an optional TOML file
//! and `POSTSIEGEL_*` environment variables, in that order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::directory::ldap::LdapConfig;
use crate::directory::pki::PkiConfig;
use crate::http::serve::ConnectionLimits;
use crate::relay::limits::Limits;
use crate::relay::transport::SmtpConfig;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// How long connections may take, and how many one client may hold.
    #[serde(default)]
    pub http: ConnectionLimits,
    /// Where the server keeps its database, queue and keys.
    pub data_dir: PathBuf,
    /// The app as Trunk built it (`index.html` and hashed assets).
    pub dist_dir: PathBuf,
    /// Where citizens reach the portal (links and snippets), e.g. `https://kontakt.example.de`;
    /// none: `http://` and the bind address.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The sender of relayed mails, e.g. `Kontaktformular <kontaktformular@portal.example>`.
    pub mail_from: String,
    /// Where notices for the operator go (stale revocation lists); none: the log only.
    #[serde(default)]
    pub operator_email: Option<String>,
    /// Trust anchors, intermediates and CRL files for the certificate checks.
    #[serde(default)]
    pub pki: PkiConfig,
    /// Certificate lookup in the state PKI's LDAP directory; none: imported certificates only.
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    /// How often the forms are judged again (certificates expire by the clock, directory
    /// files are imported while the server runs).
    pub refresh_seconds: u64,
    /// Fetched CRLs are fetched again after this many hours even before their nextUpdate.
    pub crl_refresh_hours: u64,
    /// Where mail goes out; none: each mail is written as a file into `<data_dir>/spool`.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// Accepting, queueing and delivering messages.
    #[serde(default)]
    pub relay: RelayConfig,
    /// The mail listener for bounces and confirmations of receipt; none: mails go out
    /// from `mail_from`, and the status ends at "handed over".
    #[serde(default)]
    pub inbound: Option<crate::inbound::InboundConfig>,
    /// Sign relayed mails with DKIM; none: unsigned (the mail server may sign instead).
    #[serde(default)]
    pub dkim: Option<crate::dkim::DkimConfig>,
    /// The portal's S/MIME signature over what it forwards; none (the default): unsigned.
    #[serde(default)]
    pub signing: Option<crate::relay::signing::SigningConfig>,
    /// Answers by the authority's Reply, encrypted to a key born in the citizen's browser;
    /// needs the mail listener (`inbound`). None: one-way.
    #[serde(default)]
    pub answers: Option<crate::answers::AnswersConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Finished submissions, codes and sent mails are forgotten after this many days.
    pub retention_days: u64,
    /// A message not delivered within this many hours has failed.
    pub delivery_hours: u64,
    /// The queue refuses new messages (503) beyond this many bytes of waiting mail.
    pub max_queue_bytes: u64,
    /// Client addresses of reverse proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Rate limits per client address.
    pub limits: Limits,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            retention_days: 30,
            delivery_hours: 48,
            max_queue_bytes: 5_000_000_000,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            http: ConnectionLimits::default(),
            data_dir: PathBuf::from("data"),
            dist_dir: PathBuf::from("dist"),
            public_url: None,
            mail_from: "Postsiegel Kontaktformular <kontaktformular@postsiegel.localhost>".into(),
            operator_email: None,
            pki: PkiConfig::default(),
            ldap: None,
            refresh_seconds: 60,
            crl_refresh_hours: 6,
            smtp: None,
            relay: RelayConfig::default(),
            inbound: None,
            dkim: None,
            signing: None,
            answers: None,
        }
    }
}

impl Config {
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// Defaults, then the file (when given), then the environment. A named file that does not
    /// exist is an error: a typo in a path must not silently start a server on defaults.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        // POSTSIEGEL_PKI__CRL_FILES sets pki.crl_files. Not configuration: the command
        // line's POSTSIEGEL_CONFIG, the log filter POSTSIEGEL_LOG, and everything under
        // POSTSIEGEL_DEV_, which belongs to the scripts and tests (a rule, not a list, so that
        // a new script variable cannot be taken for a misspelt setting).
        Self::load_from(file, Self::environment("POSTSIEGEL_"))
    }

    /// The configuration's share of the environment variables that start with `prefix`.
    fn environment(prefix: &str) -> Env {
        Env::prefixed(prefix)
            .ignore(&["config", "log"])
            .filter(|key| !key.starts_with("dev_"))
            .split("__")
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Box::new(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    path.display()
                ))));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(env).extract().map_err(Box::new)
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file_and_listen_on_loopback_only() {
        let config = Config::load_from(None, Env::prefixed("POSTSIEGEL_TEST_NOTHING_")).unwrap();
        assert_eq!(config, Config::default());
        assert!(config.bind.ip().is_loopback());
    }

    #[test]
    fn the_environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "p.toml",
                "bind = \"127.0.0.1:9000\"\ndata_dir = \"/srv/p\"\n",
            )?;
            jail.set_env("PSX_DIST_DIR", "/srv/dist");
            jail.set_env("PSX_BIND", "0.0.0.0:9443");
            let config =
                Config::load_from(Some(Path::new("p.toml")), Env::prefixed("PSX_")).unwrap();
            assert_eq!(config.bind, "0.0.0.0:9443".parse().unwrap());
            assert_eq!(config.data_dir, PathBuf::from("/srv/p"));
            assert_eq!(config.dist_dir, PathBuf::from("/srv/dist"));
            Ok(())
        });
    }

    #[test]
    fn the_scripts_variables_are_not_configuration_but_a_misspelt_setting_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PSX_DEV_WEBBENCH_DIR", "/tmp/webbench");
            jail.set_env("PSX_LOG", "debug");
            jail.set_env("PSX_REFRESH_SECONDS", "5");
            let config = Config::load_from(None, Config::environment("PSX_")).unwrap();
            assert_eq!(config.refresh_seconds, 5);
            jail.set_env("PSX_REFRESH_SECOND", "5");
            let err = Config::load_from(None, Config::environment("PSX_")).unwrap_err();
            assert!(err.to_string().contains("refresh_second"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_or_unknown_key_is_an_error() {
        assert!(Config::load_from(Some(Path::new("/nonexistent.toml")), Env::raw()).is_err());
        figment::Jail::expect_with(|jail| {
            jail.create_file("p.toml", "bnid = \"127.0.0.1:9000\"\n")?;
            let err =
                Config::load_from(Some(Path::new("p.toml")), Env::prefixed("PSX_")).unwrap_err();
            assert!(err.to_string().contains("bnid"), "{err}");
            Ok(())
        });
    }
}
