//! Whole-database commands: `import`, `export` and `backup`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use contacts_core::{Engine, OrgId};

use super::outputs::Protected;
use super::storage::{Backend, Purpose, StorageArgs};
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
    /// Where the report goes (default `<file>.report.jsonl` beside the input; a new
    /// file, unless `--force`).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Replace the `--report` file if it exists.
    #[arg(long, requires = "report")]
    pub force: bool,
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
    // Problems with the file itself (encoding, header, mapping) and with where the
    // report goes are found before the database is opened, let alone written.
    let plan = import::Plan::read(&args.file, &options)?;
    let (rejects, report) = import::output_paths(&args.file, &options);
    let mut protected = Protected::default();
    protected.database(&args.storage);
    protected.add(&args.file, "the file being imported");
    if let Some(config) = &args.engine.config {
        protected.add(config, "the settings file");
    }
    protected.check(&rejects)?;
    protected.add(&rejects, "the rejects file");
    protected.check(&report)?;
    if args.report.is_some() && report.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists: choose a new file for --report, or give --force to replace it",
            report.display()
        ))
        .into());
    }
    let opened = args.storage.open_for(Purpose::Import)?;
    if let Some(message) = opened.unknown_org(args.org, args.storage.create)? {
        return Err(message.into());
    }
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
    /// Write to this file instead of standard output (a new file, unless `--force`;
    /// `-` is standard output).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Replace the `--output` file if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
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
    if let Some(message) = opened.unknown_org(args.org, false)? {
        return Err(message.into());
    }
    let engine = Engine::with_config(opened.store, config)?;
    let written = match args.output.as_deref().filter(|p| *p != Path::new("-")) {
        Some(path) => {
            let mut protected = Protected::default();
            protected.database(&args.storage);
            if let Some(config) = &args.engine.config {
                protected.add(config, "the settings file");
            }
            protected.check(path)?;
            if path.exists() && !args.force {
                return Err(UsageError(format!(
                    "{} already exists: choose a new file, or give --force to replace it",
                    path.display()
                ))
                .into());
            }
            // Written beside the target and renamed over it once complete, so a failed
            // export never leaves half a file where the last good one was.
            let partial = PathBuf::from(format!("{}.partial", path.display()));
            let file = std::fs::File::create(&partial)
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            let written =
                export::write_export(&engine, args.org, args.format, file).inspect_err(|_| {
                    let _ = std::fs::remove_file(&partial);
                })?;
            std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))?;
            written
        }
        None => export::write_export(&engine, args.org, args.format, std::io::stdout().lock())?,
    };
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
