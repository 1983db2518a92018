//! SQLite under threads, processes and crashes.
//!
//! The multi-process tests run this same test binary as their child processes: the
//! parent starts `child_process_entry` (an ignored test, so it never runs on its own)
//! with the job in environment variables, and reads what the child acknowledges from
//! its standard output.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contacts_core::{
    ContactId, Engine, FindRequest, IdentifierKind, ListRequest, OrgId, ResolveRequest,
    UpdateRequest,
};
use contacts_sqlite::{Durability, Options, SqliteStore};
use contacts_testkit::Guarded;
use contacts_testkit::concurrent::{Tally, acks, person_request};
use rusqlite::Connection;

fn org() -> OrgId {
    OrgId("11111111-2222-3333-4444-555555555555".parse().unwrap())
}

/// Every contact of the org, checking on the way that no identifier has two owners.
fn all_contacts(
    engine: &Engine<SqliteStore>,
) -> BTreeMap<ContactId, Vec<(IdentifierKind, String)>> {
    let mut out = BTreeMap::new();
    let mut owners = HashMap::new();
    let mut offset = 0;
    loop {
        let page = engine.list(org(), ListRequest::new(200, offset)).unwrap();
        offset += page.data.len() as i64;
        for c in page.data {
            let idents: Vec<_> = c
                .identifiers
                .iter()
                .map(|i| (i.identifier_type, i.identifier_value.clone()))
                .collect();
            for key in &idents {
                assert!(
                    owners.insert(key.clone(), c.contact.id).is_none(),
                    "{key:?} has two owners"
                );
            }
            out.insert(c.contact.id, idents);
        }
        if !page.pagination.has_more {
            return out;
        }
    }
}

/// Another connection takes the database's write lock (`BEGIN IMMEDIATE`) and holds it
/// for `hold`; returns once the lock is held.
fn hold_write_lock(path: std::path::PathBuf, hold: Duration) -> std::thread::JoinHandle<()> {
    let (locked_tx, locked_rx) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    holder
}

/// A writer holding the write lock makes others wait (up to the busy timeout), not
/// fail with SQLITE_BUSY.
#[test]
fn writers_wait_for_the_lock_instead_of_failing() {
    let t = common::temp_store();
    let engine = Engine::new(t.store.clone());
    let holder = hold_write_lock(common::path(&t), Duration::from_millis(400));
    let started = Instant::now();
    let out = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        .expect("waits for the other writer, then commits");
    assert!(out.created);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "did not wait for the lock"
    );
    // A hit only reads, so it does not wait for a writer at all.
    let holder2 = hold_write_lock(common::path(&t), Duration::from_millis(400));
    let started = Instant::now();
    let hit = engine
        .resolve(org(), &ResolveRequest::new().with_phone("+14155550192"))
        .unwrap();
    assert!(!hit.created);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "a read-only hit waited for a writer"
    );
    holder.join().unwrap();
    holder2.join().unwrap();
}

/// Two stores (two writer connections) on one file, four threads each, resolving an
/// overlapping set of new people: no SQLITE_BUSY, one contact per person, each
/// created exactly once.
#[test]
fn two_connections_resolve_overlapping_people() {
    let t = common::temp_store();
    let second = SqliteStore::open(common::path(&t)).unwrap();
    let engines = [
        Arc::new(Engine::new(t.store.clone())),
        Arc::new(Engine::new(second)),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u64)
        .map(|n| {
            let engine = Arc::clone(&engines[(n % 2) as usize]);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..150u64)
                    .map(|i| {
                        let person = (i * (n + 3)) % 150;
                        let out = engine
                            .resolve(org(), &person_request(person))
                            .expect("no busy errors");
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
    tally.assert_each_person_once(150);
    assert_eq!(all_contacts(&engines[0]).len(), 150);
}

/// Runs the child half of a multi-process test. Ignored so it never runs on its own:
/// the parents below start it explicitly.
#[test]
#[ignore = "child process of the multi-process tests"]
fn child_process_entry() {
    let Ok(db) = std::env::var("CONTACTS_CHILD_DB") else {
        return;
    };
    let job = std::env::var("CONTACTS_CHILD_JOB").unwrap();
    let seed: u64 = std::env::var("CONTACTS_CHILD_SEED")
        .unwrap()
        .parse()
        .unwrap();
    if job == "crash_full" {
        return crash_full(&db, seed);
    }
    let engine = Engine::new(SqliteStore::open(&db).unwrap());
    let mut out = std::io::stdout().lock();
    match job.as_str() {
        "overlap" => {
            let start: u128 = std::env::var("CONTACTS_CHILD_START")
                .unwrap()
                .parse()
                .unwrap();
            while SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
                < start
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            for i in 0..200u64 {
                let person = (i * (2 * seed + 1) + seed * 17) % 200;
                let r = engine.resolve(org(), &person_request(person)).unwrap();
                writeln!(out, "ACK {person} {} {}", r.contact.id, r.created).unwrap();
            }
        }
        "crash" => {
            for i in 0u64.. {
                // Ten digits after +1: a possible North American number.
                let phone = format!("+1{}{:07}", 200 + seed, i % 10_000_000);
                let r = engine
                    .resolve(org(), &ResolveRequest::new().with_phone(phone))
                    .unwrap();
                // Printed only after the commit returned: an acknowledgement.
                writeln!(out, "ACK {}", r.contact.id).unwrap();
                out.flush().unwrap();
            }
        }
        // One change to the contact holding +14155550100, then exit.
        "rename" | "delete" | "detach" => {
            let held = engine
                .find(org(), &FindRequest::new().with_phone(CACHED_PHONE))
                .unwrap()
                .expect("the parent created it");
            let id = held.contact.id;
            match job.as_str() {
                "rename" => {
                    engine
                        .update(org(), id, &UpdateRequest::new().with_name("Renamed"))
                        .unwrap();
                }
                "delete" => engine.delete(org(), id).unwrap(),
                _ => {
                    let phone = held
                        .identifiers
                        .iter()
                        .find(|i| i.identifier_type == IdentifierKind::PhoneNumber)
                        .unwrap();
                    engine.detach(org(), id, phone.id).unwrap();
                }
            }
            writeln!(out, "ACK {id}").unwrap();
        }
        other => panic!("unknown child job {other}"),
    }
}

fn child(db: &Path, job: &str, seed: u64, start: u128) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONTACTS_CHILD_DB", db)
        .env("CONTACTS_CHILD_JOB", job)
        .env("CONTACTS_CHILD_SEED", seed.to_string())
        .env("CONTACTS_CHILD_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

const CACHED_PHONE: &str = "+14155550100";

/// The read cache is coherent across processes (docs/semantics.md, "Read cache"): the
/// parent's store resolves a contact until the hit is served from its cache, another
/// process renames the contact, deletes it or detaches the phone, and the parent's very
/// next resolve sees the change.
#[test]
fn the_read_cache_sees_another_process_change_at_once() {
    for job in ["rename", "delete", "detach"] {
        let t = common::temp_store();
        let engine = Engine::new(t.store.clone());
        let first = engine
            .resolve(
                org(),
                &ResolveRequest::new()
                    .with_phone(CACHED_PHONE)
                    .with_email("c@example.com"),
            )
            .unwrap();
        let request = ResolveRequest::new().with_phone(CACHED_PHONE);
        for _ in 0..3 {
            let hit = engine.resolve(org(), &request).unwrap();
            assert_eq!((hit.contact.id, hit.created), (first.contact.id, false));
        }
        assert!(
            t.store.cache_stats().hits > 0,
            "{job}: the hits came from the cache"
        );
        let mut c = child(&common::path(&t), job, 0, 0);
        let lines = acks(c.stdout.take().unwrap());
        assert!(c.wait().unwrap().success(), "{job}: child failed");
        assert_eq!(lines.len(), 1, "{job}: the child made its change");
        let after = engine.resolve(org(), &request).unwrap();
        match job {
            "rename" => {
                assert_eq!(after.contact.id, first.contact.id);
                assert_eq!(after.contact.name.as_deref(), Some("Renamed"), "{job}");
            }
            // Deleted, or the phone no longer its: the phone is a new person.
            _ => assert!(
                after.created && after.contact.id != first.contact.id,
                "{job}"
            ),
        }
    }
}

/// Three processes open the same file and resolve an overlapping set of new people at
/// the same moment: afterwards no identifier has two owners and each person was
/// created exactly once.
#[test]
fn processes_resolve_overlapping_people() {
    let t = common::temp_store();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 700;
    let children: Vec<_> = (0..3)
        .map(|seed| child(&common::path(&t), "overlap", seed, start))
        .collect();
    let mut tally = Tally::default();
    for mut c in children {
        let lines = acks(c.stdout.take().unwrap());
        assert!(c.wait().unwrap().success(), "child failed");
        assert_eq!(lines.len(), 200, "child acknowledged every resolve");
        tally.record_acks(&lines);
    }
    tally.assert_each_person_once(200);
    let engine = Engine::new(SqliteStore::open(common::path(&t)).unwrap());
    let contacts = all_contacts(&engine);
    assert_eq!(contacts.len(), 200);
    assert!(contacts.values().all(|idents| idents.len() == 2));
}

/// The child of `sigkill_with_full_durability_loses_no_acknowledged_contact`: four
/// threads create contacts on a FULL store (so through group commit), each printing an
/// id only after its resolve returned.
fn crash_full(db: &str, seed: u64) {
    let full = Options::default().with_durability(Durability::Full);
    let engine = Arc::new(Engine::new(SqliteStore::open_with(db, full).unwrap()));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (engine, out) = (Arc::clone(&engine), Arc::clone(&out));
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let phone = format!("+1{}{t}{:06}", 300 + seed, i % 1_000_000);
                    let r = engine
                        .resolve(org(), &ResolveRequest::new().with_phone(phone))
                        .unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ACK {}", r.contact.id).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A child resolves in a loop, printing each acknowledged contact id; it is killed with
/// SIGKILL at random moments, 24 times. After every kill the database opens,
/// `PRAGMA integrity_check` is `ok`, and every acknowledged contact is present.
#[test]
fn sigkill_loses_no_acknowledged_contact() {
    sigkill_rounds("crash", 24);
}

/// The same with `Durability::Full` and four writer threads, so kills land in the middle
/// of group commits (docs/benchmarks.md, "Group commit"): no acknowledged batch is lost.
#[test]
fn sigkill_with_full_durability_loses_no_acknowledged_contact() {
    sigkill_rounds("crash_full", 12);
}

/// With `Durability::Full`, writers committing at once share transactions: eight
/// threads' creates all land, in fewer transactions than batches.
#[test]
fn full_durability_writers_share_commits() {
    let t = common::temp_store_with(Options::default().with_durability(Durability::Full));
    let engine = Arc::new(Engine::new(t.store.clone()));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (engine, barrier) = (Arc::clone(&engine), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                (0..60u64)
                    .map(|i| {
                        let phone = format!("+1415{t}{i:06}");
                        let r = engine
                            .resolve(org(), &ResolveRequest::new().with_phone(phone))
                            .unwrap();
                        assert!(r.created);
                        r.contact.id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let created: BTreeSet<ContactId> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(created.len(), 480);
    let present: BTreeSet<ContactId> = all_contacts(&engine).into_keys().collect();
    assert_eq!(present, created);
    let stats = t.store.group_commit_stats();
    assert_eq!(stats.batches, 480, "one batch per create");
    assert!(
        stats.groups < stats.batches,
        "no two writers shared a commit: {stats:?}"
    );
}
/// Kills `job`'s child at random moments, `rounds` times; after every kill the file is
/// intact and holds every contact acknowledged so far.
fn sigkill_rounds(job: &str, rounds: u64) {
    let t = common::temp_store();
    let db = common::path(&t);
    // The parent keeps no connection open while the children write.
    let Guarded { store, guard: _dir } = t;
    drop(store);
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..rounds {
        let mut c = child(&db, job, round, 0);
        let stdout = c.stdout.take().unwrap();
        let reader = std::thread::spawn(move || acks(stdout));
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(40 + x % 260));
        c.kill().unwrap();
        c.wait().unwrap();
        let got = reader.join().unwrap();
        acknowledged.extend(got.into_iter().map(|l| l[0].clone()));

        let conn = Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        drop(conn);
        let store = SqliteStore::open(&db).expect("opens after a kill");
        let engine = Engine::new(store);
        let present: BTreeSet<String> = all_contacts(&engine)
            .keys()
            .map(|id| id.to_string())
            .collect();
        for id in &acknowledged {
            assert!(
                present.contains(id),
                "acknowledged contact {id} lost after round {round}"
            );
        }
    }
    assert!(
        acknowledged.len() as u64 > rounds,
        "the children barely ran: {}",
        acknowledged.len()
    );
}

/// Store contract 17: while one store holds a memory record (its writer inside
/// `BEGIN IMMEDIATE`, or inside the open group transaction under FULL), a second store
/// on the file, standing for another process, waits and then finds the revision moved.
#[test]
fn a_held_memory_write_keeps_other_processes_off() {
    for durability in [Durability::Normal, Durability::Full] {
        let t = common::temp_store_with(Options::default().with_durability(durability));
        let other_process = SqliteStore::open(common::path(&t)).unwrap();
        contacts_testkit::concurrent::a_held_memory_write_keeps_others_off(t, &other_process);
    }
}

/// A held decision that panics inside the open group transaction (FULL durability)
/// ends the group as one that decided nothing: the panic reaches the caller, the
/// database's write lock is released at once (another process writes without waiting
/// for its busy timeout), and this store writes again.
#[test]
fn a_panicking_held_decision_leaves_the_group_usable() {
    use contacts_core::Store;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let t = common::temp_store_with(Options::default().with_durability(Durability::Full));
    let engine = Engine::new(t.store.clone());
    let m = engine
        .resolve(
            org(),
            &ResolveRequest::new()
                .with_external_id("p")
                .with_persona("p"),
        )
        .unwrap()
        .memory
        .unwrap()
        .id;
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        t.store
            .commit_holding_memory(org(), m, &mut || panic!("a decision that panics"))
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    let other_process = Engine::new(
        SqliteStore::open_with(
            common::path(&t),
            Options::default().with_busy_timeout(Duration::from_millis(300)),
        )
        .unwrap(),
    );
    other_process
        .resolve(org(), &ResolveRequest::new().with_external_id("other"))
        .expect("the write lock was released");
    engine
        .memory_replace_summary(org(), m, "after", None)
        .unwrap();
}
