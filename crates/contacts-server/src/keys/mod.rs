//! API keys: each key belongs to one org; keys are stored as SHA-256 hashes and
//! compared in constant time.
//!
//! Keys come from two places: a [`KeyStore`] (the `api_keys` table beside the
//! contacts, managed with `contacts keys create|list|revoke`) and the
//! `CONTACTS_API_KEYS` environment variable (`key=org_uuid` pairs, for tests and
//! container deployments). [`Keyring`] checks a presented key against both.
//!
//! - `format.rs`: the key format, hashing, generation, the environment variable;
//! - `keyring.rs`: checking presented keys, with a short-lived cache;
//! - `memory.rs`, `sqlite.rs`, `postgres.rs`: one file per key store.

mod format;
mod keyring;
mod memory;
mod postgres;
mod sqlite;

pub use format::{generate_key, hash_key, parse_env_keys};
pub use keyring::Keyring;
pub use memory::MemoryKeys;
pub use postgres::PostgresKeys;
pub use sqlite::SqliteKeys;

use std::fmt;
use std::time::Duration;

use contacts_core::{BoxError, OrgId, Timestamp};
use serde::Serialize;

/// A key's SHA-256 digest: what is stored, never the key.
pub type KeyHash = [u8; 32];

/// How long [`Keyring`] trusts its copy of the stored keys. A key revoked by another
/// process (`contacts keys revoke` while `serve` runs) stops working within this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Characters shown by `keys list` and accepted by `keys revoke`: `ck_` and 8 hex
/// digits. Enough to tell keys apart, useless for guessing the other 32 digits.
pub(crate) const PREFIX_LEN: usize = 11;

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key table could not be read or written.
    #[error("key store ({backend}): {source}")]
    Storage {
        /// Which store (`sqlite`, `postgres`).
        backend: &'static str,
        /// Its own error.
        #[source]
        source: BoxError,
    },
    /// The key store is unreachable and the presented key is none of those still known
    /// (the environment's, or the store's from its last good read).
    #[error("the key store is unreachable")]
    Unavailable,
    /// `revoke` matched no stored key.
    #[error("no API key starts with {0:?}")]
    NoMatch(String),
    /// `revoke` matched several keys; give more characters.
    #[error("{count} API keys start with {prefix:?}; give more of the prefix")]
    Ambiguous {
        /// What was given.
        prefix: String,
        /// How many keys it matched.
        count: usize,
    },
    /// `CONTACTS_API_KEYS` is malformed.
    #[error("CONTACTS_API_KEYS: {0}")]
    Env(String),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// A stored row is not what this version writes.
    #[error("key store holds a malformed row: {0}")]
    Corrupt(String),
}

/// A stored key as `keys list` shows it: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The key's first characters.
    pub prefix: String,
    /// The org it opens.
    pub org_id: OrgId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Where keys are kept.
///
/// Implementations store only [`KeyHash`]es. `active` is called at most once per
/// [`KEY_CACHE_TTL`] by [`Keyring`], the others only by key management.
pub trait KeyStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a new key.
    ///
    /// # Errors
    /// [`KeyError::Storage`].
    fn insert(&self, hash: &KeyHash, info: &KeyInfo) -> Result<(), KeyError>;

    /// The hashes and orgs of the keys that are not revoked.
    ///
    /// # Errors
    /// [`KeyError::Storage`], [`KeyError::Corrupt`].
    fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError>;

    /// Every stored key, revoked ones included, oldest first.
    ///
    /// # Errors
    /// [`KeyError::Storage`], [`KeyError::Corrupt`].
    fn list(&self) -> Result<Vec<KeyInfo>, KeyError>;

    /// Revokes the one key whose prefix starts with `prefix`.
    ///
    /// # Errors
    /// [`KeyError::NoMatch`], [`KeyError::Ambiguous`], [`KeyError::Storage`].
    fn revoke(&self, prefix: &str, now: Timestamp) -> Result<KeyInfo, KeyError>;
}

impl KeyError {
    pub(crate) fn storage(backend: &'static str, source: impl Into<BoxError>) -> Self {
        KeyError::Storage {
            backend,
            source: source.into(),
        }
    }
}

/// Marks `info` revoked at `now` if `matches` holds exactly one key: what every store's
/// `revoke` decides once it has found the keys that start with `prefix`.
pub(crate) fn revoke_in<'a>(
    matches: impl Iterator<Item = &'a mut KeyInfo>,
    prefix: &str,
    now: Timestamp,
) -> Result<KeyInfo, KeyError> {
    let mut matches: Vec<&mut KeyInfo> = matches.collect();
    match matches.len() {
        0 => Err(KeyError::NoMatch(prefix.to_owned())),
        1 => {
            let info = &mut matches[0];
            info.revoked_at.get_or_insert(now);
            Ok(info.clone())
        }
        count => Err(KeyError::Ambiguous {
            prefix: prefix.to_owned(),
            count,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::format::hash_key;

    fn org(n: u128) -> OrgId {
        OrgId(uuid::Uuid::from_u128(n))
    }

    fn ring_with(store: impl KeyStore) -> (Keyring, String, String) {
        let (k1, i1) = generate_key(org(1), Timestamp::from_millis(1)).unwrap();
        store.insert(&hash_key(&k1), &i1).unwrap();
        let env = parse_env_keys(&format!("env-key={}", org(2))).unwrap();
        (Keyring::new(Box::new(store), env), k1, "env-key".into())
    }

    fn check_verify(store: impl KeyStore) {
        let (ring, stored, env) = ring_with(store);
        assert_eq!(ring.verify(&stored).unwrap(), Some(org(1)));
        assert_eq!(
            ring.verify(&format!("Bearer {stored}")).unwrap(),
            Some(org(1))
        );
        assert_eq!(
            ring.verify(&format!("bearer  {stored} ")).unwrap(),
            Some(org(1))
        );
        assert_eq!(ring.verify(&env).unwrap(), Some(org(2)));
        assert_eq!(ring.verify("").unwrap(), None);
        assert_eq!(ring.verify("Bearer ").unwrap(), None);
        assert_eq!(ring.verify(&stored[..stored.len() - 1]).unwrap(), None);
        // Fresh after `verify` read the store: the cached path answers alike.
        assert_eq!(ring.verify_cached(&stored), Some(Some(org(1))));
        assert_eq!(ring.verify_cached("nope"), Some(None));
        let prefix = &stored[..PREFIX_LEN];
        ring.store()
            .revoke(prefix, Timestamp::from_millis(2))
            .unwrap();
        ring.invalidate();
        assert_eq!(
            ring.verify_cached(&stored),
            None,
            "stale: the store must be read"
        );
        assert_eq!(ring.verify(&stored).unwrap(), None);
        let listed = ring.store().list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_at, Some(Timestamp::from_millis(2)));
        assert!(!ring.is_empty().unwrap());
    }

    /// A key store that can be made unreachable.
    #[derive(Debug, Default)]
    struct Flaky {
        keys: MemoryKeys,
        down: std::sync::atomic::AtomicBool,
    }

    impl Flaky {
        fn up(&self) -> Result<(), KeyError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                Err(KeyError::storage("test", "connection refused"))
            } else {
                Ok(())
            }
        }
    }

    impl KeyStore for std::sync::Arc<Flaky> {
        fn insert(&self, hash: &KeyHash, info: &KeyInfo) -> Result<(), KeyError> {
            self.up()?;
            self.keys.insert(hash, info)
        }
        fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
            self.up()?;
            self.keys.active()
        }
        fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
            self.up()?;
            self.keys.list()
        }
        fn revoke(&self, prefix: &str, now: Timestamp) -> Result<KeyInfo, KeyError> {
            self.up()?;
            self.keys.revoke(prefix, now)
        }
    }

    /// Issue 18: while the key store is unreachable, the environment's keys and the
    /// store's keys from its last good read keep working; a key that cannot be decided
    /// is an error (a 503), never a silent 401.
    #[test]
    fn keys_keep_working_through_a_key_store_outage() {
        let flaky = std::sync::Arc::new(Flaky::default());
        let (ring, stored, env) = ring_with(std::sync::Arc::clone(&flaky));
        assert_eq!(ring.verify(&stored).unwrap(), Some(org(1)));
        flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
        ring.invalidate();
        // `invalidate` forgot the keys: only the environment's are known now.
        assert_eq!(ring.verify(&env).unwrap(), Some(org(2)));
        assert!(matches!(ring.verify(&stored), Err(KeyError::Unavailable)));

        let (ring, stored, env) = {
            flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
            let ring = Keyring::new(
                Box::new(std::sync::Arc::clone(&flaky)),
                parse_env_keys(&format!("env-key={}", org(2))).unwrap(),
            );
            (ring, stored, env)
        };
        assert_eq!(ring.verify(&stored).unwrap(), Some(org(1)));
        flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(KEY_CACHE_TTL);
        // Past the cache's life, the store fails: its last keys still open their orgs.
        assert_eq!(ring.verify(&stored).unwrap(), Some(org(1)));
        assert_eq!(ring.verify_cached(&stored), Some(Some(org(1))));
        assert_eq!(ring.verify(&env).unwrap(), Some(org(2)));
        assert!(matches!(
            ring.verify("ck_unknown"),
            Err(KeyError::Unavailable)
        ));
        assert_eq!(
            ring.verify_cached("ck_unknown"),
            None,
            "undecided, not refused"
        );
        flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(KEY_CACHE_TTL);
        assert_eq!(
            ring.verify("ck_unknown").unwrap(),
            None,
            "decided again once it is back"
        );
    }

    #[test]
    fn memory_keys_verify_bearer_env_and_revocation() {
        check_verify(MemoryKeys::new());
    }

    #[test]
    fn sqlite_keys_verify_bearer_env_and_revocation() {
        let dir = tempfile::tempdir().unwrap();
        check_verify(SqliteKeys::open(&dir.path().join("k.db")).unwrap());
    }

    #[test]
    fn sqlite_keys_store_only_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let store = SqliteKeys::open(&path).unwrap();
        let (key, info) = generate_key(org(1), Timestamp::from_millis(1)).unwrap();
        store.insert(&hash_key(&key), &info).unwrap();
        drop(store);
        let bytes = std::fs::read(&path).unwrap();
        let secret = &key.as_bytes()[PREFIX_LEN..];
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    }

    #[test]
    fn revoke_needs_a_unique_nonempty_prefix() {
        let store = MemoryKeys::new();
        for n in 0..2 {
            let (key, mut info) = generate_key(org(n), Timestamp::from_millis(1)).unwrap();
            info.prefix = format!("ck_aaaa{n}");
            store.insert(&hash_key(&key), &info).unwrap();
        }
        let now = Timestamp::from_millis(5);
        assert!(matches!(store.revoke("", now), Err(KeyError::NoMatch(_))));
        assert!(matches!(
            store.revoke("ck_b", now),
            Err(KeyError::NoMatch(_))
        ));
        assert!(matches!(
            store.revoke("ck_aaaa", now),
            Err(KeyError::Ambiguous { count: 2, .. })
        ));
        assert_eq!(store.revoke("ck_aaaa1", now).unwrap().org_id, org(1));
        assert_eq!(store.active().unwrap().len(), 1);
    }

    #[test]
    fn env_keys_parse_and_reject_malformed_pairs() {
        let keys = parse_env_keys(&format!(" a={} ,, b = {} ", org(1), org(2))).unwrap();
        assert_eq!(keys, vec![(hash_key("a"), org(1)), (hash_key("b"), org(2))]);
        assert!(matches!(parse_env_keys("novalue"), Err(KeyError::Env(_))));
        assert!(
            matches!(parse_env_keys("secret=not-a-uuid"), Err(KeyError::Env(m)) if m.contains("pair 1") && !m.contains("secret"))
        );
        assert!(matches!(
            parse_env_keys(&format!("={}", org(1))),
            Err(KeyError::Env(_))
        ));
    }
}
