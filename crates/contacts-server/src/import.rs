//! `contacts import FILE.csv --org <uuid>`: resolve every row, keep every rejected row.

use std::path::{Path, PathBuf};
use std::time::Instant;

use contacts_core::{BoxError, Engine, Error, OrgId, ResolveRequest, Store};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows that created a contact.
    pub created: u64,
    /// Rows that found an existing contact.
    pub matched: u64,
    /// Resolved rows that left at least one identifier with another contact (or over
    /// a cap): the row's contact was resolved, that identifier was not attached.
    pub conflicts: u64,
    /// Rows not resolved; each is in the rejects file with its error.
    pub rejected: u64,
    /// Where the rejected rows are (`None` when there were none).
    pub rejects_file: Option<PathBuf>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The columns that are identifiers or the name; every other column is metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Phone,
    Email,
    ExternalId,
    Name,
    Metadata,
}

/// The rejects file for `input`: `people.csv` → `people.rejects.csv`, same folder.
pub fn rejects_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_owned());
    input.with_file_name(format!("{stem}.rejects.csv"))
}

/// Resolves every data row of the CSV file at `path` into `org`.
///
/// Rows that the engine refuses (bad input, or a write that kept losing races) are
/// written with their line number and error to [`rejects_path`]; any rejects file
/// from an earlier import of the same input is replaced. Resolve is idempotent, so
/// an import that stopped half-way can simply be run again.
///
/// # Errors
/// When the file cannot be read, its header has no identifier column or repeats a
/// column, or the store fails (the error names the row; rows before it are in).
pub fn import_file<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    path: &Path,
    progress: bool,
) -> Result<Summary, BoxError> {
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: reading the header: {e}", path.display()))?
        .clone();
    let columns = columns(&headers)?;

    let rejects_file = rejects_path(path);
    match std::fs::remove_file(&rejects_file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", rejects_file.display()).into()),
    }
    let mut rejects = Rejects {
        path: rejects_file,
        headers: headers.clone(),
        writer: None,
    };

    let bar = if progress {
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

    // Rows go to the engine a batch at a time (`Engine::resolve_many`: the outcomes of
    // one resolve per row, in far fewer transactions), so memory stays bounded by one
    // batch whatever the file's size.
    let mut chunk = Chunk::default();
    let capacity = engine.config().max_batch_requests;
    let mut summary = Summary::default();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(format!("{}: after {} rows: {e}", path.display(), summary.rows).into());
            }
        }
        summary.rows += 1;
        let line = record.position().map_or(0, |p| p.line());
        chunk.push(line, &record, row_request(&columns, &headers, &record));
        if chunk.rows.len() >= capacity {
            chunk
                .resolve(engine, org, &mut summary, &mut rejects)
                .inspect_err(|_| bar.abandon())?;
            bar.set_position(record.position().map_or(0, |p| p.byte()));
            bar.set_message(format!("{} rows", summary.rows));
        }
    }
    chunk
        .resolve(engine, org, &mut summary, &mut rejects)
        .inspect_err(|_| bar.abandon())?;
    if let Some(mut w) = rejects.writer {
        w.flush()?;
        summary.rejects_file = Some(rejects.path);
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Rows read but not yet resolved: each with its line, its fields (for the rejects
/// file) and its request or the reason it has none.
#[derive(Default)]
struct Chunk {
    rows: Vec<(u64, csv::ByteRecord, Option<RowError>)>,
    requests: Vec<ResolveRequest>,
}

impl Chunk {
    fn push(
        &mut self,
        line: u64,
        record: &csv::ByteRecord,
        request: Result<ResolveRequest, RowError>,
    ) {
        match request {
            Ok(req) => {
                self.requests.push(req);
                self.rows.push((line, record.clone(), None));
            }
            Err(e) => self.rows.push((line, record.clone(), Some(e))),
        }
    }

    /// Resolves the chunk's requests as one batch and accounts for every row, in
    /// order; empties the chunk.
    fn resolve<S: Store>(
        &mut self,
        engine: &Engine<S>,
        org: OrgId,
        summary: &mut Summary,
        rejects: &mut Rejects,
    ) -> Result<(), BoxError> {
        let requests = std::mem::take(&mut self.requests);
        let mut outcomes = engine.resolve_many(org, &requests)?.into_iter();
        for (line, record, refused) in self.rows.drain(..) {
            let outcome = match refused {
                Some(e) => Err(e),
                None => outcomes
                    .next()
                    .ok_or("the engine answered fewer items than it was given")?
                    .map_err(RowError::Engine),
            };
            match outcome {
                Ok(out) => {
                    if out.created {
                        summary.created += 1;
                    } else {
                        summary.matched += 1;
                    }
                    if !out.conflicts.is_empty() {
                        summary.conflicts += 1;
                    }
                }
                Err(RowError::Engine(e @ Error::Storage { .. })) => {
                    return Err(format!(
                        "line {line}: {e}; the rows before it are imported (and some after \
                         it may be), and running the import again is safe"
                    )
                    .into());
                }
                Err(e) => {
                    summary.rejected += 1;
                    rejects.write(line, &e, &record)?;
                }
            }
        }
        Ok(())
    }
}

/// The rejects file, created on the first rejected row.
struct Rejects {
    path: PathBuf,
    headers: csv::StringRecord,
    writer: Option<csv::Writer<std::fs::File>>,
}

impl Rejects {
    fn write(&mut self, line: u64, e: &RowError, record: &csv::ByteRecord) -> Result<(), BoxError> {
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let mut w = csv::WriterBuilder::new()
                    .flexible(true)
                    .from_path(&self.path)
                    .map_err(|e| format!("{}: {e}", self.path.display()))?;
                let mut header = csv::ByteRecord::new();
                header.push_field(b"line");
                header.push_field(b"error");
                for h in &self.headers {
                    header.push_field(h.as_bytes());
                }
                w.write_byte_record(&header)?;
                self.writer.insert(w)
            }
        };
        let mut row = csv::ByteRecord::new();
        row.push_field(line.to_string().as_bytes());
        row.push_field(e.message().as_bytes());
        for field in record {
            row.push_field(field);
        }
        writer.write_byte_record(&row)?;
        Ok(())
    }
}

fn columns(headers: &csv::StringRecord) -> Result<Vec<Column>, BoxError> {
    let mut columns = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim();
        let column = match name.to_ascii_lowercase().as_str() {
            "phone_number" => Column::Phone,
            "email" => Column::Email,
            "external_id" => Column::ExternalId,
            "name" => Column::Name,
            _ => Column::Metadata,
        };
        let repeated = headers
            .iter()
            .take(i)
            .any(|earlier| earlier.trim().eq_ignore_ascii_case(name));
        if repeated {
            return Err(format!("the CSV header names column {name:?} twice").into());
        }
        columns.push(column);
    }
    if !columns
        .iter()
        .any(|c| matches!(c, Column::Phone | Column::Email | Column::ExternalId))
    {
        return Err(
            "the CSV header has none of the identifier columns phone_number, email, external_id"
                .into(),
        );
    }
    Ok(columns)
}

enum RowError {
    Row(String),
    Engine(Error),
}

impl RowError {
    fn message(&self) -> String {
        match self {
            RowError::Row(m) => m.clone(),
            RowError::Engine(e) => ApiError::from(clone_error(e)).body.message,
        }
    }
}

/// Errors are not `Clone`; rebuild the variants a rejected row can carry.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::InvalidInput { field, reason } => Error::invalid(field.clone(), reason.clone()),
        Error::NotFound { entity } => Error::NotFound { entity },
        Error::Conflict { reason } => Error::conflict(reason.clone()),
        other => Error::conflict(other.to_string()),
    }
}

fn row_request(
    columns: &[Column],
    headers: &csv::StringRecord,
    record: &csv::ByteRecord,
) -> Result<ResolveRequest, RowError> {
    if record.len() > columns.len() {
        return Err(RowError::Row(format!(
            "the row has {} fields but the header names {}",
            record.len(),
            columns.len()
        )));
    }
    let mut req = ResolveRequest::new();
    let mut metadata = Map::new();
    for (i, raw) in record.iter().enumerate() {
        let header = headers.get(i).unwrap_or_default().trim();
        let value = std::str::from_utf8(raw)
            .map_err(|_| RowError::Row(format!("{header}: not valid UTF-8")))?
            .trim();
        if value.is_empty() {
            continue;
        }
        let value = value.to_owned();
        match columns[i] {
            Column::Phone => req.phone_number = Some(value),
            Column::Email => req.email = Some(value),
            Column::ExternalId => req.external_id = Some(value),
            Column::Name => req.name = Some(value),
            Column::Metadata => {
                metadata.insert(header.to_owned(), Value::String(value));
            }
        }
    }
    if !metadata.is_empty() {
        req.metadata = Some(Value::Object(metadata));
    }
    Ok(req)
}
