//! `contacts import` on a generated CSV with bad rows mixed in: every good row is
//! resolved, every bad row is in the rejects file with its line and error.

use std::io::Write;
use std::process::Command;

use contacts_core::serde_json::json;
use contacts_core::{Engine, FindRequest, ListRequest, OrgId};
use contacts_server::import::{self, import_file, rejects_path};
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
        writeln!(f, "{phone},{email},crm-{i},\"Person {i}, Jr.\",gold,Zürich").unwrap();
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
        assert_eq!(found.contact.metadata.get("city"), Some(json!("Zürich")));
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
            "status",
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
        .map(|r| String::from_utf8_lossy(&r[2]).into_owned())
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
    assert_eq!(&rows[4][4], b"bad\xffutf8@example.com");
    assert!(rows.iter().all(|r| &r[1] == b"rejected"));

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
    assert!(err.to_string().contains("no identifier column"), "{err}");
    assert!(err.to_string().contains("found name, plan"), "{err}");
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
        .args(["import", "--create", "--org", ORG, "--db"])
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
    run(&["import", "--create", "--org", ORG, csv.to_str().unwrap()]);
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
    let summary: serde_json::Value = serde_json::from_slice(&run(&[
        "import",
        "--create",
        "--org",
        OTHER,
        out_csv.to_str().unwrap(),
    ]))
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

/// A CRM export as spreadsheets write it: a byte-order mark, CRLF line ends,
/// semicolons, its own column names, a name cell spanning two lines, junk values, a
/// national number, an email another contact owns and a row with nothing usable.
const CRM: &[u8] = b"\xEF\xBB\xBFPhone;Mail;CRM ID;Full Name;Plan\r\n\
+14155550100;ana@example.com;crm-1;Ana;gold\r\n\
3032364488;Emma.Lefevre@Empresa.es;crm-2;Emma Lef\xC3\xA8vre;silver\r\n\
null;N/A;crm-3;\"Multi\r\nLine\";gold\r\n\
+14155550101;ana@example.com;crm-4;Bob;\r\n\
bad;0000000000;;X;\r\n\
+14155550102;cara@example.com;crm-5;Cara;gold\r\n";

fn crm_options() -> import::Options {
    import::Options {
        map: [
            "Phone=phone_number",
            "Mail=email",
            "CRM ID=external_id",
            "Full Name=name",
        ]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect(),
        ..import::Options::default()
    }
}

fn report(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// docs/semantics.md 9, "Import": a row resolves on its good fields; lines are
/// physical lines; the report says, per row, what was refused, ignored or left with
/// another contact.
#[test]
fn a_crm_export_resolves_on_its_good_fields_and_the_report_says_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm.csv");
    std::fs::write(&csv, CRM).unwrap();
    let org: OrgId = ORG.parse().unwrap();
    let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db")).unwrap());
    let options = crm_options();
    let plan = import::Plan::read(&csv, &options).unwrap();
    let summary = import::run(&engine, org, plan, &options).unwrap();
    assert_eq!(
        (summary.rows, summary.created, summary.matched),
        (6, 5, 0),
        "{summary:?}"
    );
    assert_eq!(
        (summary.partial, summary.rejected, summary.refused_fields),
        (1, 1, 2),
        "{summary:?}"
    );
    assert_eq!(
        (
            summary.ignored_values,
            summary.conflicts,
            summary.cap_refusals
        ),
        (2, 1, 0),
        "{summary:?}"
    );

    let entries = report(summary.report_file.as_deref().unwrap());
    let lines: Vec<u64> = entries
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        [3, 4, 6, 7],
        "the multi-line cell moves the later rows down"
    );

    // Line 3: the national number is refused; email and external id resolve.
    let emma = &entries[0];
    assert_eq!(emma["status"], "partial");
    assert_eq!(emma["created"], true);
    assert_eq!(emma["refused"][0]["column"], "Phone");
    assert_eq!(emma["refused"][0]["field"], "phone_number");
    assert_eq!(emma["refused"][0]["value"], "3032364488");
    assert!(
        emma["refused"][0]["error"]
            .as_str()
            .unwrap()
            .contains("country code"),
        "{emma}"
    );
    let found = engine
        .find(
            org,
            &FindRequest::new().with_email("emma.lefevre@empresa.es"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(found.contact.id.to_string(), emma["contact_id"]);
    assert_eq!(found.contact.name.as_deref(), Some("Emma Lefèvre"));
    assert_eq!(found.contact.metadata.get("Plan"), Some(json!("silver")));

    // Line 4: junk values are ignored, and said so; the quoted name keeps its break.
    let multi = &entries[1];
    assert_eq!(multi["status"], "resolved");
    let ignored: Vec<(&str, &str)> = multi["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["field"].as_str().unwrap(), i["value"].as_str().unwrap()))
        .collect();
    assert!(ignored.contains(&("phone_number", "null")), "{multi}");
    assert!(ignored.contains(&("email", "N/A")), "{multi}");
    let crm3 = engine
        .find(org, &FindRequest::new().with_external_id("crm-3"))
        .unwrap()
        .unwrap();
    assert_eq!(crm3.contact.name.as_deref(), Some("Multi\r\nLine"));

    // Line 6: a new person (crm-4) whose email is Ana's: it stays with Ana, and the
    // report names her contact.
    let ana = engine
        .find(org, &FindRequest::new().with_external_id("crm-1"))
        .unwrap()
        .unwrap();
    let bob = &entries[2];
    assert_eq!(bob["conflicts"][0]["identifier_value"], "ana@example.com");
    assert_eq!(bob["conflicts"][0]["reason"], "owned_by_other_contact");
    assert_eq!(
        bob["conflicts"][0]["owner_contact_id"],
        ana.contact.id.to_string()
    );

    // Line 7: nothing usable; rejected with every reason.
    let x = &entries[3];
    assert_eq!(x["status"], "rejected");
    assert_eq!(x["contact_id"], serde_json::Value::Null);
    assert_eq!(x["refused"][0]["value"], "bad");
    assert!(
        x["error"].as_str().unwrap().contains("ignored as junk"),
        "{x}"
    );

    // The rejects file holds the partial and the rejected row, as read.
    let mut rejects = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(summary.rejects_file.as_deref().unwrap())
        .unwrap();
    let rows: Vec<csv::StringRecord> = rejects.records().map(Result::unwrap).collect();
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (&r[0], &r[1], &r[3])).collect();
    assert_eq!(
        got,
        [("3", "partial", "3032364488"), ("7", "rejected", "bad")]
    );
    assert_eq!(
        engine
            .list(org, ListRequest::new(1, 0))
            .unwrap()
            .pagination
            .total,
        5
    );
}

#[test]
fn strict_rows_reject_a_row_with_any_refused_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm.csv");
    std::fs::write(&csv, CRM).unwrap();
    let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db")).unwrap());
    let options = import::Options {
        strict_rows: true,
        ..crm_options()
    };
    let plan = import::Plan::read(&csv, &options).unwrap();
    let summary = import::run(&engine, ORG.parse().unwrap(), plan, &options).unwrap();
    assert_eq!(
        (summary.created, summary.partial, summary.rejected),
        (4, 0, 2)
    );
    let entries = report(summary.report_file.as_deref().unwrap());
    assert_eq!(entries[0]["line"], 3);
    assert_eq!(entries[0]["status"], "rejected");
    assert!(
        engine
            .find(
                ORG.parse().unwrap(),
                &FindRequest::new().with_external_id("crm-2")
            )
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm.csv");
    std::fs::write(&csv, CRM).unwrap();
    let org: OrgId = ORG.parse().unwrap();
    let engine = Engine::new(SqliteStore::open(dir.path().join("contacts.db")).unwrap());
    // One person is already there: the dry run finds them.
    engine
        .resolve(
            org,
            &contacts_core::ResolveRequest::new().with_external_id("crm-5"),
        )
        .unwrap();
    let options = import::Options {
        dry_run: true,
        ..crm_options()
    };
    let plan = import::Plan::read(&csv, &options).unwrap();
    let summary = import::run(&engine, org, plan, &options).unwrap();
    assert!(summary.dry_run);
    // Rows 2, 3, 4 would create; 6 shares Ana's email (a row before it would create
    // her) and 8 is the existing contact: both match.
    assert_eq!(
        (
            summary.created,
            summary.matched,
            summary.partial,
            summary.rejected
        ),
        (3, 2, 1, 1),
        "{summary:?}"
    );
    assert_eq!(summary.ignored_values, 2);
    let lines: Vec<u64> = report(summary.report_file.as_deref().unwrap())
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 7]);
    assert_eq!(
        engine
            .list(org, ListRequest::new(1, 0))
            .unwrap()
            .pagination
            .total,
        1,
        "nothing was written"
    );
}

fn contacts(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_contacts"))
        .args(args)
        .arg("--db")
        .arg(dir.join("contacts.db"))
        .env_remove("CONTACTS_DB")
        .env("CONTACTS_LOG", "warn")
        .output()
        .unwrap()
}

/// Problems with the file itself stop the import before the database is opened:
/// another encoding, unmapped identifier-like columns, a delimiter that is not a
/// comma; each message says what to do. A tab-separated file with a BOM and a
/// semicolon file with `--map` import.
#[test]
fn file_problems_are_explained_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let latin1 = path.join("latin1.csv");
    std::fs::write(&latin1, b"email,name\nrene@example.com,Ren\xe9\n").unwrap();
    let out = contacts(
        path,
        &["import", "--create", "--org", ORG, latin1.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not UTF-8") && err.contains("iconv"), "{err}");
    assert!(!path.join("contacts.db").exists(), "nothing was created");

    let loose = path.join("loose.csv");
    std::fs::write(&loose, "phone,email,name\n+14155550100,a@example.com,A\n").unwrap();
    let out = contacts(
        path,
        &["import", "--create", "--org", ORG, loose.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--map phone=phone_number"), "{err}");

    let semi = path.join("semi.csv");
    std::fs::write(&semi, "phone_number;email\n+14155550100;a@example.com\n").unwrap();
    let out = contacts(
        path,
        &[
            "import",
            "--create",
            "--org",
            ORG,
            "--delimiter",
            ",",
            semi.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--delimiter"), "{err}");
    let out = contacts(
        path,
        &["import", "--create", "--org", ORG, semi.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tsv = path.join("bom.tsv");
    std::fs::write(&tsv, b"\xEF\xBB\xBFemail\tname\r\nbom@example.com\tBom\r\n").unwrap();
    let out = contacts(
        path,
        &[
            "import",
            "--org",
            ORG,
            "--map",
            "name=name",
            tsv.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["rows"].as_u64(), summary["created"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        summary["report_file"],
        serde_json::Value::Null,
        "a clean import"
    );

    let out = contacts(
        path,
        &[
            "import",
            "--org",
            ORG,
            "--map",
            "mail=fax",
            tsv.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "a bad --map is a usage error");
}

/// An import's report and an export never overwrite the database or the input; a dry
/// run's report sits beside a real import's; a report path that cannot be written stops
/// the import before its first row.
#[test]
fn outputs_never_overwrite_the_database_or_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let db = path.join("contacts.db");
    let csv = path.join("people.csv");
    std::fs::write(&csv, "email,name\na@example.com,A\nnull,B\n").unwrap();
    let out = contacts(
        path,
        &["import", "--create", "--org", ORG, csv.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real_report = std::fs::read(import::report_path(&csv)).unwrap();
    let db_bytes = std::fs::metadata(&db).unwrap().len();

    for target in [db.clone(), csv.clone(), path.join("contacts.db-wal")] {
        let t = target.to_str().unwrap();
        let out = contacts(
            path,
            &["import", "--org", ORG, "--report", t, csv.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(2), "--report {t}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("choose another output file"));
        if target != csv {
            let out = contacts(path, &["export", "--org", ORG, "--force", "--output", t]);
            assert_eq!(out.status.code(), Some(2), "--output {t}");
        }
    }
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        db_bytes,
        "the database is intact"
    );
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("email,name")
    );

    // A dry run writes its own report, beside the real one.
    let out = contacts(
        path,
        &["import", "--dry-run", "--org", ORG, csv.to_str().unwrap()],
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["report_file"]
            .as_str()
            .unwrap()
            .ends_with("people.dry-run.report.jsonl"),
        "{summary}"
    );
    assert_eq!(
        std::fs::read(import::report_path(&csv)).unwrap(),
        real_report
    );

    // An unwritable report stops the import before any row.
    let csv2 = path.join("more.csv");
    std::fs::write(&csv2, "email\nnew@example.com\n").unwrap();
    let out = contacts(
        path,
        &[
            "import",
            "--org",
            ORG,
            "--report",
            "/nonexistent/dir/r.jsonl",
            csv2.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let found = contacts(path, &["find", "--org", ORG, "--email", "new@example.com"]);
    assert_eq!(found.status.code(), Some(1), "nothing was imported");

    // Export: a new file, or --force; written whole or not at all.
    let out_file = path.join("export.jsonl");
    std::fs::write(&out_file, "keep me").unwrap();
    let out = contacts(
        path,
        &[
            "export",
            "--org",
            ORG,
            "--output",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "keep me");
    let out = contacts(
        path,
        &[
            "export",
            "--org",
            ORG,
            "--force",
            "--output",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .contains("a@example.com")
    );
    assert!(!path.join("export.jsonl.partial").exists());

    // Writes to an org with no key and no contacts are a typo until --create says not.
    const TYPO: &str = "11111111-2222-3333-4444-55555555555f";
    let out = contacts(path, &["import", "--org", TYPO, csv2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check --org"));
    let out = contacts(
        path,
        &["resolve", "--org", TYPO, "--email", "x@example.com"],
    );
    assert_eq!(out.status.code(), Some(1));
    let envelope: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envelope["errors"][0]["error"], "NOT_FOUND");
    let out = contacts(
        path,
        &[
            "resolve",
            "--create",
            "--org",
            TYPO,
            "--email",
            "x@example.com",
        ],
    );
    assert!(out.status.success());
}
