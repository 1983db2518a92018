//! `contacts import` on a generated CSV with bad rows mixed in: every good row is
//! resolved, every bad row is in the rejects file with its line and error.

use std::io::Write;
use std::process::Command;

use contacts_core::serde_json::json;
use contacts_core::{Engine, FindRequest, ListRequest, OrgId};
use contacts_server::import::{import_file, rejects_path};
use contacts_sqlite::SqliteStore;

const ORG: &str = "11111111-2222-3333-4444-555555555555";
const GOOD: usize = 2_000;

/// Writes the CSV; returns the 1-based line numbers of the bad rows.
fn write_csv(path: &std::path::Path) -> Vec<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "phone_number,email,external_id,name,plan,city").unwrap();
    let mut bad = Vec::new();
    let mut line = 1u64;
    for i in 0..GOOD {
        line += 1;
        // Formats vary as real exports do; every row is a distinct person.
        let phone = match i % 3 {
            0 => format!("+1 (415) 55{:05}", i),
            1 => format!("+1415{:07}", 5_500_000 + i),
            _ => String::new(),
        };
        let email = if i % 3 == 2 {
            format!("Person{i}@Example.com")
        } else {
            String::new()
        };
        writeln!(f, "{phone},{email},crm-{i},\"Person {i}, Jr.\",gold,Paris").unwrap();
        if i % 250 == 0 {
            // A bad row after every 250 good ones, each bad in a different way.
            line += 1;
            bad.push(line);
            match (i / 250) % 5 {
                0 => writeln!(f, "not a phone,,,No Phone,,").unwrap(),
                1 => writeln!(f, ",,,Nobody,gold,").unwrap(),
                2 => writeln!(f, ",no-at-sign,,Bad Email,,").unwrap(),
                3 => writeln!(f, "+14155550000,,crm-x,Too,Many,Fields,Here").unwrap(),
                _ => {
                    f.write_all(b",bad\xffutf8@example.com,,Bad Bytes,,\n")
                        .unwrap();
                }
            }
        }
    }
    f.flush().unwrap();
    bad
}

#[test]
fn good_rows_are_resolved_and_bad_rows_are_kept_with_their_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let bad = write_csv(&csv);
    let org: OrgId = ORG.parse().unwrap();
    let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db")).unwrap());

    let summary = import_file(&engine, org, &csv, false).unwrap();
    assert_eq!(summary.rows, (GOOD + bad.len()) as u64);
    assert_eq!(summary.created, GOOD as u64);
    assert_eq!(summary.matched, 0);
    assert_eq!(summary.conflicts, 0);
    assert_eq!(summary.rejected, bad.len() as u64);
    assert_eq!(
        summary.rejects_file.as_deref(),
        Some(rejects_path(&csv).as_path())
    );

    // Every good row is findable, with its name and the other columns as metadata.
    for i in [0, 1, 2, 999, GOOD - 1] {
        let found = engine
            .find(
                org,
                &FindRequest::new().with_external_id(format!("crm-{i}")),
            )
            .unwrap()
            .unwrap_or_else(|| panic!("row {i} was not imported"));
        assert_eq!(
            found.contact.name.as_deref(),
            Some(format!("Person {i}, Jr.").as_str())
        );
        assert_eq!(found.contact.metadata.get("plan"), Some(json!("gold")));
        assert_eq!(found.contact.metadata.get("city"), Some(json!("Paris")));
    }
    let by_email = engine
        .find(org, &FindRequest::new().with_email("person2@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(by_email.contact.name.as_deref(), Some("Person 2, Jr."));
    let page = engine.list(org, ListRequest::new(1, 0)).unwrap();
    assert_eq!(page.pagination.total, GOOD as u64);

    // The rejects file: a header, then exactly the bad rows, by line, with the error
    // and the original fields.
    let mut rejects = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(rejects_path(&csv))
        .unwrap();
    let header: Vec<String> = rejects
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "line",
            "error",
            "phone_number",
            "email",
            "external_id",
            "name",
            "plan",
            "city"
        ]
    );
    let rows: Vec<csv::ByteRecord> = rejects.byte_records().map(Result::unwrap).collect();
    let lines: Vec<u64> = rows
        .iter()
        .map(|r| std::str::from_utf8(&r[0]).unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines, bad);
    let errors: Vec<String> = rows
        .iter()
        .map(|r| String::from_utf8_lossy(&r[1]).into_owned())
        .collect();
    assert!(errors[0].starts_with("phone_number"), "{errors:?}");
    assert!(
        errors[1].starts_with("At least one identifier"),
        "{errors:?}"
    );
    assert!(errors[2].starts_with("email"), "{errors:?}");
    assert!(errors[3].contains("7 fields"), "{errors:?}");
    assert!(errors[4].contains("UTF-8"), "{errors:?}");
    // The original bytes are kept, invalid UTF-8 included.
    assert_eq!(&rows[4][3], b"bad\xffutf8@example.com");

    // Importing again matches everyone and creates no one: resolve is idempotent.
    let again = import_file(&engine, org, &csv, false).unwrap();
    assert_eq!(
        (again.created, again.matched, again.rejected),
        (0, GOOD as u64, bad.len() as u64)
    );
}

#[test]
fn a_header_without_identifier_columns_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("names.csv");
    std::fs::write(&csv, "name,plan\nAnn,gold\n").unwrap();
    let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db")).unwrap());
    let err = import_file(&engine, ORG.parse().unwrap(), &csv, false).unwrap_err();
    assert!(
        err.to_string().contains("phone_number, email, external_id"),
        "{err}"
    );
    std::fs::write(&csv, "email,Email\na@b.example,c@d.example\n").unwrap();
    let err = import_file(&engine, ORG.parse().unwrap(), &csv, false).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[test]
fn the_import_command_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let bad = write_csv(&csv);
    let out = Command::new(env!("CARGO_BIN_EXE_contacts"))
        .args(["import", "--org", ORG, "--db"])
        .arg(dir.path().join("contacts.db"))
        .arg(&csv)
        .env_remove("CONTACTS_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["created"], GOOD);
    assert_eq!(summary["rejected"], bad.len());
    assert!(rejects_path(&csv).exists());
}

/// `contacts export` (docs/semantics.md 5, "Export"): JSON lines carry each contact as
/// the list shows it; the CSV imports back into another org with the same people.
#[test]
fn export_writes_jsonl_and_a_csv_that_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let csv = dir.path().join("people.csv");
    write_csv(&csv);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_contacts"))
            .args(args)
            .arg("--db")
            .arg(&db)
            .env_remove("CONTACTS_DB")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["import", "--org", ORG, csv.to_str().unwrap()]);
    let lines = run(&["export", "--org", ORG]);
    let exported: Vec<serde_json::Value> = lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(exported.len(), GOOD);
    let listed: serde_json::Value =
        serde_json::from_slice(&run(&["list", "--org", ORG, "--limit", "200"])).unwrap();
    assert_eq!(
        serde_json::Value::Array(exported[..200].to_vec()),
        listed["data"],
        "each line is the contact as the list shows it"
    );

    let out_csv = dir.path().join("export.csv");
    run(&[
        "export",
        "--org",
        ORG,
        "--format",
        "csv",
        "--output",
        out_csv.to_str().unwrap(),
    ]);
    let mut reader = csv::Reader::from_path(&out_csv).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "name",
            "phone_number",
            "email",
            "external_id",
            "created_at",
            "updated_at",
            "metadata",
            "identifiers",
            "memories"
        ]
    );
    assert_eq!(reader.records().count(), GOOD);
    // Into another org: the same people, found by the same identifiers.
    const OTHER: &str = "99999999-2222-3333-4444-555555555555";
    let summary: serde_json::Value =
        serde_json::from_slice(&run(&["import", "--org", OTHER, out_csv.to_str().unwrap()]))
            .unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["rejected"].as_u64()),
        (Some(GOOD as u64), Some(0))
    );
    let again = run(&["export", "--org", OTHER]);
    let names = |bytes: &[u8]| -> Vec<serde_json::Value> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                let idents: Vec<_> = v["identifiers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["identifier_value"].clone())
                    .collect();
                serde_json::json!([v["name"], idents])
            })
            .collect()
    };
    assert_eq!(
        names(&again),
        names(&lines),
        "the same names and identifiers"
    );
}
