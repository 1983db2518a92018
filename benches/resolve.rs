//! The engine's hot and cold paths against their physical floors, in one run.
//!
//! `CONTACTS_BENCH_SIZE=1000000 cargo bench -p contacts-benches --bench resolve`
//! reproduces `docs/benchmarks.md` (with `CONTACTS_BENCH_POSTGRES_URL` set for the
//! PostgreSQL figures); the default size (10,000) keeps
//! `cargo test --benches` quick. Every engine figure has its floor in the same group.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contacts_benches::{Walk, by_phone, email, engine, formatted_phone, load, org, phone, size};
use contacts_core::store::IdentifierKey;
use contacts_core::uuid::Uuid;
use contacts_core::{Config, Engine, IdentifierKind, OrgId, ResolveRequest, Store};
use contacts_inmemory::InMemoryStore;
use contacts_sqlite::SqliteStore;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Requests sampled per benchmark (`CONTACTS_BENCH_SAMPLE`, default 4,096). The
/// default keeps a floor's working set (three cache lines a key) inside one core's L2,
/// which flatters the floor; a sample as large as the data (say 262,144 at 1M) makes
/// every lookup, the floor's included, go to memory, as a server's random callers do.
/// docs/benchmarks.md reports both.
static SAMPLE: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("CONTACTS_BENCH_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096)
});

fn sample(n: u64, seed: u64) -> Vec<u64> {
    let walk = Walk::new(n, seed);
    (0..*SAMPLE).map(|_| walk.next_index()).collect()
}

fn requests(idx: &[u64], make: impl Fn(u64) -> ResolveRequest) -> Vec<ResolveRequest> {
    idx.iter().map(|i| make(*i)).collect()
}

fn hits<S: Store>(c: &mut Criterion, group: &str, e: &Engine<S>, n: u64) {
    let idx = sample(n, 7);
    let mut g = c.benchmark_group(group);
    for (name, reqs) in [
        ("canonical_phone", requests(&idx, by_phone)),
        (
            "email",
            requests(&idx, |i| ResolveRequest::new().with_email(email(i))),
        ),
        (
            "formatted_phone",
            requests(&idx, |i| {
                ResolveRequest::new().with_phone(formatted_phone(i))
            }),
        ),
    ] {
        // Each sampled request once before measuring: a read cache then holds the whole
        // sample, which criterion's short warm-up alone does not reach at 262,144.
        for req in &reqs {
            e.resolve(org(), req).expect("hit");
        }
        let mut k = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                k = (k + 1) % *SAMPLE;
                let out = e.resolve(org(), &reqs[k]).expect("hit");
                debug_assert!(!out.created);
                // By reference, as the floor's `get` returns one: returning the outcome
                // would have criterion copy its 136 bytes twice more per call.
                black_box(&out);
            })
        });
    }
    g.finish();
}

/// The in-memory floor, in `group`: a raw `HashMap<(org, String), Uuid>` with `n` keys,
/// probed with the sample the engine's hits use.
fn hashmap_floor(c: &mut Criterion, group: &str, n: u64) {
    let map: HashMap<(OrgId, String), Uuid> = (0..n)
        .map(|i| ((org(), phone(i)), Uuid::now_v7()))
        .collect();
    let keys: Vec<(OrgId, String)> = sample(n, 7)
        .into_iter()
        .map(|i| (org(), phone(i)))
        .collect();
    let mut k = 0;
    c.benchmark_group(group)
        .bench_function("floor_hashmap", |b| {
            b.iter(|| {
                k = (k + 1) % *SAMPLE;
                black_box(map.get(&keys[k]))
            })
        });
}

fn inmemory(c: &mut Criterion) {
    let n = size();
    let store = InMemoryStore::new();
    load(&store, n);
    let e = engine(store);
    hits(c, "inmemory_hit", &e, n);

    hashmap_floor(c, "inmemory_hit", n);

    // Two threads against one: throughput of in-memory hits.
    let e = Arc::new(e);
    let reqs = Arc::new(requests(&sample(n, 11), by_phone));
    let mut g = c.benchmark_group("inmemory_hit_threads");
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(threads));
        g.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let e = Arc::clone(&e);
                            let reqs = Arc::clone(&reqs);
                            std::thread::spawn(move || {
                                for i in 0..iters as usize {
                                    let r = &reqs[(i * 7 + t as usize * 13) % *SAMPLE];
                                    black_box(e.resolve(org(), r).expect("hit"));
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().expect("bench thread");
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();

    // Create (a miss): new people.
    let mut next = n;
    c.benchmark_group("create").bench_function("inmemory", |b| {
        b.iter(|| {
            next += 1;
            let out = e.resolve(org(), &by_phone(next)).expect("create");
            debug_assert!(out.created);
            black_box(out)
        })
    });
}

/// An engine over `store` that records no history (docs/semantics.md 4, "History").
fn without_history<S: Store>(store: S) -> Engine<S> {
    Engine::with_config(store, Config::default().with_history_per_contact(0)).expect("config")
}

/// An engine over `store` that keeps no change feed (docs/semantics.md 4, "Change feed").
fn without_feed<S: Store>(store: S) -> Engine<S> {
    Engine::with_config(store, Config::default().with_events(0, None)).expect("config")
}

fn sqlite(c: &mut Criterion) {
    let n = size();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let uncached = contacts_sqlite::Options::default().with_cache_entries(0);
    let store = SqliteStore::open_with(&path, uncached).expect("open");
    load(&store, n);
    let e = engine(store);
    hits(c, "sqlite_hit", &e, n);

    // The same file through the read cache, sized to hold the sample (the default
    // 10,000 entries does at the default sample size).
    let cached = contacts_sqlite::Options::default().with_cache_entries((*SAMPLE * 3).max(10_000));
    let cached = engine(SqliteStore::open_with(&path, cached).expect("open cached"));
    hits(c, "sqlite_cached_hit", &cached, n);
    // The cache alone, without the engine: the store's lookup of the same keys.
    let keys: Vec<String> = sample(n, 7).into_iter().map(phone).collect();
    let mut k = 0;
    c.benchmark_group("sqlite_cached_hit")
        .bench_function("store_lookup", |b| {
            b.iter(|| {
                k = (k + 1) % *SAMPLE;
                let key = IdentifierKey {
                    kind: IdentifierKind::PhoneNumber,
                    value: &keys[k],
                };
                let owners = cached.store().lookup(org(), &[key]).expect("lookup");
                black_box(&owners);
            })
        });
    drop(cached);
    // Its floor again, next to it: on this VM a floor measured minutes earlier can be
    // off by half.
    hashmap_floor(c, "sqlite_cached_hit", n);

    // Floor: one prepared statement doing the identifier-to-contact-row lookup on the
    // same schema.
    let raw =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("raw reader");
    let keys: Vec<String> = sample(n, 7).into_iter().map(phone).collect();
    let org_bytes = org().0;
    let mut stmt = raw
        .prepare(
            "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version \
             FROM identifiers AS i JOIN contacts AS c ON c.id = i.contact_id \
             WHERE i.org = ?1 AND i.kind = 'phone_number' AND i.value = ?2",
        )
        .expect("prepare");
    let mut k = 0;
    c.benchmark_group("sqlite_hit")
        .bench_function("floor_raw_join", |b| {
            b.iter(|| {
                k = (k + 1) % *SAMPLE;
                let row = stmt
                    .query_row(
                        rusqlite::params![org_bytes.as_bytes(), keys[k]],
                        contacts_benches::raw_contact,
                    )
                    .expect("row");
                black_box(row)
            })
        });
    drop(stmt);

    // What the cache pays on every call: one `PRAGMA data_version` on an idle
    // connection.
    let mut version = raw.prepare("PRAGMA data_version").expect("prepare");
    c.benchmark_group("sqlite_cached_hit")
        .bench_function("data_version_check", |b| {
            b.iter(|| black_box(version.query_row([], |r| r.get::<_, i64>(0)).expect("row")))
        });
    drop(version);

    // Create: engine against a raw two-insert IMMEDIATE transaction.
    let mut next = n;
    let mut g = c.benchmark_group("create");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("sqlite", |b| {
        b.iter(|| {
            next += 1;
            black_box(e.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    // What history costs a create: the same store with it off.
    let quiet = without_history(e.store().clone());
    g.bench_function("sqlite_without_history", |b| {
        b.iter(|| {
            next += 1;
            black_box(quiet.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    // And what the change feed costs it.
    let unfed = without_feed(e.store().clone());
    g.bench_function("sqlite_without_feed", |b| {
        b.iter(|| {
            next += 1;
            black_box(unfed.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    let mut writer = rusqlite::Connection::open(&path).expect("raw writer");
    writer
        .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .expect("pragmas");
    let mut raw_next = 0u64;
    g.bench_function("sqlite_floor_two_inserts", |b| {
        b.iter(|| {
            raw_next += 1;
            let id = Uuid::now_v7();
            let tx = writer
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .expect("begin");
            tx.prepare_cached(
                "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
                 VALUES (?1, ?2, NULL, '{}', 0, 0, 1)",
            )
            .and_then(|mut s| s.execute(rusqlite::params![id.as_bytes(), org_bytes.as_bytes()]))
            .expect("insert contact");
            tx.prepare_cached(
                "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                 VALUES (?1, ?2, ?3, 'phone_number', ?4, 1)",
            )
            .and_then(|mut s| {
                s.execute(rusqlite::params![
                    Uuid::now_v7().as_bytes(),
                    id.as_bytes(),
                    org_bytes.as_bytes(),
                    format!("+1999{raw_next:07}")
                ])
            })
            .expect("insert identifier");
            tx.commit().expect("commit");
        })
    });
    g.finish();
}

/// PostgreSQL, when `CONTACTS_BENCH_POSTGRES_URL` (or the tests' variable) names a
/// server: the engine's hit and create against one prepared `postgres`-crate query
/// (and one raw two-insert transaction) on the same schema, over the same socket.
fn postgres(c: &mut Criterion) {
    let Some(url) = contacts_benches::postgres_url() else {
        return;
    };
    let n = size();
    let schema = format!("contacts_bench_{}", std::process::id());
    let options = contacts_postgres::Options::default()
        .with_schema(&schema)
        .with_pool_size(4);
    let store =
        Arc::new(contacts_postgres::PostgresStore::connect_with(&url, options).expect("connect"));
    load(&store, n);
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).expect("raw client");
    // The org's feed as a busy org keeps it: full at its default bound, so each create
    // also drops the oldest event, and the statistics the store's generic plans are
    // made from see a table of that size (made on an empty one, they scan it whole).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let org_id = org().0;
    raw.batch_execute(&format!(
        "SET search_path TO {schema}; \
         INSERT INTO events (org, seq, at, body) \
         SELECT '{org_id}', g, {now_ms}, '{{}}' FROM generate_series(1, 100000) AS g; \
         INSERT INTO event_heads (org, last, first) VALUES ('{org_id}', 100000, 1)"
    ))
    .expect("seed the feed");
    // The same session settings as the store's connections, so only the work differs.
    raw.batch_execute(&format!(
        "SET search_path TO {schema}; SET plan_cache_mode = force_generic_plan; ANALYZE"
    ))
    .expect("analyze");
    let e = engine(store);
    hits(c, "postgres_hit", &e, n);

    let keys: Vec<String> = sample(n, 7).into_iter().map(phone).collect();
    let stmt = raw
        .prepare(
            "SELECT c.id, c.name, c.metadata, c.created_at, c.updated_at, c.version \
             FROM identifiers AS i JOIN contacts AS c ON c.org = i.org AND c.id = i.contact_id \
             WHERE i.org = $1 AND i.kind = 'phone_number' AND i.value = $2",
        )
        .expect("prepare");
    let mut k = 0;
    c.benchmark_group("postgres_hit")
        .bench_function("floor_raw_join", |b| {
            b.iter(|| {
                k = (k + 1) % *SAMPLE;
                let row = raw.query_one(&stmt, &[&org_id, &keys[k]]).expect("row");
                let row: (Uuid, Option<String>, String, i64, i64, i64) = (
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                );
                black_box(row)
            })
        });

    let mut next = n;
    let mut g = c.benchmark_group("create");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("postgres", |b| {
        b.iter(|| {
            next += 1;
            black_box(e.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    let quiet = without_history(Arc::clone(e.store()));
    g.bench_function("postgres_without_history", |b| {
        b.iter(|| {
            next += 1;
            black_box(quiet.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    let unfed = without_feed(Arc::clone(e.store()));
    g.bench_function("postgres_without_feed", |b| {
        b.iter(|| {
            next += 1;
            black_box(unfed.resolve(org(), &by_phone(next)).expect("create"))
        })
    });
    let insert_contact = raw
        .prepare(
            "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
             VALUES ($1, $2, NULL, '{}', 0, 0, 1)",
        )
        .expect("prepare");
    let insert_identifier = raw
        .prepare(
            "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
             VALUES ($1, $2, $3, 'phone_number', $4, true)",
        )
        .expect("prepare");
    let mut raw_next = 0u64;
    g.bench_function("postgres_floor_two_inserts", |b| {
        b.iter(|| {
            raw_next += 1;
            let id = Uuid::now_v7();
            let mut tx = raw.transaction().expect("begin");
            tx.execute(&insert_contact, &[&id, &org_id])
                .expect("insert contact");
            tx.execute(
                &insert_identifier,
                &[
                    &Uuid::now_v7(),
                    &id,
                    &org_id,
                    &format!("+1999{raw_next:07}"),
                ],
            )
            .expect("insert identifier");
            tx.commit().expect("commit");
        })
    });
    g.finish();

    drop((e, quiet));
    raw.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .expect("drop the bench schema");
}

criterion_group!(benches, inmemory, sqlite, postgres);
criterion_main!(benches);
