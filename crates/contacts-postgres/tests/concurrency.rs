//! PostgreSQL under threads, processes, contention, injected serialization failures
//! and dropped connections.
//!
//! The two-process test runs this same test binary as its children: the parent starts
//! `child_process_entry` (an ignored test, so it never runs on its own) with the job
//! in environment variables, and reads what each child acknowledges on stdout.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contacts_core::{Engine, Error, ListRequest, OrgId, ResolveRequest, UpdateRequest};
use contacts_postgres::{Options, PostgresStore, SCHEMA_VERSION};
use contacts_testkit::concurrent::{Tally, acks, person_request};

fn org() -> OrgId {
    OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap())
}

macro_rules! url_or_skip {
    ($test:literal) => {
        match common::url() {
            Some(url) => url,
            None => {
                common::skip($test);
                return;
            }
        }
    };
}

/// Contacts of the org and the identifiers of each, read back through the engine.
fn contact_count(engine: &Engine<impl contacts_core::Store>) -> u64 {
    engine
        .list(org(), ListRequest::new(1, 0))
        .unwrap()
        .pagination
        .total
}

/// Eight threads, each with its own store (its own pool), resolve the same 120 new
/// people in different orders at the same moment: one contact per person, each
/// created exactly once, and no identifier with two owners.
#[test]
fn threads_with_their_own_pools_resolve_overlapping_people() {
    let url = url_or_skip!("threads_with_their_own_pools_resolve_overlapping_people");
    let options = common::test_options();
    let guard = common::DropSchema {
        url: url.clone(),
        schema: options.schema.clone(),
    };
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u64)
        .map(|n| {
            let (url, options, barrier) = (url.clone(), options.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                // Eight stores opening one fresh schema together: migration under lock.
                let engine = Engine::new(PostgresStore::connect_with(&url, options).unwrap());
                barrier.wait();
                (0..120u64)
                    .map(|i| {
                        let person = (i * (2 * n + 1) + n * 7) % 120;
                        let out = engine.resolve(org(), &person_request(person)).unwrap();
                        (person, out.contact.id, out.created)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        for (person, id, was_created) in h.join().unwrap() {
            tally.record(person, id, was_created);
        }
    }
    tally.assert_each_person_once(120);
    let mut client = common::client(&options.schema);
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT contact_id) FROM identifiers",
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (240, 120));
    let migrations: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        migrations,
        i64::from(SCHEMA_VERSION),
        "each migration applied once"
    );
    drop(guard);
}

/// Many threads on one store keep updating one contact: every update lands (the
/// losers of each race re-read and retry), none is lost.
#[test]
fn contended_updates_are_retried_and_none_is_lost() {
    let store = pg_store_or_skip("contended_updates_are_retried_and_none_is_lost");
    let Some(store) = store else { return };
    let engine = Arc::new(Engine::new(store));
    let id = engine
        .resolve(org(), &ResolveRequest::new().with_external_id("hot"))
        .unwrap()
        .contact
        .id;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let patch = serde_json::json!({ format!("t{t}_{i}"): i });
                    engine
                        .update(org(), id, &UpdateRequest::new().with_metadata(patch))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let contact = engine.get(org(), id).unwrap();
    assert_eq!(contact.contact.metadata.len(), 100, "an update was lost");
}

fn pg_store_or_skip(test: &str) -> Option<common::TempStore> {
    let store = common::temp_store();
    if store.is_none() {
        common::skip(test);
    }
    store
}

/// Installs a trigger that makes the next `failures` inserts into `contacts` fail
/// with SQLSTATE `code`, raised by the server itself. The countdown is a sequence,
/// which a rolled-back transaction does not rewind.
fn inject_failures(schema: &str, failures: i64, code: &str) {
    let mut c = common::client(schema);
    c.batch_execute(&format!(
        "CREATE SEQUENCE injected_attempts;
         CREATE FUNCTION fail_early() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('injected_attempts') <= {failures} THEN
                 RAISE EXCEPTION 'injected failure' USING ERRCODE = '{code}';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER fail_early BEFORE INSERT ON contacts
             FOR EACH ROW EXECUTE FUNCTION fail_early();"
    ))
    .unwrap();
}

fn attempts(schema: &str) -> i64 {
    common::client(schema)
        .query_one("SELECT last_value FROM injected_attempts", &[])
        .unwrap()
        .get(0)
}

/// Serialization failures and deadlocks raised by the server are retried: the
/// resolve succeeds on the attempt after the last failure, and creates one contact.
#[test]
fn serialization_failures_and_deadlocks_are_retried() {
    for code in ["40001", "40P01"] {
        let Some(store) = pg_store_or_skip("serialization_failures_and_deadlocks_are_retried")
        else {
            return;
        };
        let schema = store.store.schema().to_owned();
        inject_failures(&schema, 3, code);
        let engine = Engine::new(store);
        let out = engine
            .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
            .unwrap();
        assert!(out.created);
        assert_eq!(
            attempts(&schema),
            4,
            "three failed attempts, then one that worked"
        );
        assert_eq!(contact_count(&engine), 1);
        assert_eq!(
            engine
                .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
                .unwrap()
                .contact
                .id,
            out.contact.id
        );
    }
}

/// A transaction that keeps failing is retried a bounded number of times, then
/// reported as a conflict, with nothing written.
#[test]
fn retries_are_bounded_and_write_nothing() {
    let Some(store) = pg_store_or_skip("retries_are_bounded_and_write_nothing") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    inject_failures(&schema, 1_000_000, "40001");
    let engine = Engine::new(store);
    let err = engine
        .resolve(
            org(),
            &ResolveRequest::new()
                .with_phone("+14155550192")
                .with_email("a@example.com"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let tried = attempts(&schema);
    assert!((2..=64).contains(&tried), "{tried} attempts");
    assert_eq!(contact_count(&engine), 0);
    let idents: i64 = common::client(&schema)
        .query_one("SELECT count(*) FROM identifiers", &[])
        .unwrap()
        .get(0);
    assert_eq!(idents, 0, "a partial write survived");
}

/// A failure that is not a lost race (here a CHECK violation raised by the server) is
/// the backend failing: reported as a storage error after one attempt, never retried
/// as if another writer had come first (contract rule 7).
#[test]
fn other_failures_are_storage_errors_tried_once() {
    let Some(store) = pg_store_or_skip("other_failures_are_storage_errors_tried_once") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    inject_failures(&schema, 1_000_000, "23514");
    let engine = Engine::new(store);
    let err = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(attempts(&schema), 1, "a storage failure was retried");
    assert_eq!(contact_count(&engine), 0);
}

/// Kills the server-side backends of `schema`'s test pool, as a server restart does
/// to every client. Returns how many were killed.
fn kill_backends(app: &str) -> i64 {
    let mut admin = postgres::Client::connect(&common::url().unwrap(), postgres::NoTls).unwrap();
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&app],
        )
        .unwrap()
        .get(0)
}

/// The server drops every connection between two calls (what a restart does to its
/// clients): the next calls work on fresh connections, and nothing is lost.
#[test]
fn dropped_connections_are_replaced() {
    let Some(url) = common::url() else {
        common::skip("dropped_connections_are_replaced");
        return;
    };
    let app = format!("contacts-restart-{}", std::process::id());
    let options = common::test_options().with_application_name(&app);
    let _guard = common::DropSchema {
        url: url.clone(),
        schema: options.schema.clone(),
    };
    let engine = Engine::new(PostgresStore::connect_with(&url, options).unwrap());
    let first = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550100"))
        .unwrap();
    assert!(kill_backends(&app) >= 1, "the pool held a connection");
    std::thread::sleep(Duration::from_millis(200));
    // Either the pool noticed the closed connection and used a new one, or this call
    // hit it and failed cleanly; the call after it works either way.
    match engine.resolve(org(), &ResolveRequest::new().with_phone("+14155550101")) {
        Ok(_) | Err(Error::Storage { .. }) => {}
        Err(other) => panic!("not a storage error: {other:?}"),
    }
    let again = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550100"))
        .unwrap();
    assert_eq!((again.contact.id, again.created), (first.contact.id, false));
    let later = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550101"))
        .unwrap();
    assert_eq!(contact_count(&engine), 2);
    assert!(engine.get(org(), later.contact.id).is_ok());
}

/// The connection dies in the middle of a commit: that call gets a clear storage
/// error, the transaction leaves nothing behind, and the next call succeeds.
#[test]
fn a_connection_killed_mid_commit_writes_nothing() {
    let Some(url) = common::url() else {
        common::skip("a_connection_killed_mid_commit_writes_nothing");
        return;
    };
    let app = format!("contacts-midcommit-{}", std::process::id());
    let options = common::test_options().with_application_name(&app);
    let schema = options.schema.clone();
    let _guard = common::DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let engine = Arc::new(Engine::new(
        PostgresStore::connect_with(&url, options).unwrap(),
    ));
    // Identifier inserts pause, so the commit is surely in flight when it is killed.
    common::client(&schema)
        .batch_execute(
            "CREATE FUNCTION pause() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$;
             CREATE TRIGGER pause BEFORE INSERT ON identifiers
                 FOR EACH ROW EXECUTE FUNCTION pause();",
        )
        .unwrap();
    let worker = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            engine.resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    loop {
        let sleeping: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event = 'PgSleep'",
                &[&app],
            )
            .unwrap()
            .get(0);
        if sleeping > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the commit never reached the pause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(kill_backends(&app), 1);
    let err = worker.join().unwrap().unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("postgres"), "{chain}");

    common::client(&schema)
        .batch_execute("DROP TRIGGER pause ON identifiers")
        .unwrap();
    let mut check = common::client(&schema);
    let leftovers: i64 = check
        .query_one(
            "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM identifiers)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "the killed transaction left rows behind");
    let out = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert!(out.created);
}

/// A schema written by a newer build is refused, not silently used.
#[test]
fn a_newer_schema_is_refused() {
    let Some(store) = pg_store_or_skip("a_newer_schema_is_refused") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    assert_eq!(store.store.schema_version().unwrap(), SCHEMA_VERSION);
    common::client(&schema)
        .batch_execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
        .unwrap();
    let err = PostgresStore::connect_with(
        &common::url().unwrap(),
        Options::default().with_schema(schema).with_pool_size(1),
    )
    .unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("schema version 99"), "{source}");
}

/// Runs the child half of the two-process test. Ignored so it never runs on its own.
#[test]
#[ignore = "child process of the two-process test"]
fn child_process_entry() {
    let (Ok(schema), Some(url)) = (std::env::var("CONTACTS_CHILD_SCHEMA"), common::url()) else {
        return;
    };
    let seed: u64 = std::env::var("CONTACTS_CHILD_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let start: u128 = std::env::var("CONTACTS_CHILD_START")
        .unwrap()
        .parse()
        .unwrap();
    // Its own store, so its own pool of connections.
    let engine = Engine::new(
        PostgresStore::connect_with(
            &url,
            Options::default().with_schema(schema).with_pool_size(2),
        )
        .unwrap(),
    );
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        < start
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = std::io::stdout().lock();
    for i in 0..150u64 {
        let person = (i * (2 * seed + 1) + seed * 17) % 150;
        let r = engine.resolve(org(), &person_request(person)).unwrap();
        writeln!(out, "ACK {person} {} {}", r.contact.id, r.created).unwrap();
    }
}

/// Two processes, each with its own pool, resolve the same new people at the same
/// moment: each person is one contact, created exactly once.
#[test]
fn two_processes_resolve_overlapping_people() {
    let Some(store) = pg_store_or_skip("two_processes_resolve_overlapping_people") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1_000;
    let children: Vec<_> = (0..2u64)
        .map(|seed| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "child_process_entry",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("CONTACTS_CHILD_SCHEMA", &schema)
                .env("CONTACTS_CHILD_SEED", seed.to_string())
                .env("CONTACTS_CHILD_START", start.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tally = Tally::default();
    for mut child in children {
        let lines = acks(child.stdout.take().unwrap());
        assert!(child.wait().unwrap().success(), "child failed");
        assert_eq!(lines.len(), 150, "the child acknowledged every resolve");
        tally.record_acks(&lines);
    }
    tally.assert_each_person_once(150);
    let engine = Engine::new(store);
    assert_eq!(contact_count(&engine), 150);
}

/// A real restart of the server between two calls. Ignored because it restarts the
/// machine's shared PostgreSQL (other tests running at the same moment would fail);
/// run it alone: `cargo test -p contacts-postgres --test concurrency -- --ignored
/// a_real_server_restart`. Needs `pg_ctlcluster` and the rights to use it.
#[test]
#[ignore = "restarts the shared PostgreSQL server; run alone with --ignored"]
fn a_real_server_restart() {
    let Some(store) = pg_store_or_skip("a_real_server_restart") else {
        return;
    };
    let engine = Engine::new(store);
    let before = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550100"))
        .unwrap();
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect"])
        .arg(&version)
        .args(["main", "restart"])
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctlcluster restart failed");
    // The first call after the restart may hit a dead connection (a clean storage
    // error, nothing written) or get a fresh one; within a few seconds calls succeed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut errors = Vec::new();
    let after = loop {
        match engine.resolve(org(), &ResolveRequest::new().with_phone("+14155550101")) {
            Ok(out) => break out,
            Err(e @ Error::Storage { .. }) => errors.push(e.to_string()),
            Err(other) => panic!("not a storage error: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "no call succeeded after the restart: {errors:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(after.created);
    let again = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550100"))
        .unwrap();
    assert_eq!(
        (again.contact.id, again.created),
        (before.contact.id, false)
    );
    assert_eq!(contact_count(&engine), 2);
    eprintln!("storage errors before the first success: {errors:?}");
}

/// Store contract 17 (`hold.rs`): while one store (one process's pool) holds a memory
/// record, a second store's write of it waits and then finds the revision moved. The
/// holding store has a pool of one connection, which the hold takes: the decision's
/// reads must run on it, since waiting for another would stall until the pool's
/// timeout.
#[test]
fn a_held_memory_write_keeps_other_processes_off() {
    let Some(first) = common::temp_store_with(common::test_options().with_pool_size(1)) else {
        common::skip("a_held_memory_write_keeps_other_processes_off");
        return;
    };
    let other_process = PostgresStore::connect_with(
        &common::url().unwrap(),
        common::test_options().with_schema(first.store.schema()),
    )
    .unwrap();
    contacts_testkit::concurrent::a_held_memory_write_keeps_others_off(first, &other_process);
}

/// Four threads create people in one org whose feed keeps three events: every create
/// takes its number in commit order and drops what retention drops, in its own
/// statement when no other writer came between its snapshot and its turn at the head
/// and right after it otherwise (`create.rs`). At the end the feed holds exactly the
/// three newest events, numbered without gaps, and nothing below the head's oldest.
#[test]
fn concurrent_creates_keep_the_feed_bounded() {
    let Some(store) = pg_store_or_skip("concurrent_creates_keep_the_feed_bounded") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    let config = contacts_core::Config::default().with_events(3, None);
    let engine = Arc::new(Engine::with_config(store, config).unwrap());
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (engine, barrier) = (Arc::clone(&engine), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..40u64 {
                    let req = ResolveRequest::new().with_phone(format!("+1415{t}{i:06}"));
                    assert!(engine.resolve(org(), &req).unwrap().created);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut c = common::client(&schema);
    let row = c
        .query_one(
            "SELECT h.last, h.first, \
               (SELECT count(*) FROM events AS e WHERE e.org = h.org), \
               (SELECT min(e.seq) FROM events AS e WHERE e.org = h.org) \
             FROM event_heads AS h",
            &[],
        )
        .unwrap();
    let (last, first, count, min): (i64, i64, i64, Option<i64>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(last, 160, "one number per create, none lost");
    assert_eq!(
        (first, count, min),
        (158, 3, Some(158)),
        "exactly the newest three"
    );
    let log = engine.events(org(), 0, 10);
    assert!(log.is_err(), "a cursor before the oldest kept is refused");
    let log = engine.events(org(), 157, 10).unwrap();
    let numbers: Vec<u64> = log.events.iter().map(|e| e.sequence).collect();
    assert_eq!(numbers, vec![158, 159, 160]);
}

/// A new person's one statement (`create.rs`) takes its identifiers' index entries
/// before the feed's head, as a transaction of `commit.rs` does. Here a transaction
/// holds an uncommitted identifier and then moves the head, while a create of a new
/// person with that identifier waits on it: the create must not be holding the head
/// by then (that would be a deadlock, broken only by PostgreSQL's one-second
/// detector). Once the transaction commits, the create loses the race and resolves
/// to the contact that took the identifier.
#[test]
fn a_waiting_create_does_not_hold_the_feed_head() {
    let Some(store) = pg_store_or_skip("a_waiting_create_does_not_hold_the_feed_head") else {
        return;
    };
    let schema = store.store.schema().to_owned();
    let engine = Arc::new(Engine::new(store));
    let first = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550101"))
        .unwrap()
        .contact
        .id;
    let mut a = common::client(&schema);
    a.batch_execute("BEGIN").unwrap();
    a.execute(
        "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
         VALUES (gen_random_uuid(), $1, $2, 'email', 'taken@example.com', false)",
        &[&first.0, &org().0],
    )
    .unwrap();
    let create = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            let req = ResolveRequest::new()
                .with_phone("+14155550102")
                .with_email("taken@example.com");
            engine.resolve(org(), &req)
        })
    };
    // Long enough for the create to reach the identifier it waits on.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    a.execute(
        "UPDATE event_heads SET last = last WHERE org = $1",
        &[&org().0],
    )
    .unwrap();
    let waited = started.elapsed();
    a.batch_execute("COMMIT").unwrap();
    assert!(
        waited < Duration::from_millis(500),
        "the head was held by the waiting create for {waited:?}"
    );
    let out = create.join().unwrap().unwrap();
    assert_eq!(
        out.contact.id, first,
        "the identifier's owner is the one resolved"
    );
    assert!(!out.created);
}
