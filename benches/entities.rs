//! What an entity upsert costs as a memory record grows (docs/benchmarks.md, "Entity
//! upserts"): one entity of a record holding 10, then 200, entities of about 1 KB each,
//! upserted on a SQLite file and on PostgreSQL (where `CONTACTS_BENCH_POSTGRES_URL` or
//! the tests' URL names a server). Each entity has a row of its own (Store contract 18), so
//! the write should not grow with the record; the read that decides it, and the record
//! the call returns, still do.

use std::hint::black_box;

use contacts_benches::{engine, org};
use contacts_core::{Engine, EntityUpsert, MemoryId, ResolveRequest, Store};
use contacts_sqlite::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};

fn upsert(id: usize, status: &str) -> EntityUpsert {
    EntityUpsert {
        entity_type: "order".into(),
        entity_id: format!("order-{id}"),
        facts: serde_json::json!({ "items": "x".repeat(1000) })
            .as_object()
            .cloned(),
        status: Some(status.into()),
        ..EntityUpsert::default()
    }
}

/// Seeds a record of `n` entities for each `n` on `e`, and times upserting one of them.
fn upserts<S: Store>(c: &mut Criterion, group: &str, e: &Engine<S>) {
    let mut g = c.benchmark_group(group);
    for n in [10, 200] {
        let m: MemoryId = e
            .resolve(
                org(),
                &ResolveRequest::new()
                    .with_external_id(format!("holder-{n}"))
                    .with_persona("p"),
            )
            .expect("resolve")
            .memory
            .expect("record")
            .id;
        for i in 0..n {
            e.memory_upsert_entity(org(), m, &upsert(i, "open"), None)
                .expect("seed");
        }
        let mut turn = 0u64;
        g.bench_function(format!("one_of_{n}"), |b| {
            b.iter(|| {
                turn += 1;
                let status = if turn.is_multiple_of(2) {
                    "open"
                } else {
                    "shipped"
                };
                black_box(
                    e.memory_upsert_entity(org(), m, &upsert(n / 2, status), None)
                        .expect("upsert"),
                )
            });
        });
    }
    g.finish();
}

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = engine(SqliteStore::open(dir.path().join("bench.db")).expect("open"));
    upserts(c, "entity_upsert_sqlite", &e);
}

fn postgres(c: &mut Criterion) {
    let Some(url) = contacts_benches::postgres_url() else {
        return;
    };
    let schema = format!("contacts_bench_entities_{}", std::process::id());
    let options = contacts_postgres::Options::default().with_schema(&schema);
    let e = engine(contacts_postgres::PostgresStore::connect_with(&url, options).expect("connect"));
    upserts(c, "entity_upsert_postgres", &e);
    drop(e);
    if let Ok(mut raw) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = raw.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
