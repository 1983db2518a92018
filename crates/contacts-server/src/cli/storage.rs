//! Which database a command works on: `--db`, `--postgres` or `--memory`, else
//! `CONTACTS_DB` or `CONTACTS_POSTGRES_URL`, else `./contacts.db`. Flags win over the
//! environment, so `CONTACTS_DB` set in a shell never conflicts with `--memory`; two
//! flags that name different backends are a usage error naming both.
//!
//! Only `serve` (the quick start) and commands given `--create` make a database that
//! does not exist: a mistyped path or schema is an error, never a new empty database.

use std::path::PathBuf;

use clap::Args;
use contacts_core::store::PageStart;
use contacts_core::{OrgId, Store};

use super::{CliError, UsageError};
use crate::error::ErrorChain;
use crate::keys::{self, KeyStore, MemoryKeys, SqliteKeys};

/// Where the data lives.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// A SQLite file [default: ./contacts.db, or CONTACTS_DB].
    #[arg(long, value_name = "PATH", conflicts_with_all = ["memory", "postgres"])]
    pub db: Option<PathBuf>,
    /// Keep everything in memory (lost on exit; `serve` only).
    #[arg(long, conflicts_with = "postgres")]
    pub memory: bool,
    /// A PostgreSQL URL, `postgres://user@host:port/db` [or CONTACTS_POSTGRES_URL].
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// The PostgreSQL schema holding the tables [default: contacts].
    #[arg(long, env = "CONTACTS_POSTGRES_SCHEMA", value_name = "NAME")]
    pub postgres_schema: Option<String>,
    /// Create the database (the SQLite file or the PostgreSQL schema) if it does not
    /// exist; without it only `serve` creates one.
    #[arg(long)]
    pub create: bool,
    /// Identifiers the SQLite store's coherent read cache holds (0 turns it off; see
    /// docs/semantics.md, "Read cache").
    #[arg(
        long,
        env = "CONTACTS_SQLITE_CACHE_ENTRIES",
        value_name = "N",
        default_value_t = contacts_sqlite::DEFAULT_CACHE_ENTRIES,
        value_parser = super::parse::number::<usize>
    )]
    pub sqlite_cache_entries: usize,
}

/// The chosen backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server and schema.
    Postgres {
        /// The URL (may hold a password: never print it).
        url: String,
        /// The schema.
        schema: String,
    },
    /// Nothing kept.
    Memory,
}

/// An opened backend: the contacts store and its key store.
pub struct Opened {
    /// The contacts.
    pub store: Box<dyn Store>,
    /// The API keys.
    pub keys: Box<dyn KeyStore>,
    /// What was opened, fit for a log line: a path, or a PostgreSQL host and schema
    /// (never a password).
    pub description: String,
}

impl Opened {
    /// Why `org` is most likely a mistyped `--org`: it has no API key and no contacts
    /// here (an org is otherwise nothing but those). `None` when it has either, or when
    /// `create` allows starting a new org.
    ///
    /// # Errors
    /// When the keys or the contacts cannot be read.
    pub fn unknown_org(&self, org: OrgId, create: bool) -> Result<Option<String>, CliError> {
        if create || self.keys.list()?.iter().any(|k| k.org_id == org) {
            return Ok(None);
        }
        if self.store.list(org, PageStart::Offset(0), 1)?.total > 0 {
            return Ok(None);
        }
        Ok(Some(format!(
            "Org {org} has no contacts and no API key here: check --org (`contacts keys \
             list` shows the orgs with keys), or give --create to start a new org"
        )))
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("store", &self.store)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Who opens: `serve` may create the database and may keep it in memory; a one-shot
/// command needs an existing database unless given `--create`; `import` is a one-shot
/// command that writes in bulk, so its SQLite log checkpoints less often
/// ([`IMPORT_CHECKPOINT_PAGES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    Serve,
    Command,
    Import,
}

/// `import`'s `contacts_sqlite::Options::checkpoint_pages`: about 32 MB of log between
/// checkpoints. At 4 MB (SQLite's default) the import spent 15 % of its time writing
/// back and syncing the same index pages, and it runs a quarter faster with 32 MB
/// (docs/benchmarks.md, "History in a rowid table"). A server keeps the default; a
/// server commit that follows an import's on the same file runs the larger checkpoint
/// the import left.
const IMPORT_CHECKPOINT_PAGES: u32 = 8_000;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl StorageArgs {
    /// The backend the flags and the environment choose.
    ///
    /// # Errors
    /// A [`UsageError`] when both environment variables are set and no flag decides, or
    /// `--postgres-schema` is given without PostgreSQL.
    pub fn backend(&self) -> Result<Backend, UsageError> {
        let backend = if self.memory {
            Backend::Memory
        } else if let Some(path) = &self.db {
            Backend::Sqlite(path.clone())
        } else if let Some(url) = &self.postgres {
            self.postgres_backend(url.clone())
        } else {
            match (env("CONTACTS_DB"), env("CONTACTS_POSTGRES_URL")) {
                (Some(_), Some(_)) => {
                    return Err(UsageError(
                        "CONTACTS_DB and CONTACTS_POSTGRES_URL are both set: unset one, or \
                         choose with --db PATH or --postgres URL"
                            .into(),
                    ));
                }
                (Some(path), None) => Backend::Sqlite(path.into()),
                (None, Some(url)) => self.postgres_backend(url),
                (None, None) => Backend::Sqlite("contacts.db".into()),
            }
        };
        let schema_from_flag =
            self.postgres_schema.is_some() && env("CONTACTS_POSTGRES_SCHEMA").is_none();
        if schema_from_flag && !matches!(backend, Backend::Postgres { .. }) {
            return Err(UsageError(
                "--postgres-schema needs PostgreSQL (--postgres URL or CONTACTS_POSTGRES_URL)"
                    .into(),
            ));
        }
        Ok(backend)
    }

    fn postgres_backend(&self, url: String) -> Backend {
        Backend::Postgres {
            url,
            schema: self
                .postgres_schema
                .clone()
                .unwrap_or_else(|| "contacts".to_owned()),
        }
    }

    /// Opens the chosen backend for a one-shot command.
    ///
    /// # Errors
    /// A [`UsageError`] for `--memory`; an error naming the database when it does not
    /// exist (and `--create` was not given), cannot be opened or migrated.
    pub fn open(&self) -> Result<Opened, CliError> {
        self.open_for(Purpose::Command)
    }

    /// Opens the chosen backend.
    ///
    /// # Errors
    /// A [`UsageError`] for `--memory` outside `serve`; an error naming the database
    /// when it does not exist (and may not be created), cannot be opened or migrated.
    pub(super) fn open_for(&self, purpose: Purpose) -> Result<Opened, CliError> {
        let create = self.create || purpose == Purpose::Serve;
        match self.backend()? {
            Backend::Memory => {
                if purpose != Purpose::Serve {
                    return Err(UsageError(
                        "--memory keeps nothing after the command exits; use --db PATH".into(),
                    )
                    .into());
                }
                Ok(Opened {
                    store: Box::new(contacts_inmemory::InMemoryStore::new()),
                    keys: Box::new(MemoryKeys::new()),
                    description: "memory (nothing is kept after exit)".into(),
                })
            }
            Backend::Postgres { url, schema } => {
                let description = describe_postgres(&url, &schema);
                let options = contacts_postgres::Options::default()
                    .with_schema(&schema)
                    .with_create(create);
                let store =
                    contacts_postgres::PostgresStore::connect_with(&url, options).map_err(|e| {
                        let cause = ErrorChain(&e).to_string();
                        let missing = cause.contains("schema") && cause.contains("does not exist");
                        let hint = if missing {
                            " (give --create to make it)"
                        } else {
                            ""
                        };
                        format!("PostgreSQL {description}: {cause}{hint}")
                    })?;
                let keys = keys::PostgresKeys::open(&url, store.schema())
                    .map_err(|e| format!("the key table in {description}: {}", ErrorChain(&e)))?;
                Ok(Opened {
                    store: Box::new(store),
                    keys: Box::new(keys),
                    description,
                })
            }
            Backend::Sqlite(path) => {
                if !create && !path.exists() {
                    return Err(format!(
                        "{} does not exist (check --db or CONTACTS_DB, or give --create to \
                         make a new database)",
                        path.display()
                    )
                    .into());
                }
                let checkpoint_pages = match purpose {
                    Purpose::Import => IMPORT_CHECKPOINT_PAGES,
                    Purpose::Serve | Purpose::Command => contacts_sqlite::DEFAULT_CHECKPOINT_PAGES,
                };
                let options = contacts_sqlite::Options::default()
                    .with_cache_entries(self.sqlite_cache_entries)
                    .with_create(create)
                    .with_checkpoint_pages(checkpoint_pages);
                let store = contacts_sqlite::SqliteStore::open_with(&path, options)
                    .map_err(|e| format!("opening {}: {}", path.display(), ErrorChain(&e)))?;
                let keys = SqliteKeys::open(&path)
                    .map_err(|e| format!("opening the key table in {}: {e}", path.display()))?;
                let description = std::fs::canonicalize(&path)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                Ok(Opened {
                    store: Box::new(store),
                    keys: Box::new(keys),
                    description,
                })
            }
        }
    }
}

/// `host:port/db, schema s, user u`: what a PostgreSQL URL names, without its
/// password.
fn describe_postgres(url: &str, schema: &str) -> String {
    let Ok(config) = url.parse::<postgres::Config>() else {
        return format!("(an unreadable URL), schema {schema}");
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            postgres::config::Host::Tcp(h) => format!("{h}:{port}"),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let host = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    format!(
        "{host}/{}, schema {schema}, user {}",
        config.get_dbname().unwrap_or("(default database)"),
        config.get_user().unwrap_or("(default user)")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_description_never_shows_the_password() {
        let d = describe_postgres("postgres://app:s3cret@db.internal:6432/crm", "contacts");
        assert_eq!(d, "db.internal:6432/crm, schema contacts, user app");
        assert!(!describe_postgres("postgres://u:s3cret@h/d", "s").contains("s3cret"));
    }
}
