//! Request ids for requests that come without one: UUID-shaped (version 4 layout) and
//! unique within the process, made without a system call.
//!
//! tower-http's `MakeRequestUuid` asks the kernel for 16 random bytes per request
//! (`getrandom`), which costs more than a cached resolve hit's whole engine call
//! (docs/benchmarks.md, "HTTP edge"). An id only has to tell requests apart in logs,
//! not be unguessable, so each is a random key taken once per process with a counter
//! folded into its low half: XOR with a fixed key is one-to-one, so two requests of
//! one process never share an id, and two processes share one only if their 128-bit
//! keys happen to meet.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes the ids (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ProcessIds;

/// The process's key: from the OS once, or, if it cannot give one, the clock's
/// nanoseconds (ids then stay unique within the process, which is what logs need).
fn key() -> u128 {
    static KEY: OnceLock<u128> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = now.to_le_bytes();
        }
        u128::from_le_bytes(bytes)
    })
}

/// The `n`th id of the process with `key`. The version bits lie in the key's half; the
/// variant bits overwrite bits 62 and 63 of the counter's, so ids repeat only after
/// 2^62 requests.
fn nth(key: u128, n: u64) -> uuid::Uuid {
    let bits = key ^ u128::from(n);
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
}

impl MakeRequestId for ProcessIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let mut text = uuid::Uuid::encode_buffer();
        let id = nth(key(), n).hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let key = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        let ids: std::collections::HashSet<uuid::Uuid> = (0..10_000).map(|n| nth(key, n)).collect();
        assert_eq!(
            ids.len(),
            10_000,
            "no two of the first 10,000 ids are equal"
        );
        for id in &ids {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
        // The counter changes the low half alone.
        assert_eq!(
            nth(key, 0).as_u128() >> 64,
            nth(key, 1 << 40).as_u128() >> 64
        );
    }

    #[test]
    fn the_server_makes_distinct_ids() {
        let request = Request::new(());
        let mut ids = ProcessIds;
        let a = ids.make_request_id(&request).expect("an id");
        let b = ids.make_request_id(&request).expect("an id");
        assert_ne!(a.header_value(), b.header_value());
        let text = a.header_value().to_str().unwrap();
        assert!(uuid::Uuid::parse_str(text).is_ok(), "{text}");
    }
}
