//! A resolve hit on the in-memory store allocates nothing (docs/benchmarks.md, "The
//! hot path"): the identifiers, keys and owners live inline, the contact is shared with
//! the store, and the matched identifier's value is stored inline. Counted with dhat's
//! allocator over a thousand hits, in its testing mode.
//!
//! One test per binary: dhat's allocator counts every allocation of the process.

use contacts_core::{Engine, OrgId, ResolveRequest};
use contacts_inmemory::InMemoryStore;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn a_resolve_hit_allocates_nothing() {
    let engine = Engine::new(InMemoryStore::new());
    let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    let people: Vec<(ResolveRequest, ResolveRequest)> = (0..100)
        .map(|i| {
            let phone = format!("+1415555{i:04}");
            let email = format!("person{i}@example.com");
            (
                ResolveRequest::new().with_phone(&phone),
                ResolveRequest::new().with_phone(phone).with_email(email),
            )
        })
        .collect();
    for (_, both) in &people {
        assert!(engine.resolve(org, both).unwrap().created);
    }

    let _profiler = dhat::Profiler::builder().testing().build();
    for (phone_only, both) in people.iter().cycle().take(1_000) {
        let before = dhat::HeapStats::get();
        // A hit by phone, and a hit by phone and email (both owned by the contact).
        let a = engine.resolve(org, phone_only).unwrap();
        let b = engine.resolve(org, both).unwrap();
        let after = dhat::HeapStats::get();
        assert!(!a.created && !b.created);
        assert_eq!(
            after.total_blocks - before.total_blocks,
            0,
            "a resolve hit allocated"
        );
        drop((a, b));
    }
}
