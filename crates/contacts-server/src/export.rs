//! `contacts export` and `GET /v1/contacts/export`: every contact of an org as JSON
//! lines (one list-shaped contact per line, lossless) or CSV (for spreadsheets), walked
//! by cursor in constant memory (`Engine::export`).

use std::io::Write;

use contacts_core::{BoxError, ContactWithRelations, Engine, IdentifierKind, OrgId, Store};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line, each exactly as `GET /v1/contacts` shows a contact.
    Jsonl,
    /// One row per contact: its id and name, its primary phone, email and external id
    /// (so the file imports back with `contacts import`), its timestamps, and its
    /// metadata, identifiers and memories as JSON.
    Csv,
}

/// The CSV header.
const CSV_HEADER: [&str; 10] = [
    "id",
    "name",
    "phone_number",
    "email",
    "external_id",
    "created_at",
    "updated_at",
    "metadata",
    "identifiers",
    "memories",
];

/// Appends one contact as a JSON line to `out`.
///
/// # Errors
/// When the contact cannot be serialised (it always can: it came from the engine).
pub fn json_line(contact: &ContactWithRelations, out: &mut Vec<u8>) -> Result<(), BoxError> {
    serde_json::to_writer(&mut *out, contact)?;
    out.push(b'\n');
    Ok(())
}

/// The value a CSV column shows for `kind`: the primary identifier of that kind, which
/// the list's order puts first of its kind (primary first, then oldest).
fn primary(contact: &ContactWithRelations, kind: IdentifierKind) -> &str {
    contact
        .identifiers
        .iter()
        .find(|i| i.identifier_type == kind)
        .map_or("", |i| i.identifier_value.as_str())
}

/// Writes every contact of `org` to `out` in `format`; returns how many.
///
/// # Errors
/// When the store fails (what was written so far is a prefix of the export) or `out`
/// cannot be written.
pub fn write_export<S: Store>(
    engine: &Engine<S>,
    org: OrgId,
    format: Format,
    out: impl Write,
) -> Result<u64, BoxError> {
    let mut written = 0u64;
    match format {
        Format::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            let mut line = Vec::new();
            for contact in engine.export(org) {
                line.clear();
                json_line(&contact?, &mut line)?;
                out.write_all(&line)?;
                written += 1;
            }
            out.flush()?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER)?;
            for contact in engine.export(org) {
                let c = contact?;
                let memories = serde_json::to_string(&c.memories)?;
                let identifiers = serde_json::to_string(&c.identifiers)?;
                w.write_record([
                    c.contact.id.to_string().as_str(),
                    c.contact.name.as_deref().unwrap_or(""),
                    primary(&c, IdentifierKind::PhoneNumber),
                    primary(&c, IdentifierKind::Email),
                    primary(&c, IdentifierKind::ExternalId),
                    c.contact.created_at.to_string().as_str(),
                    c.contact.updated_at.to_string().as_str(),
                    c.contact.metadata.as_json(),
                    identifiers.as_str(),
                    memories.as_str(),
                ])?;
                written += 1;
            }
            w.flush()?;
        }
    }
    Ok(written)
}
