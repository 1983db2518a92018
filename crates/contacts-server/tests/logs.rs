//! No personal data in the logs at any level (crates/contacts-server/src/logging.rs):
//! the real binary at `trace`, on SQLite and on PostgreSQL, serves requests full of
//! distinctive phone numbers, emails, names, metadata and message content, and its
//! whole log is searched for them.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::{bin, client};
use serde_json::json;

const ORG: &str = "11111111-2222-3333-4444-555555555555";
const KEY: &str = "logs-test-key";

/// The values that must never be logged, in the forms a log could show them.
const SECRETS: [&str; 8] = [
    "4155550177",
    "4155550178",
    "zelda.private",
    "Zelda",
    "Privatename",
    "sekrit-plan",
    "whispered-words",
    "crm-hidden-77",
];

fn run_and_search(storage: &[&str]) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--default-region", "US"])
        .args(storage)
        .env("CONTACTS_LOG", "trace")
        .env("CONTACTS_API_KEYS", format!("{KEY}={ORG}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let http = client();
    let post = |path: &str, body: serde_json::Value| {
        let resp = http
            .post(format!("{base}{path}"))
            .header("authorization", KEY)
            .json(&body)
            .send()
            .unwrap();
        let status = resp.status();
        let json: serde_json::Value = resp.json().unwrap();
        (status, json)
    };
    let (status, out) = post(
        "/v1/contacts/resolve",
        json!({
            "phone_number": "(415) 555-0177",
            "email": "zelda.private@example.com",
            "external_id": "crm-hidden-77",
            "name": "Zelda Privatename",
            "metadata": {"plan": "sekrit-plan"},
            "persona_id": "p1"
        }),
    );
    assert_eq!(status, 200, "{out}");
    let memory = out["data"]["memory"]["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &format!("/v1/memory/contact/{memory}/messages"),
        json!({"messages": [{"role": "user", "content": "whispered-words", "channel": "sms"}]}),
    );
    assert_eq!(status, 200);
    // A refused value, and a conflict, are logged no more than accepted ones.
    let (status, _) = post(
        "/v1/contacts/resolve",
        json!({"phone_number": "415-555-0178 ext. Zelda", "email": "zelda.private@example.com"}),
    );
    assert_eq!(status, 400);
    let (status, _) = post(
        "/v1/contacts/find",
        json!({"email": "zelda.private@example.com"}),
    );
    assert_eq!(status, 200);
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    let text = log.join().unwrap();
    assert!(
        text.lines().count() > 5,
        "the log at trace says something: {text}"
    );
    for secret in SECRETS {
        let hit = text.lines().find(|l| l.contains(secret));
        assert!(
            hit.is_none(),
            "{secret:?} was logged: {}",
            hit.unwrap_or("")
        );
    }
}

#[test]
fn nothing_personal_is_logged_at_trace_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    run_and_search(&["--db", db.to_str().unwrap()]);
}

#[test]
fn nothing_personal_is_logged_at_trace_on_postgres() {
    let Some(url) = common::postgres_url("nothing_personal_is_logged_at_trace_on_postgres") else {
        return;
    };
    let schema = format!("contacts_logs_test_{}", std::process::id());
    run_and_search(&["--postgres", &url, "--postgres-schema", &schema]);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .unwrap();
}
