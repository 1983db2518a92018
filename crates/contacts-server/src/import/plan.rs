//! What an import learns from the file before it reads a row: the encoding (UTF-8,
//! with or without a byte-order mark), the delimiter, and which column feeds which
//! field. Every problem here stops the import before the database is touched.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use contacts_core::BoxError;

use super::Options;

/// What a column feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `phone_number`.
    Phone,
    /// `email`.
    Email,
    /// `external_id`.
    ExternalId,
    /// `name`.
    Name,
    /// A metadata key named after the column.
    Metadata,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Phone => "phone_number",
            Field::Email => "email",
            Field::ExternalId => "external_id",
            Field::Name => "name",
            Field::Metadata => "metadata",
        }
    }

    fn is_identifier(self) -> bool {
        matches!(self, Field::Phone | Field::Email | Field::ExternalId)
    }

    /// `Phone Number`, `phone-number`, `PhoneNumber`, `E-mail`, `External ID`: the
    /// field names, however a spreadsheet spells them.
    fn from_header(header: &str) -> Option<Field> {
        match squash(header).as_str() {
            "phonenumber" => Some(Field::Phone),
            "email" => Some(Field::Email),
            "externalid" => Some(Field::ExternalId),
            "name" => Some(Field::Name),
            _ => None,
        }
    }
}

/// Lower case without spaces, `_`, `-` and `.`.
fn squash(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Headers that probably hold identifiers under another name: such a column is
/// never put into metadata silently (the import asks for a `--map`).
fn looks_like(header: &str) -> Option<Field> {
    const PHONE: [&str; 14] = [
        "phone",
        "phones",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "msisdn",
        "phoneno",
        "mobileno",
        "contactnumber",
        "number",
    ];
    const EMAIL: [&str; 4] = ["mail", "emailaddress", "mailaddress", "emails"];
    const EXTERNAL: [&str; 4] = ["extid", "externalref", "crmid", "customerid"];
    const NAME: [&str; 5] = [
        "fullname",
        "displayname",
        "contactname",
        "customername",
        "names",
    ];
    let s = squash(header);
    if PHONE.contains(&s.as_str()) {
        Some(Field::Phone)
    } else if EMAIL.contains(&s.as_str()) {
        Some(Field::Email)
    } else if EXTERNAL.contains(&s.as_str()) {
        Some(Field::ExternalId)
    } else if NAME.contains(&s.as_str()) {
        Some(Field::Name)
    } else {
        None
    }
}

/// `COLUMN=FIELD` of `--map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The column as the header names it (matched without regard to case).
    pub column: String,
    /// What it feeds.
    pub field: Field,
}

impl FromStr for Mapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (column, field) = s.split_once('=').ok_or_else(|| {
            format!("{s:?} is not COLUMN=FIELD (e.g. phone=phone_number,mail=email)")
        })?;
        let field = match field.trim() {
            "phone_number" => Field::Phone,
            "email" => Field::Email,
            "external_id" => Field::ExternalId,
            "name" => Field::Name,
            "metadata" => Field::Metadata,
            other => {
                return Err(format!(
                    "{other:?} is not a field: expected phone_number, email, external_id, \
                     name or metadata"
                ));
            }
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(format!("{s:?} names no column (e.g. phone=phone_number)"));
        }
        Ok(Mapping {
            column: column.to_owned(),
            field,
        })
    }
}

/// The field separator of `--delimiter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "," | "comma" => Ok(Delimiter(b',')),
            ";" | "semicolon" => Ok(Delimiter(b';')),
            "\t" | "\\t" | "tab" => Ok(Delimiter(b'\t')),
            "|" | "pipe" => Ok(Delimiter(b'|')),
            other => Err(format!(
                "{other:?} is not a delimiter: expected `,`, `;`, `tab` or `|`"
            )),
        }
    }
}

/// A file ready to import.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The file.
    pub(super) path: PathBuf,
    /// Bytes of the UTF-8 byte-order mark before the header (0 or 3).
    pub(super) bom: u64,
    /// The delimiter, given or detected.
    pub(super) delimiter: u8,
    /// The header as written.
    pub(super) headers: csv::StringRecord,
    /// What each column feeds.
    pub(super) fields: Vec<Field>,
}

/// How much of the file the encoding check reads.
const SAMPLE: usize = 256 * 1024;

impl Plan {
    /// Checks the file's encoding and header and decides what each column feeds.
    ///
    /// # Errors
    /// When the file cannot be read, is not UTF-8, has no identifier column, repeats
    /// a column, or `--map` names a column the header does not have; each message says
    /// what to do.
    pub fn read(path: &Path, options: &Options) -> Result<Plan, BoxError> {
        let shown = path.display();
        // The file is read twice (rows, and physical line numbers beside them), so it
        // must be a file, not a pipe.
        let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!(
                "{shown} is not a regular file: the import reads its file twice (the rows, \
                 and the line numbers for the report); save the data to a file first"
            )
            .into());
        }
        let mut sample = Vec::with_capacity(SAMPLE);
        std::fs::File::open(path)
            .map_err(|e| format!("{shown}: {e}"))?
            .take(SAMPLE as u64)
            .read_to_end(&mut sample)
            .map_err(|e| format!("{shown}: {e}"))?;
        let bom = check_encoding(&sample).map_err(|e| format!("{shown}: {e}"))?;
        let text = &sample[bom as usize..];
        let delimiter = match options.delimiter {
            Some(Delimiter(d)) => d,
            None => detect_delimiter(text),
        };
        let headers = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(text)
            .headers()
            .map_err(|e| format!("{shown}: reading the header: {e}"))?
            .clone();
        let fields = fields(&headers, &options.map, delimiter)?;
        Ok(Plan {
            path: path.to_owned(),
            bom,
            delimiter,
            headers,
            fields,
        })
    }
}

/// The byte-order mark's length, or why the sample is not UTF-8. A file whose text
/// is in another encoding (Windows-1252, Latin-1: what older spreadsheets write) has
/// invalid sequences and no valid multi-byte ones; a UTF-8 file with a few damaged
/// bytes is UTF-8, and only its damaged fields are refused.
fn check_encoding(sample: &[u8]) -> Result<u64, String> {
    if sample.starts_with(&[0xFF, 0xFE]) || sample.starts_with(&[0xFE, 0xFF]) {
        return Err("the file is UTF-16; save it as CSV UTF-8 (or convert it: \
                    iconv -f UTF-16 -t UTF-8 in.csv > out.csv)"
            .into());
    }
    let bom = if sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let mut rest = &sample[bom..];
    let (mut invalid, mut multibyte, mut first_bad) = (0usize, 0usize, None);
    let mut offset = bom;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                multibyte += s.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                // Valid UTF-8 before the error.
                let valid = std::str::from_utf8(&rest[..good]).unwrap_or_default();
                multibyte += valid.chars().filter(|c| !c.is_ascii()).count();
                let Some(len) = e.error_len() else {
                    break; // a character cut by the end of the sample
                };
                invalid += 1;
                first_bad.get_or_insert(offset + good);
                offset += good + len;
                rest = &rest[good + len..];
            }
        }
    }
    if invalid > 0 && multibyte == 0 {
        let at = first_bad.unwrap_or(0);
        let line = sample[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(format!(
            "the file is not UTF-8 (line {line} has a byte that UTF-8 does not allow: it \
             is probably Windows-1252 or Latin-1); save it as CSV UTF-8, or convert it: \
             iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv"
        ));
    }
    Ok(bom as u64)
}

/// The separator the header uses most, outside quotes: comma, semicolon, tab or pipe.
fn detect_delimiter(text: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in text {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    // A tie or no separator at all (a one-column file) is a comma.
    let best = (0..4)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".to_owned(),
        other => format!("`{}`", other as char),
    }
}

/// What each column feeds: `--map` first, then the field names however spelled,
/// everything else metadata; a column that looks like an identifier under another
/// name must be mapped (to its field, or to metadata) rather than be kept as
/// metadata silently.
fn fields(
    headers: &csv::StringRecord,
    map: &[Mapping],
    delimiter: u8,
) -> Result<Vec<Field>, BoxError> {
    let names: Vec<&str> = headers.iter().map(str::trim).collect();
    if names.iter().all(|n| n.is_empty()) {
        return Err(
            "the file has no header row (it is empty, or its first line is blank): \
                    the first line must name the columns, e.g. phone_number,email,name"
                .into(),
        );
    }
    let found = || names.join(", ");
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(format!("the CSV header names column {name:?} twice").into());
        }
    }
    for m in map {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&m.column)) {
            return Err(format!(
                "--map names column {:?}, which the header does not have (it has: {})",
                m.column,
                found()
            )
            .into());
        }
    }
    let mut fields = Vec::with_capacity(names.len());
    let mut unmapped = Vec::new();
    for name in &names {
        let mapped = map.iter().find(|m| m.column.eq_ignore_ascii_case(name));
        let field = match (mapped, Field::from_header(name)) {
            (Some(m), _) => m.field,
            (None, Some(f)) => f,
            (None, None) => {
                if let Some(f) = looks_like(name) {
                    unmapped.push((*name, f));
                }
                Field::Metadata
            }
        };
        let earlier = fields.iter().position(|f| *f == field);
        if let Some(j) = earlier.filter(|_| field != Field::Metadata) {
            return Err(format!(
                "columns {:?} and {name:?} both feed {}; map one elsewhere with --map",
                names[j],
                field.name()
            )
            .into());
        }
        fields.push(field);
    }
    if !unmapped.is_empty() {
        // A suggestion that works as pasted: each field fed by one column, the rest
        // kept as metadata, quoted for the shell.
        let mut taken: Vec<Field> = fields
            .iter()
            .copied()
            .filter(|f| *f != Field::Metadata)
            .collect();
        let mut maps = Vec::new();
        for (name, f) in &unmapped {
            let target = if taken.contains(f) {
                Field::Metadata
            } else {
                taken.push(*f);
                *f
            };
            maps.push(format!("{name}={}", target.name()));
        }
        let listed: Vec<String> = unmapped
            .iter()
            .map(|(n, f)| format!("{n:?} (like {})", f.name()))
            .collect();
        let maps = maps.join(",");
        let arg = if maps
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "=,_-.".contains(c))
        {
            maps
        } else {
            format!("'{}'", maps.replace('\'', "'\\''"))
        };
        return Err(format!(
            "the import reads only the columns phone_number, email, external_id and name, \
             and these look like them under other names: {}. Say what each holds, for \
             example --map {arg} (each field takes one column; COLUMN=metadata keeps a \
             column as metadata)",
            listed.join(", ")
        )
        .into());
    }
    if !fields.iter().any(|f| f.is_identifier()) {
        let hint = if names.len() == 1 && delimiter == b',' {
            " The header is one column: if the file is separated by something other \
             than commas, say so with --delimiter (`;`, `tab`, `|`)."
                .to_owned()
        } else {
            format!(
                " (read with {} as the separator)",
                delimiter_name(delimiter)
            )
        };
        return Err(format!(
            "the CSV header has no identifier column: expected phone_number, email or \
             external_id, found {}; map yours with --map COLUMN=phone_number (or email, \
             external_id).{hint}",
            found()
        )
        .into());
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(h.to_vec())
    }

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"phone_number;email;name\n1;2;3"), b';');
        assert_eq!(detect_delimiter(b"phone_number\temail\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"a;b;c\",email\n"), b',');
        assert_eq!(detect_delimiter(b"email\n"), b',');
    }

    #[test]
    fn encodings_are_told_apart() {
        assert_eq!(check_encoding(b"\xEF\xBB\xBFemail\n"), Ok(3));
        assert_eq!(check_encoding("email\nJos\u{e9}\n".as_bytes()), Ok(0));
        let latin1 = check_encoding(b"email,name\na@b.co,Jos\xe9\n").unwrap_err();
        assert!(
            latin1.contains("line 2") && latin1.contains("iconv"),
            "{latin1}"
        );
        assert!(
            check_encoding(b"\xFF\xFEe\0")
                .unwrap_err()
                .contains("UTF-16")
        );
        // UTF-8 text with one damaged byte is UTF-8; only that field is refused.
        assert_eq!(check_encoding(b"Jos\xc3\xa9\nbad\xff\n"), Ok(0));
    }

    #[test]
    fn columns_are_mapped_spelled_loosely_or_refused_with_a_hint() {
        let f = fields(&headers(&["Phone Number", "E-mail", "plan"]), &[], b',').unwrap();
        assert_eq!(f, [Field::Phone, Field::Email, Field::Metadata]);
        let e = fields(&headers(&["phone", "email", "name"]), &[], b',').unwrap_err();
        assert!(e.to_string().contains("--map phone=phone_number"), "{e}");
        let e = fields(
            &headers(&["Mobile", "mail", "Full Name", "phone"]),
            &[],
            b',',
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--map 'Mobile=phone_number,mail=email,Full Name=name,phone=metadata'"),
            "every such column at once, quoted, one column per field: {e}"
        );
        let e = fields(&headers(&["phone", "Phone Number"]), &[], b',').unwrap_err();
        assert!(e.to_string().contains("--map phone=metadata"), "{e}");
        assert!(
            fields(&headers(&[""]), &[], b',')
                .unwrap_err()
                .to_string()
                .contains("no header")
        );
        let map = [
            "phone=phone_number".parse().unwrap(),
            "mail=email".parse().unwrap(),
        ];
        let f = fields(&headers(&["phone", "mail", "name"]), &map, b',').unwrap();
        assert_eq!(f, [Field::Phone, Field::Email, Field::Name]);
        let e = fields(
            &headers(&["email"]),
            &["fone=phone_number".parse().unwrap()],
            b',',
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"fone\""), "{e}");
        let e = fields(&headers(&["phone_number;email;name"]), &[], b',').unwrap_err();
        assert!(e.to_string().contains("--delimiter"), "{e}");
        let e = fields(&headers(&["a", "b"]), &[], b',').unwrap_err();
        assert!(e.to_string().contains("found a, b"), "{e}");
        assert!("x=fax".parse::<Mapping>().is_err());
    }
}
