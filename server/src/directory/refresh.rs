//! Keeps the catalog current: certificates from LDAP, CRLs from their distribution points,
//! the directory from the database, all judged again at a steady pace and swapped in whole.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smime::certificate::{fingerprint_hex, fingerprint_sha256};

use super::catalog::{Catalog, Settings, SharedCatalog};
use super::crl::CrlCache;
use super::ldap::{self, LdapConfig};
use super::pki::{Pki, PkiConfig, PkiError, Revocation};
use crate::clock::unix_now;
use crate::model::StoredCertificate;
use crate::notices;
use crate::store::{Source, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("trust configuration: {0}")]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Ldap(#[from] ldap::LdapError),
}

pub struct Discovery {
    pub store: Store,
    pub pki: PkiConfig,
    pub ldap: Option<LdapConfig>,
    pub crls: CrlCache,
    pub settings: Settings,
    pub catalog: SharedCatalog,
    pub operator_email: Option<String>,
    /// Certificates already reported as lacking a current CRL (told once, not every minute).
    reported: Mutex<BTreeSet<String>>,
}

impl Discovery {
    pub fn new(
        store: Store,
        pki: PkiConfig,
        ldap: Option<LdapConfig>,
        crls: CrlCache,
        settings: Settings,
        catalog: SharedCatalog,
        operator_email: Option<String>,
    ) -> Discovery {
        Discovery {
            store,
            pki,
            ldap,
            crls,
            settings,
            catalog,
            operator_email,
            reported: Mutex::default(),
        }
    }

    /// Asks the LDAP directory (when configured) for every mailbox's certificates and
    /// stores what it answers in place of its earlier answer. Returns how many it found.
    pub async fn refresh_ldap(&self) -> Result<usize, RefreshError> {
        let Some(config) = &self.ldap else {
            return Ok(0);
        };
        let mailboxes = self.store.directory().await?.mailboxes();
        let found = ldap::lookup_certificates(config, &mailboxes).await?;
        self.store
            .replace_certificates(&found, Source::Ldap)
            .await?;
        Ok(found.len())
    }

    /// Fetches the CRLs that are due, then judges every form again and swaps the catalog.
    pub async fn refresh(&self, now: u64) -> Result<Arc<Catalog>, RefreshError> {
        let directory = self.store.directory().await?;
        let mut pki = Pki::load(&self.pki)?;
        let mut certificates: Vec<&smime::Certificate> = directory
            .certificates
            .iter()
            .map(|c| &c.certificate)
            .collect();
        certificates.extend(&pki.intermediates);
        for fetched in self.crls.refresh(&CrlCache::urls(&certificates), now).await {
            if let Err(error) = fetched.result {
                tracing::warn!(url = %fetched.url, %error, "fetching a CRL failed; the cached one stays in use until it runs out");
            }
        }
        pki.crls.extend(self.crls.load_all());
        self.tell_operator(&directory.certificates, &pki, now)
            .await?;
        let settings = self.settings.clone();
        let catalog = tokio::task::spawn_blocking(move || {
            Arc::new(Catalog::build(&directory, &pki, &settings, now))
        })
        .await
        .expect("building the catalog does not panic");
        self.catalog.replace(catalog.clone());
        Ok(catalog)
    }

    /// Certificates without a current revocation list take their forms offline; the operator
    /// hears of each once, in the log and (when configured) by mail.
    async fn tell_operator(
        &self,
        certificates: &[StoredCertificate],
        pki: &Pki,
        now: u64,
    ) -> Result<(), RefreshError> {
        let mut mails = Vec::new();
        for stored in certificates {
            let expired = smime::certificate::not_after(&stored.certificate) < now;
            if expired || pki.revocation(&stored.certificate, now) != Revocation::Unknown {
                continue;
            }
            let fingerprint = fingerprint_hex(&fingerprint_sha256(&stored.certificate));
            if !self
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(fingerprint.clone())
            {
                continue;
            }
            tracing::warn!(
                mailbox = %stored.mailbox,
                %fingerprint,
                issuer = %stored.certificate.tbs_certificate.issuer,
                "no current revocation list for this certificate: forms delivering to its mailbox are not offered until one is available"
            );
            if let Some(operator) = &self.operator_email {
                mails.push(notices::revocation_unknown(
                    operator,
                    &fingerprint,
                    &stored.mailbox,
                    &stored.certificate.tbs_certificate.issuer.to_string(),
                    now / 86_400,
                ));
            }
        }
        if !mails.is_empty() {
            self.store.queue_mails(&mails, now).await?;
        }
        Ok(())
    }

    /// Runs forever: the catalog every `every`, LDAP every `refresh_minutes`.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let ldap_every = self
            .ldap
            .as_ref()
            .map(|c| Duration::from_secs(c.refresh_minutes.max(1) * 60));
        let mut last_ldap: Option<std::time::Instant> = None;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Some(ldap_every) = ldap_every
                && last_ldap.is_none_or(|t| t.elapsed() >= ldap_every)
            {
                match self.refresh_ldap().await {
                    Ok(found) => tracing::info!(found, "LDAP certificates refreshed"),
                    Err(error) => {
                        tracing::warn!(%error, "LDAP refresh failed; the certificates found earlier stay in use")
                    }
                }
                last_ldap = Some(std::time::Instant::now());
            }
            match self.refresh(unix_now()).await {
                Ok(catalog) => tracing::debug!(offered = catalog.offered, "forms judged"),
                Err(error) => {
                    tracing::error!(%error, "judging the forms failed; the previous catalog stays in use")
                }
            }
        }
    }
}
