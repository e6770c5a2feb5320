//! The composition root: where the parts are wired together, once, for `postsiegel serve`
//! and for the tests alike. Loading things from disk (keys, the directory) stays with the
//! caller; what is put together from them, and how, is decided here only.

use std::sync::Arc;

use crate::answers::Answers;
use crate::config::Config;
use crate::directory::catalog::{AnswerMail, Settings, SharedCatalog};
use crate::dkim::Dkim;
use crate::http::ApiState;
use crate::http::limits::ClientKey;
use crate::inbound::InboundFolder;
use crate::inbound::answers::AnswerDesk;
use crate::inbound::authenticity::{Authenticity, Dns};
use crate::inbound::reader::Reader;
use crate::inbound::smtp::{Listener, ListenerError};
use crate::relay::Relay;
use crate::relay::limits::ClientLimiter;
use crate::relay::queue_folder::QueueFolder;
use crate::relay::secret::Secret;
use crate::relay::signing::{PortalSigner, SigningError};
use crate::relay::submission::Queue;
use crate::relay::transport::{Transport, TransportError};
use crate::relay::verification::Verifier;
use crate::relay::worker::Worker;
use crate::store::Store;

/// What the relay is made of, loaded by the caller.
pub struct RelayParts {
    pub store: Store,
    pub secret: Secret,
    pub transport: Transport,
    /// Signs each relayed mail with DKIM, when configured.
    pub dkim: Option<Arc<Dkim>>,
    /// The portal's S/MIME signature around each relayed mail, when configured.
    pub signer: Option<Arc<PortalSigner>>,
    /// Answers, when configured: the answers CA over the store.
    pub answers: Option<Arc<Answers>>,
    /// Signs the mails from a conversation's alias with DKIM, when configured.
    pub answer_dkim: Option<Arc<Dkim>>,
}

/// The relay and the worker that delivers from its queue: one store, one queue folder,
/// one wake-up between them.
pub struct Relayed {
    pub relay: Arc<Relay>,
    pub worker: Worker,
}

/// What the catalog needs to know of the mails it promises to fit into a mailbox.
pub fn catalog_settings(
    config: &Config,
    dkim: Option<&Dkim>,
    answer_dkim: Option<&Dkim>,
    signer: Option<&PortalSigner>,
) -> Result<Settings, SigningError> {
    let notification_len = config.inbound.as_ref().map_or(0, |inbound| {
        crate::mail::notification_header_len(&inbound.return_domain)
    });
    let answer_mail = config.answers.as_ref().map(|answers| {
        let alias = "a".repeat(Answers::alias_len(&answers.domain));
        let from = crate::mail::from_address(&config.mail_from, &alias);
        AnswerMail {
            // A message written again names what it answers.
            extra_header_bytes: answer_dkim.map_or(0, |d| d.header_len_bound(&from))
                + notification_len
                + crate::mail::thread_header_len(),
            from,
        }
    });
    Ok(Settings {
        public_url: config.public_url(),
        mail_from: config.mail_from.clone(),
        extra_header_bytes: dkim.map_or(0, |d| d.header_len_bound(&config.mail_from))
            + notification_len,
        answer_mail,
        signature_len: signer.map(PortalSigner::signature_len).transpose()?,
        retention_days: config.relay.retention_days,
        report_days: config.inbound.as_ref().map(|i| i.report_days),
    })
}

/// SMTP as configured, or the spool folder `<data_dir>/spool`.
pub fn transport(config: &Config) -> Result<Transport, TransportError> {
    match &config.smtp {
        Some(smtp) => Transport::smtp(smtp),
        None => Ok(Transport::Spool(config.data_dir.join("spool"))),
    }
}

/// Verification, the queue and the worker, over `catalog`.
pub fn relay(config: &Config, catalog: SharedCatalog, parts: RelayParts) -> Relayed {
    let wake = Arc::new(tokio::sync::Notify::new());
    let folder = QueueFolder::new(config.data_dir.join("queue"));
    let queue = Queue {
        store: parts.store.clone(),
        folder: folder.clone(),
        mail_from: config.mail_from.clone(),
        public_url: config.public_url(),
        max_queue_bytes: config.relay.max_queue_bytes,
        wake: wake.clone(),
        dkim: parts.dkim,
        signer: parts.signer,
        return_domain: config.inbound.as_ref().map(|i| i.return_domain.clone()),
        answer_dkim: parts.answer_dkim,
    };
    let worker = Worker {
        store: parts.store.clone(),
        transport: parts.transport,
        folder,
        mail_from: config.mail_from.clone(),
        return_domain: config.inbound.as_ref().map(|i| i.return_domain.clone()),
        report_days: config.inbound.as_ref().map_or(0, |i| i.report_days),
        delivery_hours: config.relay.delivery_hours,
        retention_days: config.relay.retention_days,
        wake,
        answers: parts.answers.clone(),
    };
    let relay = Relay {
        catalog,
        verifier: Verifier {
            secret: parts.secret,
            store: parts.store,
        },
        queue,
        unverified: ClientLimiter::new(config.relay.limits.unverified_submissions),
        answers: parts.answers,
    };
    Relayed {
        relay: Arc::new(relay),
        worker,
    }
}

/// The mail listener and the reader of what it takes.
pub struct Inbound {
    pub listener: Arc<Listener>,
    pub reader: Reader,
}

/// The listener as configured (none without `inbound`); `worker` is the delivery worker's
/// wake-up, for the notices that reports cause; `dns` the DNS answers the report checks
/// keep (tests put fixed ones there first).
pub fn inbound(
    config: &Config,
    store: Store,
    worker: Arc<tokio::sync::Notify>,
    dns: Arc<Dns>,
) -> Result<Option<Inbound>, ListenerError> {
    let Some(inbound) = &config.inbound else {
        return Ok(None);
    };
    let folder = InboundFolder::new(config.data_dir.join("inbound"));
    let wake = Arc::new(tokio::sync::Notify::new());
    let authenticity = match Authenticity::new(&inbound.hostname, dns) {
        Ok(authenticity) => Some(Arc::new(authenticity)),
        Err(error) => {
            tracing::warn!(%error, "no DNS resolver: every report will count as unverified");
            None
        }
    };
    let answers = config.answers.as_ref().map(|answers| AnswerDesk {
        domain: answers.domain.clone(),
        folder: crate::answers::received_folder(&config.data_dir),
        help_url: format!("{}/antworten", config.public_url()),
        store: store.clone(),
        authenticity: authenticity.clone(),
        worker: worker.clone(),
    });
    let listener = Listener {
        tls: crate::inbound::smtp::tls_acceptor(inbound)?,
        config: inbound.clone(),
        store: store.clone(),
        folder: folder.clone(),
        wake: wake.clone(),
        connections: Arc::new(tokio::sync::Semaphore::new(inbound.max_connections.max(1))),
        messages: ClientLimiter::new(inbound.messages),
        answers,
    };
    // A bounce from the mail server the portal hands its mail to counts as the
    // authority's side: its domain, when the SMTP host is a name.
    let relay_domain = config
        .smtp
        .as_ref()
        .map(|smtp| smtp.host.clone())
        .filter(|host| host.parse::<std::net::IpAddr>().is_err());
    Ok(Some(Inbound {
        listener: Arc::new(listener),
        reader: Reader {
            store,
            folder,
            authenticity,
            relay_domain,
            mail_from: config.mail_from.clone(),
            wake,
            worker,
        },
    }))
}

/// The API's state with the relay, its rate limits and the client addresses behind the
/// configured proxies.
pub fn api_state(config: &Config, demo: bool, relay: Arc<Relay>) -> ApiState {
    ApiState {
        catalog: relay.catalog.clone(),
        demo,
        relay: Some(relay),
        limits: config.relay.limits.clone(),
        client_key: ClientKey {
            trusted_proxies: config.relay.trusted_proxies.clone().into(),
        },
    }
}
