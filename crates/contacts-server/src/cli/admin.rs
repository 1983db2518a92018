//! `contacts keys ...` and `contacts completions`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Subcommand};
use contacts_core::{Clock, OrgId, SystemClock};

use super::storage::StorageArgs;
use super::{Cli, CliError, UsageError, parse};
use crate::keys;

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

pub(super) fn keys(command: KeysCommand) -> Result<ExitCode, CliError> {
    let now = SystemClock.now();
    match command {
        KeysCommand::Create { org, storage } => {
            let org = if org == "new" {
                OrgId(uuid::Uuid::now_v7())
            } else {
                parse::org(&org).map_err(|e| UsageError(format!("--org: {e}, or `new`")))?
            };
            let opened = storage.open()?;
            let (key, info) = keys::generate_key(org, now)?;
            opened.keys.insert(&keys::hash_key(&key), &info)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "org: {org}")?;
            writeln!(out, "key: {key}")?;
            writeln!(
                out,
                "(shown once: only its hash is stored in {})",
                opened.description
            )?;
        }
        KeysCommand::List { storage } => {
            let opened = storage.open()?;
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
            let opened = storage.open()?;
            let info = opened.keys.revoke(&prefix, now)?;
            let mut out = std::io::stdout().lock();
            match info.revoked_at {
                Some(at) if at != now => writeln!(
                    out,
                    "{} (org {}) was already revoked, at {at}",
                    info.prefix, info.org_id
                )?,
                _ => writeln!(out, "revoked {} (org {})", info.prefix, info.org_id)?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `contacts completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub(super) fn completions(args: &CompletionsArgs) -> Result<ExitCode, CliError> {
    // Into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "contacts", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
