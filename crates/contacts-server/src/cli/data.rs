//! Whole-database commands: `import`, `export` and `backup`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use contacts_core::{Engine, OrgId};

use super::storage::{Backend, StorageArgs};
use super::{CliError, UsageError, local, parse};
use crate::import::{self, Delimiter, Mapping};
use crate::settings::EngineArgs;
use crate::{error::ErrorChain, export};

/// `contacts import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, with a header row; comma, semicolon or tab separated).
    pub file: PathBuf,
    /// The org to import into.
    #[arg(long, value_parser = parse::org)]
    pub org: OrgId,
    /// Read columns under other names: `--map phone=phone_number,mail=email`. The
    /// targets are phone_number, email, external_id, name and metadata.
    #[arg(long, value_name = "COLUMN=FIELD", value_delimiter = ',')]
    pub map: Vec<Mapping>,
    /// The field separator (`,`, `;`, `tab`, `|`); detected from the header if absent.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<Delimiter>,
    /// Reject a whole row when one of its fields is bad (by default the row resolves
    /// on its good fields and the bad one is reported).
    #[arg(long)]
    pub strict_rows: bool,
    /// Check every row and report what would happen, writing nothing to the database.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the report goes (default `<file>.report.jsonl` beside the input).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub(super) fn import(args: &ImportArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let options = import::Options {
        map: args.map.clone(),
        delimiter: args.delimiter,
        strict_rows: args.strict_rows,
        dry_run: args.dry_run,
        report: args.report.clone(),
        progress: true,
    };
    // Problems with the file itself (encoding, header, mapping) are found before the
    // database is opened, let alone written.
    let plan = import::Plan::read(&args.file, &options)?;
    let opened = args.storage.open()?;
    let engine = Engine::with_config(opened.store, config)?;
    let summary = import::run(&engine, args.org, plan, &options)?;
    local::print_json_bytes(&serde_json::to_vec(&summary)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `contacts export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The org to export.
    #[arg(long, value_parser = parse::org)]
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

pub(super) fn export(args: &ExportArgs) -> Result<ExitCode, CliError> {
    let config = args.engine.config()?;
    let opened = args.storage.open()?;
    let has_key = opened.keys.list()?.iter().any(|k| k.org_id == args.org);
    let engine = Engine::with_config(opened.store, config)?;
    let written = match &args.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            export::write_export(&engine, args.org, args.format, file)?
        }
        None => export::write_export(&engine, args.org, args.format, std::io::stdout().lock())?,
    };
    if written == 0 && !has_key {
        return Err(format!(
            "org {} has no contacts and no API key here: check --org (`contacts keys list` \
             shows the orgs with keys)",
            args.org
        )
        .into());
    }
    eprintln!("exported {written} contacts");
    Ok(ExitCode::SUCCESS)
}

/// `contacts backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The copy to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where the data lives (SQLite only: back PostgreSQL up with pg_dump).
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub(super) fn backup(args: &BackupArgs) -> Result<ExitCode, CliError> {
    let path = match args.storage.backend()? {
        Backend::Sqlite(path) => path,
        Backend::Postgres { .. } => {
            return Err(UsageError(
                "backup copies SQLite files; for PostgreSQL use pg_dump --schema".into(),
            )
            .into());
        }
        Backend::Memory => {
            return Err(UsageError("--memory has nothing to back up".into()).into());
        }
    };
    if !path.exists() {
        return Err(format!(
            "{} does not exist (check --db or CONTACTS_DB)",
            path.display()
        )
        .into());
    }
    // One reader and no cache: the copy reads every page once.
    let options = contacts_sqlite::Options::default()
        .with_create(false)
        .with_readers(1)
        .with_cache_entries(0);
    let store = contacts_sqlite::SqliteStore::open_with(&path, options)
        .map_err(|e| format!("opening {}: {}", path.display(), ErrorChain(&e)))?;
    store
        .backup_to(&args.out)
        .map_err(|e| format!("backing up to {}: {}", args.out.display(), ErrorChain(&e)))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "copied {} to {} ({bytes} bytes)",
        path.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
