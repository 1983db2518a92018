//! The `contacts` command line: `serve`, `keys`, and `resolve` / `list` / `import`
//! straight on the database, without a server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use contacts_core::{Clock, Engine, ListRequest, OrgId, ResolveRequest, Store, SystemClock};
use serde::Serialize;

use crate::api::{self, AppState, DEFAULT_BODY_LIMIT, DynEngine};
use crate::error::{ApiError, ErrorChain};
use crate::keys::{self, KeyStore, Keyring, MemoryKeys, SqliteKeys};
use crate::settings::EngineArgs;
use crate::{export, import};

/// Errors the CLI reports on stderr before exiting with status 1.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// `contacts`: an embeddable contact-resolution engine, as a server and a CLI.
#[derive(Debug, Parser)]
#[command(name = "contacts", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Manage API keys (stored hashed beside the contacts).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Find or create one contact, printing the same JSON as `POST /v1/contacts/resolve`.
    Resolve(ResolveArgs),
    /// Print one page of an org's contacts, as `GET /v1/contacts`.
    List(ListArgs),
    /// Resolve every row of a CSV file (columns phone_number, email, external_id,
    /// name; any other column goes into metadata).
    Import(ImportArgs),
    /// Write every contact of an org, with identifiers and memories, as JSON lines or
    /// CSV, in constant memory.
    Export(ExportArgs),
}

/// Where the data lives. Exactly one of the three; the default is `--db ./contacts.db`.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// A SQLite file, created if missing.
    #[arg(long, env = "CONTACTS_DB", value_name = "PATH", conflicts_with_all = ["memory", "postgres"])]
    pub db: Option<PathBuf>,
    /// Keep everything in memory (lost on exit; `serve` only).
    #[arg(long, conflicts_with = "postgres")]
    pub memory: bool,
    /// A PostgreSQL URL (`postgres://user@host:port/db`).
    #[arg(long, env = "CONTACTS_POSTGRES_URL", value_name = "URL")]
    pub postgres: Option<String>,
    /// The PostgreSQL schema holding the tables (with `--postgres`).
    #[arg(
        long,
        env = "CONTACTS_POSTGRES_SCHEMA",
        value_name = "NAME",
        default_value = "contacts",
        requires = "postgres"
    )]
    pub postgres_schema: String,
    /// Identifiers the SQLite store's coherent read cache holds (0 turns it off; see
    /// docs/semantics.md, "Read cache").
    #[arg(
        long,
        env = "CONTACTS_SQLITE_CACHE_ENTRIES",
        value_name = "N",
        default_value_t = contacts_sqlite::DEFAULT_CACHE_ENTRIES
    )]
    pub sqlite_cache_entries: usize,
}

/// `contacts serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest request body in bytes; larger bodies get 413.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `contacts keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for an org and print it (once: only its hash is kept).
    Create {
        /// The org's UUID, or `new` for a new org.
        #[arg(long)]
        org: String,
        /// Where the data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List keys (prefix, org, created, revoked), never the keys themselves.
    List {
        /// Where the data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke the key whose prefix starts with PREFIX.
    Revoke {
        /// The prefix shown by `keys list` (or enough of it to be unique).
        prefix: String,
        /// Where the data lives.
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// `contacts resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The org.
    #[arg(long)]
    pub org: OrgId,
    /// A phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// An email.
    #[arg(long)]
    pub email: Option<String>,
    /// An external id.
    #[arg(long)]
    pub external_id: Option<String>,
    /// A name (set only if the contact has none).
    #[arg(long)]
    pub name: Option<String>,
    /// Metadata, a JSON object (keys added only where absent).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Memory scope: a persona id.
    #[arg(long, conflicts_with = "agent_number")]
    pub persona: Option<String>,
    /// Memory scope: an agent phone number.
    #[arg(long)]
    pub agent_number: Option<String>,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `contacts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The org.
    #[arg(long)]
    pub org: OrgId,
    /// Page size (default 50, at most 200).
    #[arg(long, allow_negative_numbers = true)]
    pub limit: Option<i64>,
    /// Contacts to skip.
    #[arg(long, allow_negative_numbers = true)]
    pub offset: Option<i64>,
    /// Start after this cursor (an earlier page's `pagination.next_cursor`) instead of
    /// at an offset.
    #[arg(long, conflicts_with = "offset")]
    pub after: Option<String>,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `contacts import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (with a header row).
    pub file: PathBuf,
    /// The org to import into.
    #[arg(long)]
    pub org: OrgId,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `contacts export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The org to export.
    #[arg(long)]
    pub org: OrgId,
    /// The output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: export::Format,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// An opened backend: the contacts store and its key store.
pub struct Opened {
    /// The contacts.
    pub store: Box<dyn Store>,
    /// The API keys.
    pub keys: Box<dyn KeyStore>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl StorageArgs {
    /// Opens the chosen backend.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or for `--memory` where
    /// `allow_memory` is false (a one-shot command would write into nothing).
    pub fn open(&self, allow_memory: bool) -> Result<Opened, CliError> {
        if self.memory {
            if !allow_memory {
                return Err("--memory keeps nothing after the command exits; use --db".into());
            }
            return Ok(Opened {
                store: Box::new(contacts_inmemory::InMemoryStore::new()),
                keys: Box::new(MemoryKeys::new()),
            });
        }
        if let Some(url) = &self.postgres {
            let options = contacts_postgres::Options::default().with_schema(&self.postgres_schema);
            let store = contacts_postgres::PostgresStore::connect_with(url, options)
                .map_err(|e| format!("connecting to PostgreSQL: {}", ErrorChain(&e)))?;
            let keys = keys::PostgresKeys::open(url, store.schema())
                .map_err(|e| format!("opening the PostgreSQL key table: {}", ErrorChain(&e)))?;
            return Ok(Opened {
                store: Box::new(store),
                keys: Box::new(keys),
            });
        }
        let path = self
            .db
            .clone()
            .unwrap_or_else(|| PathBuf::from("contacts.db"));
        let options =
            contacts_sqlite::Options::default().with_cache_entries(self.sqlite_cache_entries);
        let store = contacts_sqlite::SqliteStore::open_with(&path, options)
            .map_err(|e| format!("opening {}: {}", path.display(), ErrorChain(&e)))?;
        let keys = SqliteKeys::open(&path)
            .map_err(|e| format!("opening the key table in {}: {e}", path.display()))?;
        Ok(Opened {
            store: Box::new(store),
            keys: Box::new(keys),
        })
    }
}

/// Runs the CLI.
///
/// # Errors
/// Whatever the command failed with, for `main` to print.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Keys { command } => keys_command(command),
        Command::Resolve(args) => resolve(args),
        Command::List(args) => list(args),
        Command::Import(args) => import(&args),
        Command::Export(args) => export_command(&args),
    }
}

fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints an engine result as the server would send it; an error exits with 1.
fn print_envelope<T: Serialize>(result: contacts_core::Result<T>) -> Result<ExitCode, CliError> {
    match result {
        Ok(data) => {
            print_json(&serde_json::json!({"data": data, "errors": null}))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print_json(&ApiError::from(e).envelope())?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn resolve(args: ResolveArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open(false)?;
    let engine = Engine::with_config(opened.store, config)?;
    let metadata = match &args.metadata {
        Some(m) => {
            Some(serde_json::from_str(m).map_err(|e| format!("--metadata is not JSON: {e}"))?)
        }
        None => None,
    };
    let mut req = ResolveRequest::new();
    req.phone_number = args.phone;
    req.email = args.email;
    req.external_id = args.external_id;
    req.name = args.name;
    req.metadata = metadata;
    req.persona_id = args.persona;
    req.agent_number = args.agent_number;
    print_envelope(engine.resolve(args.org, &req))
}

fn import(args: &ImportArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open(false)?;
    let engine = Engine::with_config(opened.store, config)?;
    let summary = import::import_file(&engine, args.org, &args.file, true)?;
    print_json(&summary)?;
    Ok(ExitCode::SUCCESS)
}

fn export_command(args: &ExportArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open(false)?;
    let engine = Engine::with_config(opened.store, config)?;
    let written = match &args.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            export::write_export(&engine, args.org, args.format, file)?
        }
        None => export::write_export(&engine, args.org, args.format, std::io::stdout().lock())?,
    };
    eprintln!("exported {written} contacts");
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open(false)?;
    let engine = Engine::with_config(opened.store, config)?;
    let req = ListRequest {
        limit: args.limit,
        offset: args.offset,
        after: args.after,
    };
    match engine.list(args.org, req) {
        Ok(page) => {
            print_json(&serde_json::json!({
                "data": page.data, "pagination": page.pagination, "errors": null
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => print_envelope::<()>(Err(e)),
    }
}

fn keys_command(command: KeysCommand) -> Result<ExitCode, CliError> {
    let now = SystemClock.now();
    match command {
        KeysCommand::Create { org, storage } => {
            let opened = storage.open(false)?;
            let org = if org == "new" {
                OrgId(uuid::Uuid::now_v7())
            } else {
                org.parse()
                    .map_err(|_| format!("--org {org:?} is neither a UUID nor `new`"))?
            };
            let (key, info) = keys::generate_key(org, now)?;
            opened.keys.insert(&keys::hash_key(&key), &info)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "org: {org}")?;
            writeln!(out, "key: {key}")?;
            writeln!(out, "(shown once: only its hash is stored)")?;
        }
        KeysCommand::List { storage } => {
            let opened = storage.open(false)?;
            let mut out = std::io::stdout().lock();
            for k in opened.keys.list()? {
                let state = match k.revoked_at {
                    Some(t) => format!("revoked {t}"),
                    None => "active".to_owned(),
                };
                writeln!(
                    out,
                    "{}  org {}  created {}  {state}",
                    k.prefix, k.org_id, k.created_at
                )?;
            }
        }
        KeysCommand::Revoke { prefix, storage } => {
            let opened = storage.open(false)?;
            let info = opened.keys.revoke(&prefix, now)?;
            writeln!(
                std::io::stdout().lock(),
                "revoked {} (org {})",
                info.prefix,
                info.org_id
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open(true)?;
    let env = match std::env::var("CONTACTS_API_KEYS") {
        Ok(v) => keys::parse_env_keys(&v)?,
        Err(std::env::VarError::NotPresent) => Vec::new(),
        Err(e) => return Err(format!("CONTACTS_API_KEYS: {e}").into()),
    };
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
    let engine: Arc<DynEngine> = Arc::new(Engine::with_config(opened.store, config)?);
    let keyring = Arc::new(keyring);
    let state = AppState::new(Arc::clone(&engine), Arc::clone(&keyring), args.body_limit);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        {
            // Tests and scripts read this line to learn the port chosen for `:0`.
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        tracing::info!(%addr, "serving");
        axum::serve(listener, api::router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        tracing::info!("stopped: requests in flight have finished");
        Ok::<_, CliError>(())
    })?;
    // The last references to the stores drop here, outside the async runtime: a
    // PostgreSQL connection closes with a blocking call, which must not run on it.
    drop(runtime);
    drop((engine, keyring));
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; `axum::serve` then stops accepting and lets the
/// requests in flight finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
