//! Batch resolve against its floor (docs/benchmarks.md, "Batch resolve and import"):
//! 1,000 new people (phone, email, external id, name) per call on a SQLite file, through
//! `Engine::resolve_many`, through 1,000 single resolves, and as raw SQL on the same
//! schema (its triggers included): the same rows inserted with prepared statements in
//! one IMMEDIATE transaction, nothing looked up or decided.

use std::hint::black_box;
use std::time::Duration;

use contacts_benches::{engine, org};
use contacts_core::ResolveRequest;
use contacts_core::uuid::Uuid;
use contacts_sqlite::SqliteStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: u64 = 1_000;

fn person(i: u64) -> ResolveRequest {
    ResolveRequest::new()
        .with_phone(format!("+1212{i:07}"))
        .with_email(format!("batch{i}@example.com"))
        .with_external_id(format!("crm-{i}"))
        .with_name(format!("Person {i}"))
}

fn batches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let e = engine(SqliteStore::open(&path).expect("open"));
    let mut g = c.benchmark_group("new_people_1000");
    g.throughput(Throughput::Elements(BATCH));
    g.measurement_time(Duration::from_secs(8));
    let mut next = 0u64;
    let mut take = || {
        let reqs: Vec<ResolveRequest> = (next..next + BATCH).map(person).collect();
        next += BATCH;
        reqs
    };
    g.bench_function("resolve_many", |b| {
        b.iter_batched(
            &mut take,
            |reqs| black_box(e.resolve_many(org(), &reqs).expect("batch")),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("single_resolves", |b| {
        b.iter_batched(
            &mut take,
            |reqs| {
                for r in &reqs {
                    black_box(e.resolve(org(), r).expect("resolve"));
                }
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let mut raw = rusqlite::Connection::open(&path).expect("raw writer");
    raw.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;")
        .expect("pragmas");
    let org_id = org().0;
    g.bench_function("floor_raw_inserts", |b| {
        b.iter_batched(
            &mut take,
            |reqs| {
                let tx = raw
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .expect("begin");
                for r in &reqs {
                    let id = Uuid::now_v7();
                    tx.prepare_cached(
                        "INSERT INTO contacts (id, org, name, metadata, created_at, updated_at, version) \
                         VALUES (?1, ?2, ?3, '{}', 0, 0, 1)",
                    )
                    .and_then(|mut s| s.execute(rusqlite::params![id.as_bytes(), org_id.as_bytes(), r.name]))
                    .expect("insert contact");
                    for (kind, value) in [
                        ("phone_number", &r.phone_number),
                        ("email", &r.email),
                        ("external_id", &r.external_id),
                    ] {
                        tx.prepare_cached(
                            "INSERT INTO identifiers (id, contact_id, org, kind, value, is_primary) \
                             VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                        )
                        .and_then(|mut s| {
                            s.execute(rusqlite::params![
                                Uuid::now_v7().as_bytes(),
                                id.as_bytes(),
                                org_id.as_bytes(),
                                kind,
                                value
                            ])
                        })
                        .expect("insert identifier");
                    }
                }
                tx.commit().expect("commit");
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, batches);
criterion_main!(benches);
