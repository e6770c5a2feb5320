use std::path::PathBuf;

use anyhow::Context;
use axum::extract::MatchedPath;
use axum::http::Request;
use clap::{Parser, Subcommand};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing_subscriber::EnvFilter;

use std::sync::Arc;
use std::time::Duration;

use postsiegel_server::answers::Answers;
use postsiegel_server::clock::unix_now;
use postsiegel_server::compose::{self, RelayParts};
use postsiegel_server::config::Config;
use postsiegel_server::directory::catalog::{Catalog, SharedCatalog};
use postsiegel_server::directory::crl::CrlCache;
use postsiegel_server::directory::refresh::Discovery;
use postsiegel_server::directory::{demo, expiry, import, pki::Pki};
use postsiegel_server::dkim::Dkim;
use postsiegel_server::http::{self, web};
use postsiegel_server::relay::secret::Secret;
use postsiegel_server::relay::signing::PortalSigner;
use postsiegel_server::relay::transport::Transport;
use postsiegel_server::store::{Source, Store};

#[derive(Parser)]
#[command(
    name = "postsiegel",
    version,
    about = "Postsiegel: a secure contact form for public authorities"
)]
struct Cli {
    /// A TOML configuration file; POSTSIEGEL_* environment variables override it.
    #[arg(long, env = "POSTSIEGEL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app and the API (the default).
    Serve,
    /// Import a directory file (TOML): authorities, units and their certificates. Lists
    /// which forms appear, vanish or change, and why.
    Import {
        file: PathBuf,
        /// Only list what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the certificates that expire within the given number of days, and record the
    /// warnings now due (60, 30 and 7 days ahead) in the outbox.
    Expiring {
        #[arg(long, default_value_t = 60)]
        days: u64,
    },
    /// Print the answers CA's SHA-256 fingerprint and certificate (making the CA if this
    /// portal has none yet), to publish out of band for the authorities.
    AnswersCa,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_env("POSTSIEGEL_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).context("reading the configuration")?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config, cli.config.is_none()).await,
        Command::Import { file, dry_run } => import(config, &file, dry_run).await,
        Command::Expiring { days } => expiring(config, days).await,
        Command::AnswersCa => answers_ca(config),
    }
}

async fn expiring(config: Config, days: u64) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir).await?;
    let now = unix_now();
    let directory = store.directory().await?;
    for stored in expiry::expiring(&directory.certificates, now, days) {
        let end = smime::certificate::not_after(&stored.certificate);
        println!(
            "{}  {}  in {} days  {}",
            smime::certificate::format_time(end),
            stored.mailbox,
            (end - now) / 86_400,
            stored.certificate.tbs_certificate.subject
        );
    }
    let queued = store
        .queue_mails(&expiry::due_warnings(&directory.certificates, now), now)
        .await?;
    println!("{queued} new expiry warning(s) queued");
    Ok(())
}

fn answers_ca(config: Config) -> anyhow::Result<()> {
    let Some(answers) = &config.answers else {
        anyhow::bail!("answers are off: the configuration has no [answers]");
    };
    let files = answers.ca_files(&config.data_dir);
    let crl_url = format!(
        "{}{}",
        config.public_url(),
        postsiegel_server::answers::CRL_PATH
    );
    let ca = postsiegel_server::answers::ca::AnswersCa::load_or_create(
        &files,
        &answers.domain,
        &crl_url,
        unix_now(),
    )?;
    println!("answer domain: {}", answers.domain);
    println!("certificate:   {}", files.certificate.display());
    println!("SHA-256:       {}", ca.fingerprint());
    print!("{}", ca.pem());
    Ok(())
}

async fn import(config: Config, file: &std::path::Path, dry_run: bool) -> anyhow::Result<()> {
    let pki = Pki::load(&config.pki).context("loading the trust configuration (pki)")?;
    let store = Store::open(&config.data_dir).await?;
    let now = unix_now();
    let before = import::offers(&store.directory().await?, &pki, now);
    let directory = import::load(file)?;
    let after = import::offers(&directory, &pki, now);
    for line in import::describe_changes(&before, &after) {
        println!("{line}");
    }
    if dry_run {
        println!("dry run: nothing was written");
        return Ok(());
    }
    store.replace_directory(&directory, Source::Import).await?;
    let units: usize = directory.authorities.iter().map(|a| a.units.len()).sum();
    println!(
        "imported {} authorities, {units} units, {} certificates",
        directory.authorities.len(),
        directory.certificates.len()
    );
    Ok(())
}

async fn serve(config: Config, no_config_file: bool) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&config.data_dir)?;
    let mut frontend = web::Frontend::load(&config.dist_dir)?;
    let store = Store::open(&config.data_dir).await?;
    let demo_folder = config.data_dir.join("demo");
    // The demo never replaces a real directory: it loads only on a portal started without a
    // configuration, reachable from this machine alone, with no directory of its own.
    let demo = no_config_file
        && config.bind.ip().is_loopback()
        && (demo_folder.is_dir() || store.directory().await?.authorities.is_empty());
    let mut pki = config.pki.clone();
    if demo {
        let generated = demo::ensure(&config.data_dir, unix_now()).context("making the demo")?;
        let directory = import::load(&generated.directory_file())?;
        store.replace_directory(&directory, Source::Import).await?;
        pki = generated.pki(&config.pki);
        frontend = frontend.with_demo_banner();
        tracing::warn!(
            "DEMO: fictional authorities with demo certificates; decrypt what they receive \
             with the key {}",
            generated.mailbox_key().display()
        );
    }
    let dkim = match &config.dkim {
        Some(dkim) => Some(Arc::new(Dkim::load(dkim)?)),
        None => None,
    };
    let signer = match &config.signing {
        Some(signing) => Some(Arc::new(PortalSigner::load(signing)?)),
        None => None,
    };
    let answer_dkim = match config.answers.as_ref().and_then(|a| a.dkim.as_ref()) {
        Some(dkim) => Some(Arc::new(Dkim::load(dkim)?)),
        None => None,
    };
    let settings = compose::catalog_settings(
        &config,
        dkim.as_deref(),
        answer_dkim.as_deref(),
        signer.as_deref(),
    )?;
    if let Some(ldap) = &config.ldap {
        ldap.check()?;
    }
    let catalog = SharedCatalog::new(Catalog::empty(&settings));
    let discovery = Arc::new(Discovery::new(
        store,
        pki,
        config.ldap.clone(),
        CrlCache::new(
            &config.data_dir,
            Duration::from_secs(10),
            config.crl_refresh_hours,
        ),
        settings,
        catalog.clone(),
        config.operator_email.clone(),
    ));
    if let Err(error) = discovery.refresh_ldap().await {
        tracing::warn!(%error, "LDAP lookup failed at start; retrying on schedule");
    }
    let store = discovery.store.clone();
    let first = discovery.refresh(unix_now()).await?;
    tracing::info!(offered = first.offered, "forms judged");
    tokio::spawn(
        discovery
            .clone()
            .run(Duration::from_secs(config.refresh_seconds.max(1))),
    );

    // Logs name the route template, never the path: paths carry slugs and tokens.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("static", MatchedPath::as_str);
            tracing::info_span!("http", method = %request.method(), route)
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    let answers = match &config.answers {
        Some(answers) => {
            answers.check(config.inbound.is_some())?;
            let answers = Answers::load(
                answers.clone(),
                &config.data_dir,
                &config.public_url(),
                store.clone(),
                unix_now(),
            )?;
            tracing::info!(
                fingerprint = answers.ca.fingerprint(),
                "answers on; the answers CA's SHA-256 fingerprint"
            );
            Some(Arc::new(answers))
        }
        None => None,
    };
    let relay = start_relay(
        &config,
        catalog,
        store,
        SigningParts {
            dkim,
            answer_dkim,
            signer,
            answers,
        },
    )
    .await?;
    let app = http::router(frontend, compose::api_state(&config, demo, relay)).layer(trace);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    http::serve::serve(
        listener,
        app,
        config.http.clone(),
        config.relay.trusted_proxies.clone().into(),
        shutdown_signal(),
    )
    .await;
    Ok(())
}

/// One portal per data folder, for as long as the process lives: the queue's start-up
/// sweep and the worker take what they find there as theirs.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("postsiegel.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another postsiegel already serves from {}; one data folder serves one portal",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// What the relay signs with, and the answers CA, loaded from disk.
struct SigningParts {
    dkim: Option<Arc<Dkim>>,
    answer_dkim: Option<Arc<Dkim>>,
    signer: Option<Arc<PortalSigner>>,
    answers: Option<Arc<Answers>>,
}

/// The relay, with its queue swept of what an interrupted run left and its worker started.
async fn start_relay(
    config: &Config,
    catalog: SharedCatalog,
    store: Store,
    signing: SigningParts,
) -> anyhow::Result<Arc<postsiegel_server::relay::Relay>> {
    let transport = compose::transport(config)?;
    if let Transport::Spool(spool) = &transport {
        tracing::info!(
            "no SMTP server configured: mails are written to {}",
            spool.display()
        );
    }
    let parts = RelayParts {
        secret: Secret::load_or_create(&config.data_dir).context("the server's secret")?,
        store,
        transport,
        dkim: signing.dkim,
        signer: signing.signer,
        answers: signing.answers,
        answer_dkim: signing.answer_dkim,
    };
    let inbound_store = parts.store.clone();
    let relayed = compose::relay(config, catalog, parts);
    let swept = relayed
        .relay
        .queue
        .sweep()
        .await
        .context("sweeping the queue folder")?;
    if swept > 0 {
        tracing::info!(
            swept,
            "removed what an interrupted run left in the queue folder"
        );
    }
    if let Some(inbound) = compose::inbound(
        config,
        inbound_store,
        relayed.worker.wake.clone(),
        Default::default(),
    )? {
        let bind = inbound.listener.config.bind;
        let socket = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding the mail listener to {bind}"))?;
        tracing::info!(
            "taking mail for the return domain on {}",
            socket.local_addr()?
        );
        tokio::spawn(inbound.listener.run(socket));
        tokio::spawn(inbound.reader.run());
    }
    tokio::spawn(relayed.worker.run());
    Ok(relayed.relay)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
