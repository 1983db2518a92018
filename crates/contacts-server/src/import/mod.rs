//! `contacts import FILE.csv --org <uuid>`: resolve every row of a CSV file.
//!
//! - this file: the run (rows to batches to outcomes) and its summary;
//! - `plan.rs`: the file's encoding, delimiter and columns, checked first;
//! - `report.rs`: the rejects file and the report.
//!
//! A row resolves on its good fields: a bad phone number does not lose the row's
//! email (unless `--strict-rows`). What the engine's rules say about a value is
//! asked of the engine (its normaliser, its errors), never decided here.

mod plan;
mod report;

pub use plan::{Delimiter, Field, Mapping, Plan};
pub use report::{Entry, RefusedField, Status};

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::time::Instant;

use contacts_core::{
    BoxError, ConflictReason, ContactId, Engine, Error, FindRequest, IdentifierConflict,
    IdentifierKind, IgnoredValue, Normalized, Normalizer, OrgId, ResolveOutcome, ResolveRequest,
    Store,
};
use serde::Serialize;
use serde_json::{Map, Value};

use report::Outputs;

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--map`.
    pub map: Vec<Mapping>,
    /// `--delimiter` (detected when `None`).
    pub delimiter: Option<Delimiter>,
    /// `--strict-rows`: a bad field rejects its row.
    pub strict_rows: bool,
    /// `--dry-run`: check and report, write nothing.
    pub dry_run: bool,
    /// `--report` (default `<file>.report.jsonl`).
    pub report: Option<PathBuf>,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// What an import did (with `--dry-run`, what it would do).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows that created a contact.
    pub created: u64,
    /// Rows that found an existing contact (or, in a dry run, one an earlier row of
    /// the file would create).
    pub matched: u64,
    /// Rows resolved on their good fields after some were refused.
    pub partial: u64,
    /// Rows not resolved.
    pub rejected: u64,
    /// Fields refused, in partial and rejected rows.
    pub refused_fields: u64,
    /// Values ignored as junk (`null`, `N/A`, `0000000000`).
    pub ignored_values: u64,
    /// Identifiers left with the other contact that owns them.
    pub conflicts: u64,
    /// Identifiers not attached because the contact was at its cap for the kind.
    pub cap_refusals: u64,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// Every partial or rejected row, as read, with its line and errors (`None` when
    /// there were none).
    pub rejects_file: Option<PathBuf>,
    /// One JSON line per row that did not resolve cleanly (`None` when all did).
    pub report_file: Option<PathBuf>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The rejects file for `input`: `people.csv` → `people.rejects.csv`, same folder.
pub fn rejects_path(input: &Path) -> PathBuf {
    report::beside(input, "rejects.csv")
}

/// The default report for `input`: `people.csv` → `people.report.jsonl`.
pub fn report_path(input: &Path) -> PathBuf {
    report::beside(input, "report.jsonl")
}

/// Where an import with `options` writes its rejects file and its report. A dry run
/// writes beside a real import's files (`people.dry-run.report.jsonl`), never over
/// them.
pub fn output_paths(input: &Path, options: &Options) -> (PathBuf, PathBuf) {
    let (rejects, report) = if options.dry_run {
        (
            report::beside(input, "dry-run.rejects.csv"),
            report::beside(input, "dry-run.report.jsonl"),
        )
    } else {
        (rejects_path(input), report_path(input))
    };
    (rejects, options.report.clone().unwrap_or(report))
}

/// Imports `path` with the default options (a progress bar if `progress`).
///
/// # Errors
/// As [`Plan::read`] and [`run`].
pub fn import_file<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    path: &Path,
    progress: bool,
) -> Result<Summary, BoxError> {
    let options = Options {
        progress,
        ..Options::default()
    };
    run(engine, org, Plan::read(path, &options)?, &options)
}

/// Physical line numbers of record starts, found by reading the file a second time
/// alongside the parser (which counts records, not lines: CRLF files and quoted
/// multi-line cells would be misnumbered). Offsets only grow, so this is one pass.
struct Lines {
    reader: std::io::BufReader<std::fs::File>,
    at: u64,
    line: u64,
}

impl Lines {
    fn open(plan: &Plan) -> Result<Lines, BoxError> {
        let mut file = std::fs::File::open(&plan.path)?;
        file.seek(std::io::SeekFrom::Start(plan.bom))?;
        Ok(Lines {
            reader: std::io::BufReader::new(file),
            at: 0,
            line: 1,
        })
    }

    /// The line of the byte at `offset` (from the parser's start, past the BOM).
    fn line_at(&mut self, offset: u64) -> Result<u64, BoxError> {
        while self.at < offset {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min((offset - self.at) as usize);
            self.line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            self.reader.consume(n);
            self.at += n as u64;
        }
        // The parser may place a record's start on the line break before it (the `\n`
        // of a CRLF it ended the previous record at); a record never begins with a
        // raw line break, so step over them.
        loop {
            let buf = self.reader.fill_buf()?;
            match buf.first() {
                Some(b'\n') => self.line += 1,
                Some(b'\r') => {}
                _ => break,
            }
            self.reader.consume(1);
            self.at += 1;
        }
        Ok(self.line)
    }
}

/// A row read and checked, waiting for its batch.
struct Row {
    line: u64,
    record: csv::ByteRecord,
    /// `None` when the row was rejected before the engine saw it.
    request: Option<ResolveRequest>,
    refused: Vec<RefusedField>,
    error: Option<String>,
}

/// Resolves every data row of the file `plan` describes into `org`.
///
/// Rows go to the engine a batch at a time (`Engine::resolve_many`: the outcomes of
/// one resolve per row, in far fewer transactions), so memory stays bounded by one
/// batch whatever the file's size. Resolve is idempotent, so an import that stopped
/// half-way can simply be run again; the rejects file and report of an earlier run
/// are replaced.
///
/// # Errors
/// When the file cannot be read, the outputs cannot be written, or the store fails
/// (the error names the line; rows before it are in).
pub fn run<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    plan: Plan,
    options: &Options,
) -> Result<Summary, BoxError> {
    let started = Instant::now();
    let shown = plan.path.display().to_string();
    let mut file = std::fs::File::open(&plan.path).map_err(|e| format!("{shown}: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    file.seek(std::io::SeekFrom::Start(plan.bom))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(plan.delimiter)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    reader.headers().map_err(|e| format!("{shown}: {e}"))?;
    let mut lines = Lines::open(&plan)?;

    let (rejects, report) = output_paths(&plan.path, options);
    // Both files are created (emptied) before the first row, so a path that cannot be
    // written stops the import before it writes anything; the one left empty is
    // removed at the end.
    let mut outputs = Outputs::create(rejects, report, plan.headers.clone())?;
    let normalizer = Normalizer::new(engine.config())?;
    let mut dry = options.dry_run.then(DryRun::default);

    let bar = if options.progress {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} ({eta} left) {msg}",
            )
            .map_err(|e| e.to_string())?,
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let capacity = engine.config().max_batch_requests;
    let mut summary = Summary {
        dry_run: options.dry_run,
        ..Summary::default()
    };
    let mut batch: Vec<Row> = Vec::with_capacity(capacity);
    let mut record = csv::ByteRecord::new();
    let ctx = Context {
        engine,
        org,
        plan: &plan,
        options,
        normalizer: &normalizer,
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(format!("{shown}: after {} rows: {e}", summary.rows).into());
            }
        }
        summary.rows += 1;
        let line = lines.line_at(record.position().map_or(0, |p| p.byte()))?;
        batch.push(ctx.row(line, &record));
        if batch.len() >= capacity {
            ctx.settle(&mut batch, dry.as_mut(), &mut summary, &mut outputs)
                .inspect_err(|_| bar.abandon())?;
            bar.set_position(record.position().map_or(0, |p| p.byte()));
            bar.set_message(format!("{} rows", summary.rows));
        }
    }
    ctx.settle(&mut batch, dry.as_mut(), &mut summary, &mut outputs)
        .inspect_err(|_| bar.abandon())?;
    let (rejects_file, report_file) = outputs.finish()?;
    summary.rejects_file = rejects_file;
    summary.report_file = report_file;
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the import keeps of an outcome.
struct Resolved {
    /// The contact (none for a contact a dry run would create).
    contact_id: Option<ContactId>,
    created: bool,
    ignored: Vec<IgnoredValue>,
    conflicts: Vec<IdentifierConflict>,
}

impl From<ResolveOutcome> for Resolved {
    fn from(out: ResolveOutcome) -> Self {
        Resolved {
            contact_id: Some(out.contact.id),
            created: out.created,
            ignored: out.ignored,
            conflicts: out.conflicts,
        }
    }
}

/// What a dry run remembers: the identifiers rows of this file would have created,
/// so a later row with one of them counts as matching.
#[derive(Default)]
struct DryRun {
    created: std::collections::HashSet<(IdentifierKind, String)>,
}

struct Context<'a, S: Store> {
    engine: &'a Engine<S>,
    org: OrgId,
    plan: &'a Plan,
    options: &'a Options,
    normalizer: &'a Normalizer,
}

fn kind_of(field: Field) -> Option<IdentifierKind> {
    match field {
        Field::Phone => Some(IdentifierKind::PhoneNumber),
        Field::Email => Some(IdentifierKind::Email),
        Field::ExternalId => Some(IdentifierKind::ExternalId),
        Field::Name | Field::Metadata => None,
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Phone => "phone_number",
        Field::Email => "email",
        Field::ExternalId => "external_id",
        Field::Name => "name",
        Field::Metadata => "metadata",
    }
}

impl<S: Store> Context<'_, S> {
    /// Reads one record into a request. An identifier the engine's normaliser refuses
    /// is left out and reported (junk values stay in: the engine reports those
    /// itself, in `ignored`); so is a cell that is not UTF-8.
    fn row(&self, line: u64, record: &csv::ByteRecord) -> Row {
        let mut row = Row {
            line,
            record: record.clone(),
            request: None,
            refused: Vec::new(),
            error: None,
        };
        let fields = &self.plan.fields;
        if record.len() > fields.len() {
            row.error = Some(format!(
                "the row has {} fields but the header names {} (a delimiter inside a value \
                 that is not quoted?)",
                record.len(),
                fields.len()
            ));
            return row;
        }
        let mut req = ResolveRequest::new();
        let mut metadata = Map::new();
        let mut identifiers = 0;
        for (i, raw) in record.iter().enumerate() {
            let column = self.plan.headers.get(i).unwrap_or_default().trim();
            let field = fields[i];
            let refuse = |error: String| RefusedField {
                column: column.to_owned(),
                field: field_name(field).to_owned(),
                value: String::from_utf8_lossy(raw).trim().to_owned(),
                error,
            };
            let Ok(value) = std::str::from_utf8(raw) else {
                row.refused
                    .push(refuse(format!("{}: not valid UTF-8", field_name(field))));
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if let Some(kind) = kind_of(field) {
                match self.normalizer.normalize(kind, value) {
                    Ok(Normalized::Blank) => continue,
                    Ok(_) => identifiers += 1,
                    Err(e) => {
                        row.refused.push(refuse(e.message()));
                        continue;
                    }
                }
            }
            let value = value.to_owned();
            match field {
                Field::Phone => req.phone_number = Some(value),
                Field::Email => req.email = Some(value),
                Field::ExternalId => req.external_id = Some(value),
                Field::Name => req.name = Some(value),
                Field::Metadata => {
                    metadata.insert(column.to_owned(), Value::String(value));
                }
            }
        }
        if !metadata.is_empty() {
            req.metadata = Some(Value::Object(metadata));
        }
        if !row.refused.is_empty() && self.options.strict_rows {
            row.error = Some("--strict-rows: a field was refused".to_owned());
        } else if identifiers == 0 && !row.refused.is_empty() {
            row.error = Some("no identifier is left once the refused fields are removed".into());
        } else {
            row.request = Some(req);
        }
        row
    }

    /// Resolves the batch's requests (or, in a dry run, looks them up) and accounts
    /// for every row, in order; empties the batch.
    fn settle(
        &self,
        batch: &mut Vec<Row>,
        dry: Option<&mut DryRun>,
        summary: &mut Summary,
        outputs: &mut Outputs,
    ) -> Result<(), BoxError> {
        let requests: Vec<ResolveRequest> =
            batch.iter().filter_map(|r| r.request.clone()).collect();
        let mut outcomes = match dry {
            None => self
                .engine
                .resolve_many(self.org, &requests)?
                .into_iter()
                .map(|r| r.map(Resolved::from))
                .collect(),
            Some(dry) => requests
                .iter()
                .map(|r| self.dry_resolve(dry, r))
                .collect::<Vec<_>>(),
        }
        .into_iter();
        for mut row in batch.drain(..) {
            let mut outcome = match row.request.take() {
                None => None,
                Some(req) => {
                    let first = outcomes
                        .next()
                        .ok_or("the engine answered fewer items than it was given")?;
                    Some(self.retry_without_refused(req, first, &mut row)?)
                }
            };
            if let Some(Err(e)) = &outcome {
                row.error = Some(e.message());
            }
            let resolved = match outcome.take() {
                Some(Ok(out)) => Some(out),
                _ => None,
            };
            self.account(row, resolved, summary, outputs)?;
        }
        Ok(())
    }

    /// A row the engine refused for its name or metadata is resolved again without
    /// that field (unless `--strict-rows`), straight after its batch; so it is for
    /// every such field, one at a time.
    fn retry_without_refused(
        &self,
        mut req: ResolveRequest,
        mut outcome: contacts_core::Result<Resolved>,
        row: &mut Row,
    ) -> Result<contacts_core::Result<Resolved>, BoxError> {
        loop {
            let (field, message) = match &outcome {
                Err(e @ Error::Storage { .. }) => {
                    return Err(format!(
                        "line {}: {e}; the rows before it are imported (and some after it \
                         may be), and running the import again is safe",
                        row.line
                    )
                    .into());
                }
                Err(e @ Error::InvalidInput { field, .. }) if !self.options.strict_rows => (
                    field
                        .split(['.', '['])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    e.message(),
                ),
                _ => return Ok(outcome),
            };
            let removed = match field.as_str() {
                "name" => req.name.take().map(Value::String),
                "metadata" => req.metadata.take(),
                _ => None,
            };
            let Some(value) = removed else {
                return Ok(outcome);
            };
            row.refused.push(RefusedField {
                column: field.clone(),
                field,
                value: match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                },
                error: message,
            });
            outcome = self.engine.resolve(self.org, &req).map(Resolved::from);
        }
    }

    /// What a resolve would do, without writing: matched if an identifier finds a
    /// contact (in the database, or created by an earlier row of this dry run),
    /// otherwise created; junk values as the normaliser sees them. Conflicts and caps
    /// show only in a real import.
    fn dry_resolve(
        &self,
        dry: &mut DryRun,
        req: &ResolveRequest,
    ) -> contacts_core::Result<Resolved> {
        let found = self.engine.find(self.org, &FindRequest::from(req))?;
        let mut keys = Vec::new();
        let mut ignored = Vec::new();
        for (kind, value) in [
            (IdentifierKind::PhoneNumber, &req.phone_number),
            (IdentifierKind::Email, &req.email),
            (IdentifierKind::ExternalId, &req.external_id),
        ] {
            let Some(v) = value.as_deref() else { continue };
            match self.normalizer.normalize(kind, v) {
                Ok(Normalized::Value(n)) => keys.push((kind, n.into_owned())),
                Ok(Normalized::Junk(reason)) => ignored.push(IgnoredValue {
                    field: kind,
                    value: v.to_owned(),
                    reason: reason.as_str().to_owned(),
                }),
                _ => {}
            }
        }
        let created = found.is_none() && !keys.iter().any(|k| dry.created.contains(k));
        if created {
            dry.created.extend(keys);
        }
        Ok(Resolved {
            contact_id: found.map(|c| c.contact.id),
            created,
            ignored,
            conflicts: Vec::new(),
        })
    }

    fn account(
        &self,
        row: Row,
        outcome: Option<Resolved>,
        summary: &mut Summary,
        outputs: &mut Outputs,
    ) -> Result<(), BoxError> {
        summary.refused_fields += row.refused.len() as u64;
        let mut entry = Entry {
            line: row.line,
            status: Status::Rejected,
            contact_id: None,
            created: None,
            error: row.error,
            refused: row.refused,
            ignored: Vec::new(),
            conflicts: Vec::new(),
        };
        match outcome {
            None => summary.rejected += 1,
            Some(out) => {
                if out.created {
                    summary.created += 1;
                } else {
                    summary.matched += 1;
                }
                summary.ignored_values += out.ignored.len() as u64;
                for c in &out.conflicts {
                    match c.reason {
                        ConflictReason::CapReached => summary.cap_refusals += 1,
                        _ => summary.conflicts += 1,
                    }
                }
                entry.status = if entry.refused.is_empty() {
                    Status::Resolved
                } else {
                    summary.partial += 1;
                    Status::Partial
                };
                entry.contact_id = out.contact_id;
                entry.created = Some(out.created);
                entry.ignored = out.ignored;
                entry.conflicts = out.conflicts;
                if entry.status == Status::Resolved
                    && entry.ignored.is_empty()
                    && entry.conflicts.is_empty()
                {
                    return Ok(()); // resolved cleanly: nothing to report
                }
            }
        }
        outputs.write(&entry, &row.record)
    }
}
