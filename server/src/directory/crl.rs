//! Revocation lists fetched from the certificates' distribution points (`http://` or
//! `ldap://`), cached in the data folder and used until their nextUpdate plus 24 hours.
//!
//! A list is fetched again once its nextUpdate has passed, and at least every
//! `refresh_hours` (CAs publish revocations before the old list runs out). A failed fetch
//! keeps the cached list: it stays good until its own deadline, after which the forms that
//! depend on it are not offered (fail closed) and the operator is told.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use smime::Certificate;
use smime::revocation::{distribution_points, parse_crl};
use x509_cert::crl::CertificateList;

use super::ldap;

/// CRLs of large CAs run to megabytes; anything far beyond is not a CRL.
const MAX_CRL_BYTES: usize = 32_000_000;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("LDAP: {0}")]
    Ldap(#[from] ldap::LdapError),
    #[error("larger than {MAX_CRL_BYTES} bytes")]
    TooLarge,
    #[error("not a CRL: {0}")]
    NotACrl(String),
    #[error("only http:// and ldap:// distribution points are fetched")]
    UnsupportedScheme,
    #[error("cache {path}: {source}")]
    Cache {
        path: String,
        source: std::io::Error,
    },
}

/// The cache folder (`<data_dir>/crl`): one file per distribution point URL.
pub struct CrlCache {
    folder: PathBuf,
    http: reqwest::Client,
    timeout: Duration,
    refresh_hours: u64,
}

/// One distribution point after a refresh.
#[derive(Debug)]
pub struct Fetched {
    pub url: String,
    /// Ok(true): fetched now; Ok(false): the cached list was still current.
    pub result: Result<bool, FetchError>,
}

impl CrlCache {
    pub fn new(data_dir: &Path, timeout: Duration, refresh_hours: u64) -> CrlCache {
        CrlCache {
            folder: data_dir.join("crl"),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a plain HTTP client builds"),
            timeout,
            refresh_hours,
        }
    }

    fn path(&self, url: &str) -> PathBuf {
        let hash: String = Sha256::digest(url.as_bytes())[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.folder.join(format!("{hash}.crl"))
    }

    /// Every cached list that still parses.
    pub fn load_all(&self) -> Vec<CertificateList> {
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "crl"))
            .filter_map(|e| parse_crl(&std::fs::read(e.path()).ok()?).ok())
            .collect()
    }

    /// The distribution points of `certificates`, each once.
    pub fn urls(certificates: &[&Certificate]) -> Vec<String> {
        let set: BTreeSet<String> = certificates
            .iter()
            .flat_map(|c| distribution_points(c))
            .collect();
        set.into_iter().collect()
    }

    /// Fetches the lists that are due (missing, past nextUpdate, or older than
    /// `refresh_hours`) and replaces each cached file only with a list that parses.
    pub async fn refresh(&self, urls: &[String], now: u64) -> Vec<Fetched> {
        let mut results = Vec::new();
        for url in urls {
            let result = if self.is_current(url, now) {
                Ok(false)
            } else {
                self.fetch_and_store(url).await.map(|()| true)
            };
            results.push(Fetched {
                url: url.clone(),
                result,
            });
        }
        results
    }

    fn is_current(&self, url: &str, now: u64) -> bool {
        let path = self.path(url);
        let Ok(bytes) = std::fs::read(&path) else {
            return false;
        };
        let Ok(crl) = parse_crl(&bytes) else {
            return false;
        };
        let fetched_at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let next_update = crl
            .tbs_cert_list
            .next_update
            .map_or(0, |t| t.to_unix_duration().as_secs());
        now < next_update && now < fetched_at + self.refresh_hours * 3600
    }

    async fn fetch_and_store(&self, url: &str) -> Result<(), FetchError> {
        let bytes = if url.starts_with("http://") {
            let response = self.http.get(url).send().await?;
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|n| n > MAX_CRL_BYTES as u64)
            {
                return Err(FetchError::TooLarge);
            }
            let bytes = response.bytes().await?;
            if bytes.len() > MAX_CRL_BYTES {
                return Err(FetchError::TooLarge);
            }
            bytes.to_vec()
        } else if url.starts_with("ldap://") {
            ldap::fetch_crl(url, self.timeout).await?
        } else {
            return Err(FetchError::UnsupportedScheme);
        };
        parse_crl(&bytes).map_err(|e| FetchError::NotACrl(e.to_string()))?;
        let cache = |source| FetchError::Cache {
            path: self.folder.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.folder).map_err(cache)?;
        let path = self.path(url);
        let partial = path.with_extension("partial");
        std::fs::write(&partial, &bytes).map_err(cache)?;
        std::fs::rename(&partial, &path).map_err(cache)?;
        Ok(())
    }
}
