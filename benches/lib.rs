//! Shared set-up for the benchmarks: data sets of a given size, loaded the way the
//! engine stores them.
//!
//! ```
//! let n = contacts_benches::size();
//! assert!(n > 0);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use contacts_core::serde_json::json;
use contacts_core::store::{WriteBatch, WriteOp};
use contacts_core::uuid::Uuid;
use contacts_core::{
    Contact, ContactId, Engine, Identifier, IdentifierId, IdentifierKind, OrgId, ResolveRequest,
    Store, Timestamp,
};

/// Contacts per data set: `CONTACTS_BENCH_SIZE`, default 10,000 (quick enough for
/// `cargo test --benches`).
pub fn size() -> u64 {
    std::env::var("CONTACTS_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The org every benchmark uses.
pub fn org() -> OrgId {
    OrgId(Uuid::from_u128(0x1111_1111_2222_3333_4444_5555_5555_5555))
}

/// The phone of person `i`, canonical E.164.
pub fn phone(i: u64) -> String {
    format!("+1415{i:07}")
}

/// The same number, written the way people type it.
pub fn formatted_phone(i: u64) -> String {
    format!("+1 (415) {:03}-{:04}", i / 10_000, i % 10_000)
}

/// The email of person `i`.
pub fn email(i: u64) -> String {
    format!("person{i}@example.com")
}

/// Loads `n` people (a phone, an email, a name and small metadata each) into `store`
/// in batches, through the store's own commit path, so the data is exactly what the
/// engine writes.
///
/// # Panics
/// If the store refuses a batch.
pub fn load<S: Store>(store: &S, n: u64) {
    const BATCH: u64 = 10_000;
    let t = Timestamp::from_millis(1_753_180_200_000);
    for start in (0..n).step_by(BATCH as usize) {
        let mut batch = WriteBatch::default();
        for i in start..(start + BATCH).min(n) {
            let id = ContactId(Uuid::now_v7());
            let mut metadata = contacts_core::Metadata::new();
            metadata.insert("source", json!("import"));
            batch.ops.push(WriteOp::InsertContact(Contact {
                id,
                org_id: org(),
                name: Some(format!("Person {i}").into()),
                metadata,
                created_at: t,
                updated_at: t,
            }));
            for (kind, value) in [
                (IdentifierKind::PhoneNumber, phone(i)),
                (IdentifierKind::Email, email(i)),
            ] {
                batch.ops.push(WriteOp::InsertIdentifier(Identifier {
                    id: IdentifierId(Uuid::now_v7()),
                    contact_id: id,
                    identifier_type: kind,
                    identifier_value: value,
                    is_primary: true,
                }));
            }
        }
        store.commit(org(), &batch).expect("bulk load");
    }
}

/// A pseudo-random walk over `0..n` (an LCG), so lookups do not walk memory in order.
#[derive(Debug)]
pub struct Walk {
    state: AtomicU64,
    n: u64,
}

impl Walk {
    /// A walk over `0..n`.
    pub fn new(n: u64, seed: u64) -> Self {
        Walk {
            state: AtomicU64::new(seed | 1),
            n,
        }
    }

    /// The next index.
    pub fn next_index(&self) -> u64 {
        let x = self
            .state
            .load(Ordering::Relaxed)
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.state.store(x, Ordering::Relaxed);
        (x >> 33) % self.n
    }
}

/// An engine over `store` with the default configuration.
pub fn engine<S: Store>(store: S) -> Engine<S> {
    Engine::new(store)
}

/// A resolve request for person `i` by canonical phone.
pub fn by_phone(i: u64) -> ResolveRequest {
    ResolveRequest::new().with_phone(phone(i))
}

/// The six contact columns the SQLite floors read (id, name, metadata, created_at,
/// updated_at, version), as owned values.
pub type RawContact = (Vec<u8>, Option<String>, String, i64, i64, i64);

/// A floor's row of [`RawContact`] columns.
///
/// # Errors
/// When a column does not have the expected type.
pub fn raw_contact(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawContact> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// The PostgreSQL server the benches use: `CONTACTS_BENCH_POSTGRES_URL`, else the
/// tests' `CONTACTS_TEST_POSTGRES_URL`; `None` (saying so on stderr) when neither is set.
#[allow(clippy::print_stderr)]
pub fn postgres_url() -> Option<String> {
    let url = ["CONTACTS_BENCH_POSTGRES_URL", "CONTACTS_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    if url.is_none() {
        eprintln!("SKIPPED postgres benchmarks: CONTACTS_BENCH_POSTGRES_URL is not set");
    }
    url
}
