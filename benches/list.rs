//! List pages at two sizes in one run, on every backend: 10,000 contacts and
//! `CONTACTS_BENCH_SIZE` (1,000,000 for docs/benchmarks.md, "Work that grows with the
//! data"). Per size: the first page (its `total` must not grow with the org), offsets
//! at half and 90 % of the org, and a cursor page at 90 %. The SQLite and PostgreSQL
//! floors are one raw statement on the same schema reading the first page's 50
//! contact rows (no total, identifiers or memories).

use std::hint::black_box;

use contacts_benches::{RawContact, engine, load, org, raw_contact, size};
use contacts_core::{Engine, ListRequest, Store};
use contacts_sqlite::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};

/// The sizes of one run: 10,000 and the configured size, if larger.
fn sizes() -> Vec<u64> {
    let n = size();
    if n > 10_000 { vec![10_000, n] } else { vec![n] }
}

fn pages<S: Store>(c: &mut Criterion, group: &str, e: &Engine<S>, n: u64) {
    let mut g = c.benchmark_group(group);
    for (name, offset) in [
        ("first_page", 0),
        ("offset_half", n / 2),
        ("offset_90pct", n * 9 / 10),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    e.list(org(), ListRequest::new(50, offset as i64))
                        .expect("list"),
                )
            })
        });
    }
    // The cursor naming the contact just before 90 %.
    let at = e
        .list(org(), ListRequest::new(1, (n * 9 / 10 - 1) as i64))
        .expect("list")
        .pagination
        .next_cursor
        .expect("more follow");
    g.bench_function("cursor_90pct", |b| {
        b.iter(|| {
            black_box(
                e.list(org(), ListRequest::after(50, at.as_str()))
                    .expect("list"),
            )
        })
    });
    g.finish();
}

fn inmemory(c: &mut Criterion) {
    for n in sizes() {
        let store = contacts_inmemory::InMemoryStore::new();
        load(&store, n);
        pages(c, &format!("list_inmemory_{n}"), &engine(store), n);
    }
}

fn sqlite(c: &mut Criterion) {
    for n in sizes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.db");
        let store = SqliteStore::open(&path).expect("open");
        load(&store, n);
        let group = format!("list_sqlite_{n}");
        pages(c, &group, &engine(store), n);
        let raw = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("raw reader");
        let mut stmt = raw
            .prepare(
                "SELECT id, name, metadata, created_at, updated_at, version FROM contacts \
                 WHERE org = ?1 ORDER BY created_at, id LIMIT 50",
            )
            .expect("prepare");
        let org_id = org().0;
        c.benchmark_group(group)
            .bench_function("floor_raw_first_page", |b| {
                b.iter(|| {
                    let rows: Vec<RawContact> = stmt
                        .query_map([org_id.as_bytes()], raw_contact)
                        .expect("query")
                        .collect::<Result<_, _>>()
                        .expect("rows");
                    black_box(rows)
                })
            });
    }
}

fn postgres(c: &mut Criterion) {
    let Some(url) = contacts_benches::postgres_url() else {
        return;
    };
    for n in sizes() {
        let schema = format!("contacts_bench_list_{}_{n}", std::process::id());
        let options = contacts_postgres::Options::default().with_schema(&schema);
        let store = contacts_postgres::PostgresStore::connect_with(&url, options).expect("connect");
        load(&store, n);
        let mut raw = postgres::Client::connect(&url, postgres::NoTls).expect("raw client");
        // Apart: VACUUM refuses to run in the transaction a multi-statement call makes.
        raw.batch_execute(&format!("SET search_path TO {schema}"))
            .expect("search path");
        raw.batch_execute("VACUUM ANALYZE contacts")
            .expect("vacuum");
        let group = format!("list_postgres_{n}");
        let e = engine(store);
        pages(c, &group, &e, n);
        let stmt = raw
            .prepare(
                "SELECT id, name, metadata, created_at, updated_at, version FROM contacts \
                 WHERE org = $1 ORDER BY created_at, id LIMIT 50",
            )
            .expect("prepare");
        let org_id = org().0;
        c.benchmark_group(group)
            .bench_function("floor_raw_first_page", |b| {
                b.iter(|| black_box(raw.query(&stmt, &[&org_id]).expect("rows")))
            });
        drop(e);
        raw.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .expect("drop the bench schema");
    }
}

criterion_group!(benches, inmemory, sqlite, postgres);
criterion_main!(benches);
