//! Every CLI command end to end, on the spawned binary and temporary databases:
//! exactly the server's JSON (docs/architecture.md, "CLI"), exit statuses 0, 1 and 2,
//! no database created by accident, one file left behind, backups while a server
//! writes, quiet broken pipes, completions.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{Server, bin, client};
use serde_json::{Value, json};

const ORG: &str = "11111111-2222-3333-4444-555555555555";
const KEY: &str = "cli-test-key";

/// Runs `contacts ARGS --org ORG --db DB`.
fn on(db: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .args(["--org", ORG, "--db"])
        .arg(db)
        .output()
        .unwrap()
}

/// The JSON a command printed, re-encoded compactly in the order printed.
fn compact(stdout: &[u8]) -> String {
    let mut out = Vec::new();
    let mut from = serde_json::Deserializer::from_slice(stdout);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::new(&mut out))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(stdout)));
    String::from_utf8(out).unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[track_caller]
fn ok(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(out)
}

/// The server's body for a GET, byte for byte.
fn server_get(server: &Server, path: &str) -> String {
    client()
        .get(server.url(path))
        .header("authorization", KEY)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// The read commands print exactly what the server sends for the same request (the
/// same bytes once indentation is removed: fields in the seed pages' order); the
/// write commands do what the endpoint does, as the server then shows.
#[test]
fn every_command_prints_the_servers_json_and_does_what_its_endpoint_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let server = Server::start(&db, Some(&format!("{KEY}={ORG}")));

    let created = ok(&on(
        &db,
        &[
            "resolve",
            "--create",
            "--phone",
            "+1 415 555 0192",
            "--name",
            "Sarah Chen",
            "--metadata",
            r#"{"source": "cli", "tier": 2}"#,
            "--persona",
            "persona-1",
        ],
    ));
    assert_eq!(created["data"]["created"], true);
    let id = created["data"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let memory = created["data"]["memory"]["id"].as_str().unwrap().to_owned();
    let hit = on(&db, &["resolve", "--phone", "+14155550192"]);
    assert_eq!(json_of(&hit)["data"]["created"], false);

    // Reads: byte for byte.
    let get = on(&db, &["get", &id]);
    assert_eq!(
        compact(&get.stdout),
        server_get(&server, &format!("/v1/contacts/{id}"))
    );
    let list = on(&db, &["list", "--limit", "5"]);
    assert_eq!(
        compact(&list.stdout),
        server_get(&server, "/v1/contacts?limit=5")
    );
    let mem = on(&db, &["memory", "get", &memory]);
    assert_eq!(
        compact(&mem.stdout),
        server_get(&server, &format!("/v1/memory/contact/{memory}"))
    );
    let context = on(
        &db,
        &[
            "memory",
            "context",
            "--contact",
            &id,
            "--persona",
            "persona-1",
        ],
    );
    assert_eq!(
        compact(&context.stdout),
        server_get(
            &server,
            &format!("/v1/memory/context?contact_id={id}&persona_id=persona-1")
        )
    );
    let found = on(&db, &["find", "--phone", "+1 (415) 555-0192"]);
    assert_eq!(json_of(&found)["data"]["id"], id.as_str());
    let by_server = client()
        .post(server.url("/v1/contacts/find"))
        .header("authorization", KEY)
        .json(&json!({"phone_number": "+1 (415) 555-0192"}))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(compact(&found.stdout), by_server);

    // Writes: each takes effect, as the server then shows.
    ok(&on(
        &db,
        &[
            "update",
            &id,
            "--name",
            "Sarah C.",
            "--email",
            "sarah@example.com",
            "--metadata",
            r#"{"tier": null}"#,
        ],
    ));
    let after: Value =
        serde_json::from_str(&server_get(&server, &format!("/v1/contacts/{id}"))).unwrap();
    assert_eq!(after["data"]["name"], "Sarah C.");
    assert_eq!(after["data"]["metadata"], json!({"source": "cli"}));
    let email_id = after["data"]["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["identifier_type"] == "email")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let appended = ok(&on(
        &db,
        &[
            "memory",
            "append",
            &memory,
            "--role",
            "user",
            "--content",
            "Has my order shipped?",
            "--channel",
            "sms",
        ],
    ));
    let revision = appended["data"]["revision"].as_u64().unwrap();
    ok(&on(
        &db,
        &[
            "memory",
            "summary",
            &memory,
            "--text",
            "Asked about an order.",
            "--expected-revision",
            &revision.to_string(),
        ],
    ));
    ok(&on(
        &db,
        &[
            "memory",
            "facts",
            &memory,
            "--facts",
            r#"{"timezone": "America/Los_Angeles"}"#,
            "--call-id",
            "call-1",
        ],
    ));
    // The call's changes, as GET /v1/memory/changes answers them.
    let changes = ok(&on(&db, &["memory", "changes", "--call-id", "call-1"]));
    assert_eq!(
        changes["data"]["changes"]["facts"],
        serde_json::json!({"timezone": "America/Los_Angeles"})
    );
    assert_eq!(
        compact(&on(&db, &["memory", "changes", "--call-id", "call-1"]).stdout),
        server_get(&server, "/v1/memory/changes?call_id=call-1")
    );
    let record: Value = serde_json::from_str(&server_get(
        &server,
        &format!("/v1/memory/contact/{memory}"),
    ))
    .unwrap();
    assert_eq!(record["data"]["summary"], "Asked about an order.");
    assert_eq!(record["data"]["facts"]["timezone"], "America/Los_Angeles");
    assert_eq!(
        record["data"]["recent_messages"][0]["content"],
        "Has my order shipped?"
    );
    // A stale revision is the endpoint's conflict: the envelope, exit status 1.
    let stale = on(
        &db,
        &[
            "memory",
            "summary",
            &memory,
            "--text",
            "x",
            "--expected-revision",
            "1",
        ],
    );
    assert_eq!(stale.status.code(), Some(1));
    assert_eq!(json_of(&stale)["errors"][0]["error"], "CONFLICT");

    let created = ok(&on(
        &db,
        &[
            "memory",
            "create",
            "--contact",
            &id,
            "--agent-number",
            "+14155550000",
        ],
    ));
    assert_eq!(created["data"]["created"], true);
    let reset = ok(&on(
        &db,
        &[
            "memory",
            "reset",
            "--contact",
            &id,
            "--agent-number",
            "+14155550000",
        ],
    ));
    assert_eq!(reset["data"]["deleted"], true);

    let version = "4f9d2c1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f";
    let off = ok(&on(
        &db,
        &[
            "memory",
            "enable",
            "off",
            "--persona",
            "night-bot",
            "--version-id",
            version,
        ],
    ));
    assert_eq!(
        off["data"]["message"],
        "Memory disabled successfully for persona."
    );
    let quiet = ok(&on(
        &db,
        &[
            "resolve",
            "--email",
            "sarah@example.com",
            "--persona",
            "night-bot",
        ],
    ));
    assert_eq!(quiet["data"]["memory"], Value::Null, "{quiet}");
    let refused = on(
        &db,
        &[
            "memory",
            "create",
            "--contact",
            &id,
            "--persona",
            "night-bot",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json_of(&refused)["errors"][0]["error"], "CONFLICT");
    let pathway = ok(&on(
        &db,
        &[
            "memory",
            "enable",
            "on",
            "--pathway",
            "intake",
            "--version-number",
            "4",
        ],
    ));
    assert_eq!(
        pathway["data"]["message"],
        "Memory enabled successfully for pathway."
    );

    ok(&on(&db, &["detach", &id, &email_id]));
    let detached = on(&db, &["find", "--email", "sarah@example.com"]);
    assert_eq!(detached.status.code(), Some(1), "no match is a failure");
    assert_eq!(json_of(&detached), json!({"data": null, "errors": null}));

    let dup = ok(&on(&db, &["resolve", "--email", "sarah@example.com"]));
    let dup_id = dup["data"]["contact"]["id"].as_str().unwrap().to_owned();
    let merged = ok(&on(
        &db,
        &["merge", "--primary", &id, "--duplicate", &dup_id],
    ));
    assert_eq!(merged["data"]["id"], id.as_str());
    let gone = on(&db, &["get", &dup_id]);
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(json_of(&gone)["errors"][0]["error"], "NOT_FOUND");

    let history = ok(&on(&db, &["history", &id, "--limit", "2"]));
    assert_eq!(
        history["data"]["entries"][0]["type"], "created",
        "{history}"
    );
    assert_eq!(history["data"]["next_after"], 2, "{history}");
    let rest = ok(&on(&db, &["history", &id, "--after", "2"]));
    assert_eq!(rest["data"]["entries"][0]["version"], 3, "{rest}");

    let deleted = ok(&on(&db, &["delete", &id]));
    assert_eq!(deleted["data"], json!({"id": id, "success": true}));
    let (status, _) = common::send(
        client()
            .get(server.url(&format!("/v1/contacts/{id}")))
            .header("authorization", KEY),
    );
    assert_eq!(status, 404);
    assert!(server.terminate().success());
    assert!(
        !dir.path().join("contacts.db-wal").exists(),
        "one file after the server stops"
    );
}

#[test]
fn failures_exit_1_with_the_envelope_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    ok(&bin()
        .args([
            "resolve",
            "--create",
            "--org",
            ORG,
            "--email",
            "a@example.com",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap());

    let missing = on(&db, &["get", "0193a5e4-7b1c-7d2e-9f00-3a4b5c6d7e8f"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        compact(&missing.stdout),
        r#"{"data":null,"errors":[{"error":"NOT_FOUND","message":"Contact not found"}]}"#
    );
    let junk = on(
        &db,
        &["resolve", "--email", "null", "--phone", "0000000000"],
    );
    assert_eq!(junk.status.code(), Some(1));
    let message = json_of(&junk)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("ignored as junk") && message.contains("\"null\""),
        "{message}"
    );

    // An org with no contacts and no key: most likely a typo, and said so.
    let other = bin()
        .args([
            "list",
            "--org",
            "99999999-2222-3333-4444-555555555555",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(
        json_of(&other)["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("check --org")
    );

    // Usage errors: 2, saying what was expected, with an example.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["list", "--org", "123"], "expected a UUID such as"),
        (vec!["get", "nope", "--org", ORG], "not a contact id"),
        (vec!["serve", "--listen", "8080"], "127.0.0.1:8080"),
        (
            vec!["resolve", "--org", ORG, "--metadata", "[1]"],
            "JSON object",
        ),
        (
            vec!["list", "--org", ORG, "--memory", "--db", "x.db"],
            "--memory",
        ),
        (
            vec![
                "resolve",
                "--org",
                ORG,
                "--email",
                "a@example.com",
                "--memory",
            ],
            "keeps nothing",
        ),
        (
            vec!["memory", "context", "--org", ORG, "--contact", ORG],
            "--persona",
        ),
        (vec!["list", "--org", ORG, "--limit", "abc"], "such as 50"),
        (
            vec!["list", "--org", ORG, "--default-region", "XX"],
            "default_region",
        ),
        (
            vec!["list", "--org", ORG, "--message-window", "0"],
            "--message-window",
        ),
        (vec!["memory", "enable", "off", "--org", ORG], "--persona"),
        (
            vec!["memory", "enable", "off", "--org", ORG, "--persona", "p"],
            "--version-id",
        ),
        (
            vec![
                "memory",
                "enable",
                "maybe",
                "--org",
                ORG,
                "--pathway",
                "w",
                "--version-number",
                "1",
            ],
            "maybe",
        ),
    ];
    for (args, expected) in cases {
        let out = bin().args(&args).current_dir(dir.path()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // `--db x` conflicts with `--memory`, but `CONTACTS_DB` in the environment does
    // not: the flag decides. Both variables set and no flag is a usage error.
    let both = bin()
        .args(["list", "--org", ORG])
        .env("CONTACTS_DB", &db)
        .env("CONTACTS_POSTGRES_URL", "postgres://nobody@127.0.0.1:1/x")
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(
        err.contains("CONTACTS_DB") && err.contains("CONTACTS_POSTGRES_URL"),
        "{err}"
    );
    let from_env = bin()
        .args(["list", "--org", ORG])
        .env("CONTACTS_DB", &db)
        .output()
        .unwrap();
    assert_eq!(json_of(&ok_out(from_env))["pagination"]["total"], 1);
    // With CONTACTS_DB set, `--memory` is obeyed, not a conflict: a one-shot command
    // refuses it for what it is, and `serve` runs on it.
    let memory = bin()
        .args([
            "resolve",
            "--org",
            ORG,
            "--email",
            "b@example.com",
            "--memory",
        ])
        .env("CONTACTS_DB", &db)
        .output()
        .unwrap();
    assert_eq!(memory.status.code(), Some(2));
    let err = String::from_utf8_lossy(&memory.stderr);
    assert!(
        err.contains("keeps nothing") && !err.contains("cannot be used"),
        "{err}"
    );
    let mut serve = bin()
        .args(["serve", "--memory", "--listen", "127.0.0.1:0"])
        .env("CONTACTS_DB", dir.path().join("unused.db"))
        .env("CONTACTS_API_KEYS", format!("{KEY}={ORG}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(line.starts_with("listening on"), "{line}");
    assert!(!dir.path().join("unused.db").exists(), "--memory won");
}

fn ok_out(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// docs/architecture.md, "CLI": only `serve` and `--create` make databases.
#[test]
fn no_database_is_created_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    for args in [
        vec!["list", "--org", ORG],
        vec!["resolve", "--org", ORG, "--email", "a@example.com"],
        vec!["keys", "list"],
        vec!["export", "--org", ORG],
    ] {
        let out = bin().args(&args).arg("--db").arg(&typo).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("does not exist") && err.contains("--create"),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created the file");
    }
    // `keys create` in another directory does not make a ./contacts.db.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["keys", "create", "--org", "new"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("key:"),
        "no key printed"
    );
    assert!(!elsewhere.path().join("contacts.db").exists());
    let made = bin()
        .args(["keys", "create", "--org", "new", "--create"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(made.status.success());
    assert!(elsewhere.path().join("contacts.db").exists());

    // `serve` says which database it opened, and checks its address before making a
    // database or a key.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let fresh = dir.path().join("fresh.db");
    let out = bin()
        .args(["serve", "--listen", &addr, "--db"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("key:"));
    assert!(!fresh.exists());
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&fresh)
        .env("CONTACTS_LOG", "info")
        .env("CONTACTS_API_KEYS", format!("{KEY}={ORG}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let canonical = std::fs::canonicalize(dir.path()).unwrap().join("fresh.db");
    while !seen.contains("opened the database") {
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "serve exited: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains(&canonical.display().to_string()), "{seen}");
}

#[test]
fn a_backup_is_taken_while_the_server_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let server = Server::start(&db, Some(&format!("{KEY}={ORG}")));
    let base = server.url("/v1/contacts/resolve");
    let writer = std::thread::spawn(move || {
        let c = client();
        for i in 0..300 {
            let resp = c
                .post(&base)
                .header("authorization", KEY)
                .json(&json!({"phone_number": format!("+1415555{i:04}")}))
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    });
    while !writer.is_finished() {
        let (_, page) = common::send(
            client()
                .get(server.url("/v1/contacts?limit=1"))
                .header("authorization", KEY),
        );
        if page["pagination"]["total"].as_u64().unwrap_or(0) >= 50 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let copy = dir.path().join("copy.db");
    let out = bin()
        .args(["backup", "--out"])
        .arg(&copy)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    writer.join().unwrap();
    assert!(server.terminate().success());
    let listed = ok(&on(&copy, &["list", "--limit", "1"]));
    let total = listed["pagination"]["total"].as_u64().unwrap();
    assert!((50..=300).contains(&total), "{total}");
    assert!(!dir.path().join("copy.db-wal").exists());
    // A second backup to the same file is refused; PostgreSQL is pointed to pg_dump.
    let again = bin()
        .args(["backup", "--out"])
        .arg(&copy)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let pg = bin()
        .args([
            "backup",
            "--out",
            "x.db",
            "--postgres",
            "postgres://u@127.0.0.1/db",
        ])
        .output()
        .unwrap();
    assert_eq!(pg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
}

#[test]
fn a_closed_pipe_ends_quietly_and_completions_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let csv = dir.path().join("people.csv");
    let rows: String = (0..300)
        .map(|i| format!("+1415555{i:04},Person {i}\n"))
        .collect();
    std::fs::write(&csv, format!("phone_number,name\n{rows}")).unwrap();
    ok_out(
        bin()
            .args(["import", "--create", "--org", ORG, "--db"])
            .arg(&db)
            .arg(&csv)
            .output()
            .unwrap(),
    );
    // A page of 200 is more than a pipe holds: the write fails once the reader is gone.
    let mut child = bin()
        .args(["list", "--org", ORG, "--limit", "200", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "nothing said");
    let mut child = bin()
        .args(["export", "--org", ORG, "--format", "csv", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("error"),
        "a CSV export ends quietly too"
    );

    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef"),
        ("fish", "complete -c contacts"),
    ] {
        let out = ok_out(bin().args(["completions", shell]).output().unwrap());
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        assert!(
            script.contains("memory") && script.contains("backup"),
            "{shell}"
        );
    }
    assert!(
        !dir.path().join("contacts.db-wal").exists(),
        "the CLI leaves one file"
    );
}
