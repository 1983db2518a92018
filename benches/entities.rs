//! What an entity upsert costs as a memory record grows (docs/benchmarks.md, "Entity
//! upserts"): one entity of a record holding 10, then 200, entities of about 1 KB each,
//! upserted on a SQLite file. Each entity has a row of its own (Store contract 18), so
//! the write should not grow with the record; the read that decides it, and the record
//! the call returns, still do.

use std::hint::black_box;

use contacts_benches::{engine, org};
use contacts_core::{EntityUpsert, MemoryId, ResolveRequest};
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

fn entities(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = engine(SqliteStore::open(dir.path().join("bench.db")).expect("open"));
    let mut g = c.benchmark_group("entity_upsert");
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

criterion_group!(benches, entities);
criterion_main!(benches);
