//! The real `contacts` binary on a free loopback port, driven with a real HTTP client:
//! the seed pages' requests, checked field by field against the seeds' examples; the
//! first-start key; key management from the CLI while the server runs; SIGTERM; memory
//! writes racing from two server processes on one database.

mod common;

use std::time::{Duration, Instant};

use common::{Server, bin, client, send};
use serde_json::{Value, json};

const ORG: &str = "11111111-2222-3333-4444-555555555555";
const KEY: &str = "e2e-test-key";

/// The list seed's example response (`GET /v1/contacts`), verbatim: the reference for
/// field names and JSON types.
const LIST_SEED: &str = r##"{"data":[{"id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","org_id":"11111111-2222-3333-4444-555555555555","name":"Sarah Chen","metadata":{"source":"inbound_call"},"created_at":"2025-07-20T10:30:00.000Z","updated_at":"2025-07-23T09:15:00.000Z","identifiers":[{"id":"ident-aaaaaaaa-1111-2222-3333-bbbbbbbbbbbb","contact_id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","identifier_type":"phone_number","identifier_value":"+14155550192","is_primary":true}],"memories":[{"id":"mem-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","contact_id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","persona_id":"persona-12345678","agent_number":null,"summary":"Customer called about order #8821 which was delayed. Follow-up SMS confirmed the order shipped and is now in transit. Expected delivery July 25.","facts":{"name":"Sarah Chen","phone":"+14155550192","preferred_contact":"sms","timezone":"America/Los_Angeles"},"recent_messages":[{"role":"user","content":"Has my order shipped yet?","channel":"sms","timestamp":"2025-07-23T09:10:00.000Z"},{"role":"assistant","content":"Yes, order #8821 shipped this morning. Expected delivery is Friday July 25.","channel":"sms","timestamp":"2025-07-23T09:10:05.000Z"}],"open_items":[{"type":"follow_up","description":"Confirm delivery of order #8821 on July 25","created_at":"2025-07-23T09:10:00.000Z","priority":"medium","related_to":{"entity_type":"order","entity_id":"order-8821"}}],"entities":[{"entity_type":"order","entity_id":"order-8821","facts":{"order_number":"#8821","status":"in_transit","carrier":"UPS","expected_delivery":"2025-07-25"},"status":"in_transit","last_discussed_at":"2025-07-23T09:10:00.000Z","notes":null}]}]}],"pagination":{"total":100,"limit":50,"offset":0,"has_more":true},"errors":null}"##;

/// The resolve seed's example response.
const RESOLVE_SEED: &str = r##"{"data":{"contact":{"id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","org_id":"11111111-2222-3333-4444-555555555555","name":"John Doe","metadata":{"source":"api"},"created_at":"2025-07-22T10:30:00.000Z","updated_at":"2025-07-22T10:30:00.000Z"},"created":true},"errors":null}"##;

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `seed` is in `got` with the same JSON type (a seed `null` allows
/// anything; free-form objects such as metadata and facts are checked as objects
/// only), recursively; arrays are compared element by element up to the seed's length.
#[track_caller]
fn assert_shape(seed: &Value, got: &Value, path: &str) {
    let free_form = ["metadata", "facts"];
    match (seed, got) {
        (Value::Null, _) => {}
        (Value::Object(s), Value::Object(g)) => {
            if free_form.iter().any(|f| path.ends_with(f)) {
                return;
            }
            for (k, sv) in s {
                let gv = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is missing from {got}"));
                assert_shape(sv, gv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(g)) => {
            assert!(
                g.len() >= s.len(),
                "{path}: {} items, the seed shows {}",
                g.len(),
                s.len()
            );
            for (i, (sv, gv)) in s.iter().zip(g).enumerate() {
                assert_shape(sv, gv, &format!("{path}[{i}]"));
            }
        }
        (s, g) => {
            assert_eq!(json_type(s), json_type(g), "{path}: seed {s}, got {g}");
            if let (Value::String(s), Value::String(g)) = (s, g)
                && s.len() == 24
                && s.ends_with(".000Z")
            {
                // A timestamp in the seed: ours has the same format.
                assert_eq!(g.len(), 24, "{path}: {g}");
                assert!(g.ends_with('Z') && g.as_bytes()[19] == b'.', "{path}: {g}");
            }
        }
    }
}

#[test]
fn the_seed_requests_work_against_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("contacts.db"),
        Some(&format!("{KEY}={ORG}")),
    );
    assert!(
        server.banner.is_empty(),
        "keys came from the environment: {:?}",
        server.banner
    );
    let http = client();

    // The resolve seed's curl: raw key in `authorization`, JSON body.
    let (status, resolved) = send(
        http.post(server.url("/v1/contacts/resolve"))
            .header("authorization", KEY)
            .header("content-type", "application/json")
            .body(
                json!({
                    "phone_number": "+14155550192",
                    "email": "sarah@example.com",
                    "external_id": "crm-8821",
                    "name": "Sarah Chen",
                    "persona_id": "persona-12345678",
                    "metadata": {"source": "inbound_call"}
                })
                .to_string(),
            ),
    );
    assert_eq!(status, 200, "{resolved}");
    assert_shape(&serde_json::from_str(RESOLVE_SEED).unwrap(), &resolved, "");
    assert_eq!(resolved["data"]["created"], true);
    assert_eq!(resolved["data"]["contact"]["org_id"], ORG);
    assert_eq!(resolved["errors"], Value::Null);
    let memory = resolved["data"]["memory"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Fill the memory the way an agent pipeline would, then list as the list seed does.
    let auth =
        |r: reqwest::blocking::RequestBuilder| r.header("authorization", format!("Bearer {KEY}"));
    let base = server.url(&format!("/v1/memory/contact/{memory}"));
    for (method, path, body) in [
        (
            "POST",
            "/messages",
            json!({"messages": [
                {"role": "user", "content": "Has my order shipped yet?", "channel": "sms", "timestamp": "2025-07-23T09:10:00.000Z"},
                {"role": "assistant", "content": "Yes, order #8821 shipped this morning.", "channel": "sms", "timestamp": "2025-07-23T09:10:05.000Z"}
            ]}),
        ),
        (
            "PATCH",
            "/summary",
            json!({"summary": "Order #8821 shipped; delivery expected July 25."}),
        ),
        (
            "PATCH",
            "/facts",
            json!({"facts": {"preferred_contact": "sms", "timezone": "America/Los_Angeles"}}),
        ),
        (
            "PUT",
            "/entities",
            json!({"entity_type": "order", "entity_id": "order-8821", "status": "in_transit",
                   "facts": {"carrier": "UPS"}, "last_discussed_at": "2025-07-23T09:10:00.000Z"}),
        ),
        (
            "POST",
            "/open_items",
            json!({"type": "follow_up", "description": "Confirm delivery of order #8821", "priority": "medium",
                   "related_to": {"entity_type": "order", "entity_id": "order-8821"}}),
        ),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, json) = send(auth(
            http.request(method, format!("{base}{path}")).json(&body),
        ));
        assert_eq!(status, 200, "{path}: {json}");
    }

    let (status, list) = send(
        http.get(server.url("/v1/contacts"))
            .header("authorization", KEY),
    );
    assert_eq!(status, 200, "{list}");
    assert_shape(&serde_json::from_str(LIST_SEED).unwrap(), &list, "");
    assert_eq!(
        list["pagination"],
        json!({"total": 1, "limit": 50, "offset": 0, "has_more": false, "next_cursor": null})
    );
    let contact = &list["data"][0];
    assert_eq!(contact["identifiers"].as_array().unwrap().len(), 3);
    let phone = contact["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["identifier_type"] == "phone_number")
        .unwrap();
    assert_eq!(phone["identifier_value"], "+14155550192");
    assert_eq!(
        contact["memories"][0]["recent_messages"][1]["role"],
        "assistant"
    );

    // Context is camelCase, as its page documents.
    let id = contact["id"].as_str().unwrap();
    let (status, context) = send(auth(http.get(server.url(&format!(
        "/v1/memory/context?contact_id={id}&persona_id=persona-12345678"
    )))));
    assert_eq!(status, 200);
    for field in [
        "recentMessages",
        "contactFacts",
        "openItems",
        "entities",
        "summary",
    ] {
        assert!(context["data"].get(field).is_some(), "{field}: {context}");
    }

    // No key: 401 in the envelope.
    let (status, denied) = send(http.get(server.url("/v1/contacts")));
    assert_eq!(status, 401);
    assert_eq!(denied["errors"][0]["error"], "AUTH_FAILURE");

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn first_start_prints_one_key_and_the_cli_manages_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let server = Server::start(&db, None);
    let key = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key printed: {:?}", server.banner))
        .to_owned();
    let org = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("org: "))
        .unwrap()
        .to_owned();
    let http = client();
    let (status, json) = send(
        http.post(server.url("/v1/contacts/resolve"))
            .header("authorization", &key)
            .json(&json!({"phone_number": "+44 20 7946 0018"})),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["contact"]["org_id"], org.as_str());

    // A second key from the CLI while the server runs; then revoke the first.
    let out = bin()
        .args(["keys", "create", "--org", &org, "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let second = stdout
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .to_owned();
    let out = bin()
        .args(["keys", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        !listed.contains(&key) && !listed.contains(&second),
        "keys list shows only prefixes"
    );
    let out = bin()
        .args(["keys", "revoke", &key[..11], "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server notices within its key cache's lifetime (one second).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = send(
            http.get(server.url("/v1/contacts"))
                .header("authorization", &key),
        );
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, list) = send(
        http.get(server.url("/v1/contacts"))
            .header("authorization", &second),
    );
    assert_eq!(status, 200);
    assert_eq!(list["pagination"]["total"], 1);
    assert!(server.terminate().success());

    // A restart creates no new key: the store is not empty (even with a revoked key).
    assert_restart_keeps(Server::start(&db, None), &second);
}

/// `server`, just restarted on existing data, printed no new key and accepts `key`.
fn assert_restart_keeps(server: Server, key: &str) {
    assert!(server.banner.is_empty(), "{:?}", server.banner);
    let (status, _) = send(
        client()
            .get(server.url("/v1/contacts"))
            .header("authorization", key),
    );
    assert_eq!(status, 200);
    assert!(server.terminate().success());
}

#[test]
fn cli_resolve_and_list_print_the_servers_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let run = |args: &[&str]| {
        let out = bin().args(args).arg("--db").arg(&db).output().unwrap();
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.success(), json)
    };
    let (ok, first) = run(&[
        "resolve",
        "--create",
        "--org",
        ORG,
        "--phone",
        "+1 415 555 0192",
        "--name",
        "Sarah Chen",
        "--persona",
        "persona-1",
    ]);
    assert!(ok, "{first}");
    assert_shape(&serde_json::from_str(RESOLVE_SEED).unwrap(), &first, "");
    assert_eq!(first["data"]["created"], true);
    assert_eq!(first["data"]["memory_created"], true);
    let (_, again) = run(&["resolve", "--org", ORG, "--phone", "+14155550192"]);
    assert_eq!(again["data"]["created"], false);
    assert_eq!(
        again["data"]["contact"]["id"],
        first["data"]["contact"]["id"]
    );

    let (ok, list) = run(&["list", "--org", ORG, "--limit", "10"]);
    assert!(ok);
    assert_eq!(
        list["pagination"],
        json!({"total": 1, "limit": 10, "offset": 0, "has_more": false, "next_cursor": null})
    );
    assert_eq!(list["errors"], Value::Null);

    // Errors print the failure envelope and exit non-zero.
    let (ok, bad) = run(&["list", "--org", ORG, "--limit", "0"]);
    assert!(!ok);
    assert_eq!(bad["errors"][0]["error"], "BAD_REQUEST");
    let (ok, bad) = run(&["resolve", "--org", ORG, "--name", "nobody"]);
    assert!(!ok);
    assert_eq!(
        bad["errors"][0]["message"],
        "At least one identifier (phone_number, email, or external_id) is required"
    );
}

/// `serve --postgres`: first-start key, the seed request, and a clean SIGTERM (the
/// pool's connections close outside the async runtime).
#[test]
fn serve_on_postgres() {
    let Some(url) = common::postgres_url("serve_on_postgres") else {
        return;
    };
    let schema = format!("contacts_e2e_test_{}", std::process::id());
    let drop_schema = |url: &str| {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
    };
    drop_schema(&url);
    let server = Server::start_with(&["--postgres", &url, "--postgres-schema", &schema], None);
    let key = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap_or_else(|| panic!("no key printed: {:?}", server.banner))
        .to_owned();
    let http = client();
    let (status, json) = send(
        http.post(server.url("/v1/contacts/resolve"))
            .header("authorization", &key)
            .json(&json!({"phone_number": "+14155550192", "name": "John Doe", "metadata": {"source": "api"}})),
    );
    assert_eq!(status, 200, "{json}");
    assert_shape(&serde_json::from_str(RESOLVE_SEED).unwrap(), &json, "");
    let (status, list) = send(
        http.get(server.url("/v1/contacts"))
            .header("authorization", &key),
    );
    assert_eq!(status, 200);
    assert_eq!(list["pagination"]["total"], 1);
    let (status, _) = send(http.get(server.url("/healthz")));
    assert_eq!(status, 200);
    let status = server.terminate();
    assert!(status.success(), "serve exited with {status}");

    // A restart on the same schema keeps the key (and creates none).
    assert_restart_keeps(
        Server::start_with(&["--postgres", &url, "--postgres-schema", &schema], None),
        &key,
    );
    drop_schema(&url);
}

/// SIGTERM while a request is half-way in: the server stops accepting, lets that
/// request finish (its response is complete and correct), then exits cleanly.
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &dir.path().join("contacts.db"),
        Some(&format!("{KEY}={ORG}")),
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"phone_number": "+14155550192", "name": "In Flight"}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/contacts/resolve HTTP/1.1\r\nhost: {addr}\r\nauthorization: {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "serve exited with a request in flight"
    );
    // New connections are no longer accepted.
    assert!(
        client().get(server.url("/healthz")).send().is_err(),
        "a new request was served after SIGTERM"
    );
    stream.write_all(rest.as_bytes()).unwrap();
    stream.flush().unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"created\":true"), "{response}");
    assert!(server.wait().success());
}

/// docs/semantics.md 2.1, "Settings": `serve --default-region US` reads national
/// numbers; a settings file and an environment variable reach the CLI and the import;
/// a bad setting stops a command before it opens or creates anything, naming the
/// setting.
#[test]
fn settings_reach_serve_the_cli_and_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let db_arg = db.to_str().unwrap();
    let server = Server::start_with(
        &["--db", db_arg, "--default-region", "US"],
        Some(&format!("{KEY}={ORG}")),
    );
    let (status, body) = send(
        client()
            .post(server.url("/v1/contacts/resolve"))
            .header("authorization", KEY)
            .json(&json!({"phone_number": "(415) 555-0192"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["attached"][0]["identifier_value"],
        "+14155550192"
    );
    assert!(server.terminate().success());

    // A settings file for the CLI, then the environment for the import: national
    // numbers in a CRM export.
    let cli = |args: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = bin();
        cmd.args(args).args(["--org", ORG, "--db", db_arg]);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json
    };
    let toml = dir.path().join("contacts.toml");
    std::fs::write(&toml, "[phone]\ndefault_region = \"GB\"\n").unwrap();
    let toml_arg = toml.to_str().unwrap();
    let got = cli(
        &["resolve", "--phone", "07911 123456", "--config", toml_arg],
        None,
    );
    assert_eq!(
        got["data"]["attached"][0]["identifier_value"],
        "+447911123456"
    );
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "phone_number,name\n(212) 555-0100,Ann\n212.555.0101,Bob\n",
    )
    .unwrap();
    cli(
        &["import", csv.to_str().unwrap()],
        Some(("CONTACTS_DEFAULT_REGION", "US")),
    );
    let got = cli(&["resolve", "--phone", "+12125550101"], None);
    assert_eq!(got["data"]["created"], false, "{got}");
    assert_eq!(got["data"]["contact"]["name"], "Bob");

    // Bad settings stop the command before anything is created.
    let fresh = dir.path().join("never.db");
    std::fs::write(&toml, "[phone]\ndefault_regoin = \"US\"\n").unwrap();
    for args in [
        vec!["serve", "--listen", "127.0.0.1:0", "--default-region", "XX"],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            toml.to_str().unwrap(),
        ],
        vec!["list", "--org", ORG, "--cap", "email=0"],
    ] {
        let out = bin().args(&args).arg("--db").arg(&fresh).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains("setting "), "{args:?}: {stderr}");
        assert!(!fresh.exists(), "{args:?} created the database");
    }
}

/// Issue 18: servers started together on a fresh PostgreSQL schema. Every DDL, the key
/// table's included, runs under the migrations' advisory lock, so three processes
/// opening each of ten fresh schemas at once all succeed.
#[test]
fn processes_starting_together_on_a_fresh_postgres_schema_all_succeed() {
    let Some(url) =
        common::postgres_url("processes_starting_together_on_a_fresh_postgres_schema_all_succeed")
    else {
        return;
    };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for round in 0..10 {
        let schema = format!("contacts_race_test_{}_{round}", std::process::id());
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .unwrap();
        let children: Vec<_> = (0..3)
            .map(|_| {
                bin()
                    .args(["keys", "list", "--create", "--postgres", &url])
                    .args(["--postgres-schema", &schema])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        admin
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .unwrap();
    }
}

/// Issue 18: memory writes that name no revision retry inside the engine, also when
/// the racing writer is another process: two servers on one database, sixteen clients
/// split between them, 960 appends to one record, and every one answers 200 and lands
/// (the record's revision counts them all).
fn memory_writes_from_two_processes(storage: &[&str]) {
    let keys = format!("{KEY}={ORG}");
    let servers = [
        Server::start_with(storage, Some(&keys)),
        Server::start_with(storage, Some(&keys)),
    ];
    let http = client();
    let (status, resolved) = send(
        http.post(servers[0].url("/v1/contacts/resolve"))
            .header("authorization", KEY)
            .json(&json!({"phone_number": "+14155550192", "persona_id": "p"})),
    );
    assert_eq!(status, 200, "{resolved}");
    let memory = resolved["data"]["memory"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = resolved["data"]["memory"]["revision"].as_u64().unwrap();
    const CLIENTS: usize = 16;
    const WRITES: usize = 60;
    std::thread::scope(|scope| {
        for c in 0..CLIENTS {
            let url = servers[c % 2].url(&format!("/v1/memory/contact/{memory}/messages"));
            scope.spawn(move || {
                let http = client();
                for w in 0..WRITES {
                    let body = json!({"messages": [
                        {"role": "user", "content": format!("client {c} write {w}"), "channel": "sms"}
                    ]});
                    let (status, answer) =
                        send(http.post(&url).header("authorization", KEY).json(&body));
                    assert_eq!(status, 200, "client {c} write {w}: {answer}");
                }
            });
        }
    });
    let (status, record) = send(
        http.get(servers[1].url(&format!("/v1/memory/contact/{memory}")))
            .header("authorization", KEY),
    );
    assert_eq!(status, 200);
    assert_eq!(
        record["data"]["revision"].as_u64(),
        Some(first + (CLIENTS * WRITES) as u64),
        "every append landed once"
    );
    for server in servers {
        assert!(server.terminate().success());
    }
}

#[test]
fn memory_writes_from_two_processes_on_one_sqlite_file_never_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    // Made before the two servers start, so neither races the other to create it.
    drop(contacts_sqlite::SqliteStore::open(&db).unwrap());
    memory_writes_from_two_processes(&["--db", db.to_str().unwrap()]);
}

#[test]
fn memory_writes_from_two_processes_on_one_postgres_schema_never_conflict() {
    let Some(url) = common::postgres_url(
        "memory_writes_from_two_processes_on_one_postgres_schema_never_conflict",
    ) else {
        return;
    };
    let schema = format!("contacts_contention_test_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .unwrap();
    memory_writes_from_two_processes(&["--postgres", &url, "--postgres-schema", &schema]);
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}
