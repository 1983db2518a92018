//! What an import writes besides the database: the rejects file (every row with a
//! refused field, as it was read, to fix and import again) and the report (one JSON
//! line per row that did not resolve cleanly, saying exactly what happened).

use std::io::Write;
use std::path::{Path, PathBuf};

use contacts_core::{BoxError, ContactId, IdentifierConflict, IgnoredValue};
use serde::Serialize;

/// A field the import or the engine refused; the row resolved without it, or (with
/// `--strict-rows`, or when nothing else identified the person) not at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedField {
    /// The column, as the header names it.
    pub column: String,
    /// The field it feeds (`phone_number`, `email`, `external_id`, `name`,
    /// `metadata`).
    pub field: String,
    /// The value as read (lossy for bytes that are not UTF-8).
    pub value: String,
    /// Why, as the API would say it.
    pub error: String,
}

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Resolved on every field, but with junk values ignored or identifiers left with
    /// another contact (or over a cap).
    Resolved,
    /// Resolved on its good fields; some were refused.
    Partial,
    /// Not resolved.
    Rejected,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// The physical line the row starts on (1 is the header).
    pub line: u64,
    /// What happened.
    pub status: Status,
    /// The contact the row resolved to (none when rejected).
    pub contact_id: Option<ContactId>,
    /// Whether the row created it (with `--dry-run`: would create).
    pub created: Option<bool>,
    /// Why the row was not resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Fields refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedField>,
    /// Values ignored as junk (`null`, `N/A`, `0000000000`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredValue>,
    /// Identifiers left where they were: another contact owns them (its id is given),
    /// or the contact is at its cap for the kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<IdentifierConflict>,
}

/// `people.csv` → `people.<suffix>`, beside it.
pub(super) fn beside(input: &Path, suffix: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".to_owned());
    input.with_file_name(format!("{stem}.{suffix}"))
}

fn create(path: &Path) -> Result<std::fs::File, BoxError> {
    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The two output files: created (emptied, so nothing of an earlier run is read as
/// this one's) before the first row, so a path that cannot be written stops the import
/// before it writes anything; a file nothing was written to is removed at the end.
pub(super) struct Outputs {
    rejects_path: PathBuf,
    report_path: PathBuf,
    headers: csv::StringRecord,
    rejects: RejectsFile,
    report: std::io::BufWriter<std::fs::File>,
    reported: bool,
    finished: bool,
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if matches!(self.rejects, RejectsFile::Empty(_)) {
            let _ = std::fs::remove_file(&self.rejects_path);
        }
        if !self.reported {
            let _ = std::fs::remove_file(&self.report_path);
        }
    }
}

/// The rejects file: its header goes in with the first rejected row.
enum RejectsFile {
    Empty(std::fs::File),
    Writing(Box<csv::Writer<std::fs::File>>),
    Taken,
}

impl Outputs {
    pub(super) fn create(
        rejects_path: PathBuf,
        report_path: PathBuf,
        headers: csv::StringRecord,
    ) -> Result<Self, BoxError> {
        let report = std::io::BufWriter::new(create(&report_path)?);
        let rejects = match create(&rejects_path) {
            Ok(file) => RejectsFile::Empty(file),
            Err(e) => {
                let _ = std::fs::remove_file(&report_path);
                return Err(e);
            }
        };
        Ok(Outputs {
            rejects_path,
            report_path,
            headers,
            rejects,
            report,
            reported: false,
            finished: false,
        })
    }

    /// Records one row that did not resolve cleanly: in the report always, in the
    /// rejects file when a field or the row was refused.
    pub(super) fn write(
        &mut self,
        entry: &Entry,
        record: &csv::ByteRecord,
    ) -> Result<(), BoxError> {
        if entry.status != Status::Resolved {
            self.reject(entry, record)?;
        }
        let shown = |e: &dyn std::fmt::Display| {
            format!(
                "writing the report {}: {e} (the rows before this one are imported; running \
                 the import again is safe)",
                self.report_path.display()
            )
        };
        serde_json::to_writer(&mut self.report, entry).map_err(|e| shown(&e))?;
        self.report.write_all(b"\n").map_err(|e| shown(&e))?;
        self.reported = true;
        Ok(())
    }

    fn reject(&mut self, entry: &Entry, record: &csv::ByteRecord) -> Result<(), BoxError> {
        let mut writer = match std::mem::replace(&mut self.rejects, RejectsFile::Taken) {
            RejectsFile::Writing(w) => w,
            RejectsFile::Empty(file) => {
                let mut w = csv::WriterBuilder::new().flexible(true).from_writer(file);
                let mut header = csv::ByteRecord::new();
                header.push_field(b"line");
                header.push_field(b"status");
                header.push_field(b"error");
                for h in &self.headers {
                    header.push_field(h.as_bytes());
                }
                w.write_byte_record(&header)?;
                Box::new(w)
            }
            RejectsFile::Taken => return Err("the rejects file was closed".into()),
        };
        let mut errors: Vec<&str> = entry.refused.iter().map(|r| r.error.as_str()).collect();
        if let Some(e) = &entry.error {
            errors.push(e);
        }
        let status = match entry.status {
            Status::Partial => "partial",
            _ => "rejected",
        };
        let mut row = csv::ByteRecord::new();
        row.push_field(entry.line.to_string().as_bytes());
        row.push_field(status.as_bytes());
        row.push_field(errors.join("; ").as_bytes());
        for field in record {
            row.push_field(field);
        }
        writer.write_byte_record(&row).map_err(|e| {
            format!(
                "writing the rejects file {}: {e} (the rows before this one are imported; \
                 running the import again is safe)",
                self.rejects_path.display()
            )
        })?;
        self.rejects = RejectsFile::Writing(writer);
        Ok(())
    }

    /// Flushes both files; returns the paths of those that were written and removes
    /// the others. An import that fails before `finish` removes the ones still empty
    /// when `Outputs` is dropped.
    pub(super) fn finish(mut self) -> Result<(Option<PathBuf>, Option<PathBuf>), BoxError> {
        self.finished = true;
        let rejects = match std::mem::replace(&mut self.rejects, RejectsFile::Taken) {
            RejectsFile::Writing(mut w) => {
                w.flush()?;
                Some(self.rejects_path.clone())
            }
            RejectsFile::Empty(file) => {
                drop(file);
                std::fs::remove_file(&self.rejects_path)?;
                None
            }
            RejectsFile::Taken => None,
        };
        self.report.flush()?;
        let report = if self.reported {
            Some(self.report_path.clone())
        } else {
            std::fs::remove_file(&self.report_path)?;
            None
        };
        Ok((rejects, report))
    }
}
