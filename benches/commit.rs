//! Group commit (docs/benchmarks.md, "Group commit"): eight threads creating contacts on
//! one SQLite file with `Durability::Normal` (the floor: no fsync), with
//! `Durability::Full` and group commit (the default), and with `Durability::Full`
//! without it (one fsync per create). Each figure is the time per create across all
//! eight threads; the ratio of two is their throughput ratio.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contacts_benches::{by_phone, engine, org};
use contacts_sqlite::{Durability, Options, SqliteStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const THREADS: u64 = 8;

fn creates(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_8_threads");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    for (name, options) in [
        ("normal", Options::default()),
        (
            "full_group_commit",
            Options::default().with_durability(Durability::Full),
        ),
        (
            "full_one_fsync_each",
            Options::default()
                .with_durability(Durability::Full)
                .with_group_commit(false),
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = Arc::new(engine(
            SqliteStore::open_with(dir.path().join("bench.db"), options).expect("open"),
        ));
        let next = Arc::new(AtomicU64::new(0));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let threads: Vec<_> = (0..THREADS)
                    .map(|_| {
                        let (e, next) = (Arc::clone(&e), Arc::clone(&next));
                        std::thread::spawn(move || {
                            for _ in 0..iters.div_ceil(THREADS) {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                black_box(e.resolve(org(), &by_phone(i)).expect("create"));
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("bench thread");
                }
                start.elapsed()
            })
        });
        let stats = e.store().group_commit_stats();
        if stats.groups > 0 {
            eprintln!(
                "{name}: {} batches in {} transactions ({:.1} per fsync)",
                stats.batches,
                stats.groups,
                stats.batches as f64 / stats.groups as f64
            );
        }
    }
    g.finish();
}

criterion_group!(benches, creates);
criterion_main!(benches);
