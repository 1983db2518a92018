//! Replays every committed seed and regression input of the `requests` and `phone`
//! fuzz targets on stable, so CI runs them.

use std::path::Path;

use contacts_testkit::fuzz::{corpus, fuzz_phone, fuzz_requests};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn replay_requests() {
    for (path, bytes) in corpus(root(), "requests") {
        eprintln!("replaying {}", path.display());
        fuzz_requests(contacts_inmemory::InMemoryStore::new(), &bytes);
    }
}

#[test]
fn replay_phone() {
    for (path, bytes) in corpus(root(), "phone") {
        eprintln!("replaying {}", path.display());
        fuzz_phone(&bytes);
    }
}
