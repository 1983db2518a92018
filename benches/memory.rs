//! Bytes per contact of the in-memory store, measured from resident memory growth
//! while `CONTACTS_BENCH_SIZE` contacts (one phone, a name, small metadata) are
//! resolved into it. Prints one line; `docs/benchmarks.md` quotes it at 1M.

// A measurement binary's whole purpose is to print its figure.
#![allow(clippy::print_stdout)]

use contacts_benches::{engine, org, phone, size};
use contacts_core::ResolveRequest;
use contacts_core::serde_json::json;
use contacts_inmemory::InMemoryStore;

/// Resident set size in bytes, from `/proc/self/statm` (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    // `cargo test --benches` passes libtest flags; this binary takes none.
    let n = size();
    let requests: Vec<ResolveRequest> = (0..n)
        .map(|i| {
            ResolveRequest::new()
                .with_phone(phone(i))
                .with_name(format!("Person {i}"))
                .with_metadata(json!({"source": "import"}))
        })
        .collect();
    let e = engine(InMemoryStore::new());
    // Warm the phone library and the allocator before measuring.
    e.resolve(org(), &ResolveRequest::new().with_phone("+19999999999"))
        .expect("warm");
    let Some(before) = rss() else {
        println!("memory: /proc/self/statm unavailable; no figure");
        return;
    };
    for r in &requests {
        e.resolve(org(), r).expect("resolve");
    }
    let after = rss().unwrap_or(before);
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "memory: {n} contacts, resident growth {} bytes, {per:.0} bytes per contact",
        after - before
    );
    drop(requests);
}
