//! `contacts serve`: the HTTP API on one database. The listen address is taken before
//! anything is created, so a port in use stops the server before it makes a key.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use contacts_core::{Clock, Engine, OrgId, SystemClock};

use super::storage::{Backend, Purpose, StorageArgs};
use super::{CliError, parse};
use crate::api::{self, AppState, DEFAULT_BODY_LIMIT, DynEngine};
use crate::keys::{self, Keyring};
use crate::settings::EngineArgs;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// `contacts serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse::listen)]
    pub listen: SocketAddr,
    /// Seconds from waiting for a request to its complete headers: a new connection, or
    /// one kept alive between requests, that sends nothing for this long is closed.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = parse::number::<u64>)]
    pub header_timeout: u64,
    /// Seconds a request body may take to arrive; a stalled upload gets 408.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = parse::number::<u64>)]
    pub body_timeout: u64,
    /// Connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = parse::number::<usize>)]
    pub max_connections: usize,
    /// Requests the engine works on or queues for at once; one more is answered 503
    /// with Retry-After instead of waiting without end.
    #[arg(long, default_value_t = 512, value_name = "N", value_parser = parse::number::<usize>)]
    pub max_in_flight: usize,
    /// Requests one org may have in flight at once (default a quarter of
    /// --max-in-flight); one more is answered 503, so one tenant's flood leaves the
    /// others their share.
    #[arg(long, value_name = "N", value_parser = parse::number::<usize>)]
    pub max_in_flight_per_org: Option<usize>,
    /// Seconds a stopping server (SIGTERM) waits for open connections before it
    /// drops them.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = parse::number::<u64>)]
    pub shutdown_deadline: u64,
    /// Log lines as `text` or as `json` (one object per line).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Which requests the access log records: `all`, `errors` (4xx and 5xx) or `off`.
    #[arg(long, value_enum, default_value = "all")]
    pub access_log: crate::logging::AccessLog,
    /// Of the successful requests, log one in N (errors are always logged).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse::number::<u64>)]
    pub access_log_sample: u64,
    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT, value_parser = parse::number::<usize>)]
    pub body_limit: usize,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub(super) fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let env = match std::env::var("CONTACTS_API_KEYS") {
        Ok(v) => keys::parse_env_keys(&v)?,
        Err(std::env::VarError::NotPresent) => Vec::new(),
        Err(e) => return Err(format!("CONTACTS_API_KEYS: {e}").into()),
    };
    let backend = args.storage.backend()?;
    // The address first: a port in use must stop the server before it creates a
    // database or prints a key that no server will ever accept.
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    listener.set_nonblocking(true)?;
    let opened = args.storage.open_for(Purpose::Serve)?;
    let kind = match backend {
        Backend::Sqlite(_) => "sqlite",
        Backend::Postgres { .. } => "postgres",
        Backend::Memory => "memory",
    };
    tracing::info!(backend = kind, database = %opened.description, "opened the database");
    let keyring = Keyring::new(opened.keys, env);
    if keyring.is_empty()? {
        // First start: make the server usable at once, and say so exactly once.
        let org = OrgId(uuid::Uuid::now_v7());
        let (key, info) = keys::generate_key(org, SystemClock.now())?;
        keyring.store().insert(&keys::hash_key(&key), &info)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "No API keys yet: created an org and a key for it.")?;
        writeln!(out, "org: {org}")?;
        writeln!(out, "key: {key}")?;
        writeln!(
            out,
            "(shown once: only its hash is stored; more with `contacts keys create`)"
        )?;
    }
    let metrics = crate::metrics::Metrics::new();
    let store: Box<dyn contacts_core::Store> = Box::new(crate::metrics::MeteredStore::new(
        opened.store,
        Arc::clone(&metrics),
    ));
    let engine: Arc<DynEngine> = Arc::new(Engine::with_config(store, config)?);
    let keyring = Arc::new(keyring);
    let state = AppState::new(Arc::clone(&engine), Arc::clone(&keyring), args.body_limit)
        .with_body_timeout(Duration::from_secs(args.body_timeout))
        .with_max_in_flight(args.max_in_flight)
        .with_max_in_flight_per_org(
            args.max_in_flight_per_org
                .unwrap_or((args.max_in_flight / 4).max(1)),
        )
        .with_metrics(Arc::clone(&metrics))
        .with_access_log(crate::logging::AccessPolicy::new(
            args.access_log,
            args.access_log_sample,
        ));
    let limits = crate::edge::Limits {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        shutdown_deadline: Duration::from_secs(args.shutdown_deadline),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shutdown = shutdown_signal()?;
        let addr = listener.local_addr()?;
        {
            // Tests and scripts read this line to learn the port chosen for `:0`.
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        tracing::info!(%addr, "serving");
        let connections = metrics.connections.clone();
        crate::edge::serve(listener, api::router(state), limits, connections, shutdown).await?;
        Ok::<_, CliError>(())
    })?;
    // Engine calls still running on blocking threads get the same deadline: a store
    // call that hangs does not keep a stopping server alive. The last references to
    // the stores drop after it, outside the async runtime: a PostgreSQL connection
    // closes with a blocking call, which must not run on it.
    runtime.shutdown_timeout(limits.shutdown_deadline);
    drop((engine, keyring));
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; the edge then stops accepting and lets the requests
/// in flight finish. The handlers are installed when this is called, not when
/// it is first polled: `serve` calls it before it says it is listening, so a signal
/// sent the moment a supervisor sees that line still stops it gracefully.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C: shutting down");
            } else {
                std::future::pending::<()>().await;
            }
        })
    }
}
