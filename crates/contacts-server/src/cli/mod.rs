//! The `contacts` command line: `serve`, `keys`, `backup`, and every engine operation
//! straight on the database, without a server (docs/architecture.md, "CLI").
//!
//! - this file: the command tree and the exit statuses;
//! - `storage.rs`: which database, refusing ones that do not exist;
//! - `local.rs`: running a command through the server's own handlers, in process;
//! - `contacts.rs`, `memory.rs`: the contact and memory commands;
//! - `data.rs`: import, export and backup;
//! - `serve.rs`: the server; `admin.rs`: keys and shell completions;
//! - `parse.rs`: flag values (ids, addresses) with errors that show an example;
//! - `outputs.rs`: files a command writes are never files it reads.
//!
//! Exit statuses: 0 on success; 1 when the operation failed (the error envelope is
//! printed, as the server would send it) or a resource is missing; 2 for a usage
//! error (a bad or conflicting flag).

mod admin;
mod contacts;
mod data;
mod local;
mod memory;
mod outputs;
mod parse;

pub(crate) use parse::number as parse_number;
mod serve;
mod storage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use admin::{CompletionsArgs, KeysCommand};
pub use contacts::{
    DeleteArgs, DetachArgs, EventsArgs, FindArgs, GetArgs, HistoryArgs, ListArgs, MergeArgs,
    ResolveArgs, UnmergeArgs, UpdateArgs,
};
pub use data::{BackupArgs, ExportArgs, ImportArgs};
pub use memory::MemoryCommand;
pub use serve::{LogFormat, ServeArgs};
pub use storage::{Backend, Opened, StorageArgs};

/// Errors the CLI reports on stderr before exiting with status 1 (or 2 for a
/// [`UsageError`]).
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// A command line that cannot mean anything (conflicting or missing options): exit
/// status 2, as for clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

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
    /// Find or create one contact, as `POST /v1/contacts/resolve`.
    Resolve(ResolveArgs),
    /// Look up a contact by phone, email or external id without creating one, as
    /// `POST /v1/contacts/find` (exit status 1 when nothing matches).
    Find(FindArgs),
    /// Show one contact with its identifiers and memories, as `GET /v1/contacts/{id}`.
    Get(GetArgs),
    /// Print one page of an org's contacts, as `GET /v1/contacts`.
    List(ListArgs),
    /// Print what happened to a contact, oldest first, as
    /// `GET /v1/contacts/{id}/history`.
    History(HistoryArgs),
    /// Print the org's change feed, every committed change in commit order, as
    /// `GET /v1/events`.
    Events(EventsArgs),
    /// Change a contact's name, metadata or identifiers, as `PATCH /v1/contacts/{id}`.
    Update(UpdateArgs),
    /// Merge a duplicate into a primary contact, as `POST /v1/contacts/merge`.
    Merge(MergeArgs),
    /// Undo a merge: the duplicate comes back under its old id with what it brought
    /// that is unchanged on the primary, as `POST /v1/contacts/{id}/unmerge`.
    Unmerge(UnmergeArgs),
    /// Delete a contact with its identifiers and memories, as `DELETE /v1/contacts/{id}`.
    Delete(DeleteArgs),
    /// Detach one identifier from its contact, as
    /// `DELETE /v1/contacts/{id}/identifiers/{identifier_id}`.
    Detach(DetachArgs),
    /// Read and write a contact's memory (`/v1/memory/...`).
    Memory {
        /// What to do with memory.
        #[command(subcommand)]
        command: MemoryCommand,
    },
    /// Resolve every row of a CSV file (see README, "Import").
    Import(ImportArgs),
    /// Write every contact of an org, with identifiers and memories, as JSON lines or
    /// CSV, in constant memory.
    Export(ExportArgs),
    /// Copy a SQLite database consistently, even while a server writes to it.
    Backup(BackupArgs),
    /// Print a shell completion script (`contacts completions bash > ...`).
    Completions(CompletionsArgs),
}

/// Runs the CLI.
///
/// # Errors
/// Whatever the command failed with, for `main` to print; a [`UsageError`] means exit
/// status 2.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Keys { command } => admin::keys(command),
        Command::Resolve(args) => contacts::resolve(args),
        Command::Find(args) => contacts::find(args),
        Command::Get(args) => contacts::get(args),
        Command::List(args) => contacts::list(args),
        Command::History(args) => contacts::history(args),
        Command::Events(args) => contacts::events(args),
        Command::Update(args) => contacts::update(args),
        Command::Merge(args) => contacts::merge(args),
        Command::Unmerge(args) => contacts::unmerge(args),
        Command::Delete(args) => contacts::delete(args),
        Command::Detach(args) => contacts::detach(args),
        Command::Memory { command } => memory::run(command),
        Command::Import(args) => data::import(&args),
        Command::Export(args) => data::export(&args),
        Command::Backup(args) => data::backup(&args),
        Command::Completions(args) => admin::completions(&args),
    }
}

/// The exit status for a failed command: 2 for a usage error, 1 otherwise, and
/// success for a closed standard output (`contacts list | head`): the reader has
/// what it wanted, so there is nothing to report. Only the error itself counts as a
/// closed output (a write the command made), never one a backend carries as its cause:
/// a database connection that broke is a failure.
pub fn failure_status(e: &(dyn std::error::Error + 'static)) -> Option<ExitCode> {
    let kind = match (
        e.downcast_ref::<std::io::Error>(),
        e.downcast_ref::<csv::Error>(),
    ) {
        (Some(io), _) => Some(io.kind()),
        // The CSV writer keeps the write error inside its own, without a source.
        (None, Some(csv)) => match csv.kind() {
            csv::ErrorKind::Io(io) => Some(io.kind()),
            _ => None,
        },
        (None, None) => None,
    };
    if kind == Some(std::io::ErrorKind::BrokenPipe) {
        return None;
    }
    let usage = e.is::<UsageError>()
        || e.is::<crate::settings::SettingsError>()
        || matches!(e.downcast_ref(), Some(crate::keys::KeyError::Env(_)));
    Some(if usage {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_standard_output_ends_quietly() {
        let closed: CliError = Box::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(failure_status(closed.as_ref()).is_none());
        // A database connection that broke is a failure, though its cause is a pipe.
        let database: CliError = Box::new(contacts_core::Error::storage(
            "postgres",
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        ));
        assert_eq!(failure_status(database.as_ref()), Some(ExitCode::FAILURE));
        let usage: CliError = Box::new(UsageError("x".into()));
        assert_eq!(failure_status(usage.as_ref()), Some(ExitCode::from(2)));
    }
}
