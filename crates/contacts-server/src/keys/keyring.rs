//! Checking presented keys against the environment's keys and a key store, with the
//! store's keys cached for [`KEY_CACHE_TTL`].

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use contacts_core::OrgId;
use subtle::ConstantTimeEq;

use super::format::hash_key;
use super::{KEY_CACHE_TTL, KeyError, KeyHash, KeyStore};

/// The store's active keys as last read, when that was, and whether that read worked
/// (`false`: the store was unreachable, and these are the keys of an earlier read, or
/// none).
type CachedKeys = (Instant, StoredKeys, bool);

/// The store's active keys, shared between the cache and the requests checking them.
type StoredKeys = Arc<Vec<(KeyHash, OrgId)>>;

/// Checks presented keys against the environment's keys and a [`KeyStore`].
#[derive(Debug)]
pub struct Keyring {
    store: Box<dyn KeyStore>,
    env: Vec<(KeyHash, OrgId)>,
    /// The store's active keys and when they were read.
    cache: RwLock<Option<CachedKeys>>,
    /// Held by the one caller reading the store.
    refreshing: Mutex<()>,
}

impl Keyring {
    /// A keyring over `store` plus the `env` keys.
    pub fn new(store: Box<dyn KeyStore>, env: Vec<(KeyHash, OrgId)>) -> Self {
        Keyring {
            store,
            env,
            cache: RwLock::new(None),
            refreshing: Mutex::new(()),
        }
    }

    /// The key store.
    pub fn store(&self) -> &dyn KeyStore {
        &*self.store
    }

    /// Whether there are no keys at all: none from the environment and none stored,
    /// revoked or not (a store whose keys were all revoked stays locked).
    ///
    /// # Errors
    /// As [`KeyStore::list`].
    pub fn is_empty(&self) -> Result<bool, KeyError> {
        Ok(self.env.is_empty() && self.store.list()?.is_empty())
    }

    /// Forgets the cached keys, so a key created or revoked in this process counts
    /// at once.
    pub fn invalidate(&self) {
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The org that `presented` opens, or `None`.
    ///
    /// `presented` is the `authorization` header's value: the raw key or
    /// `Bearer <key>`. Every known key is compared, each in constant time, so the
    /// time taken does not depend on which key (if any) matched or how much of it.
    ///
    /// The store is read again once per [`KEY_CACHE_TTL`], by one caller at a time:
    /// while it reads, the others check against the keys already cached. While the
    /// store is unreachable, the keys of its last good read keep working and the
    /// environment's keys always do.
    ///
    /// # Errors
    /// [`KeyError::Unavailable`] when the store cannot be read and `presented` is none
    /// of the keys still known: the request cannot be decided (the server answers 503).
    pub fn verify(&self, presented: &str) -> Result<Option<OrgId>, KeyError> {
        let (stored, complete) = match self.fresh() {
            Some(cached) => cached,
            None => self.refresh(),
        };
        match self.check(presented, &stored) {
            Some(org) => Ok(Some(org)),
            None if complete => Ok(None),
            None => Err(KeyError::Unavailable),
        }
    }

    /// The store's keys, read again unless another caller is reading them (then the
    /// cached ones, however old; only the very first read makes callers wait). A read
    /// that fails keeps the last good keys, marked incomplete, for another
    /// [`KEY_CACHE_TTL`].
    fn refresh(&self) -> (StoredKeys, bool) {
        let _turn = match self.refreshing.try_lock() {
            Ok(turn) => turn,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                if let Some((_, keys, complete)) =
                    self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
                {
                    return (keys, complete);
                }
                self.refreshing.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        if let Some(cached) = self.fresh() {
            return cached; // read by the caller this one waited for
        }
        let (keys, complete) = match self.store.active() {
            Ok(keys) => (Arc::new(keys), true),
            Err(e) => {
                tracing::warn!(error = %e, "the key store is unreachable: serving the keys it last gave");
                let stale = self
                    .cache
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map_or_else(|| Arc::new(Vec::new()), |(_, keys, _)| Arc::clone(keys));
                (stale, false)
            }
        };
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&keys), complete));
        (keys, complete)
    }

    /// [`Keyring::verify`] without touching the store: `None` when the cached keys
    /// are older than [`KEY_CACHE_TTL`] (then call `verify` where blocking is fine).
    /// The server's hot path uses this, so a request costs no trip to a blocking
    /// thread except about once a second.
    pub fn verify_cached(&self, presented: &str) -> Option<Option<OrgId>> {
        let (stored, complete) = self.fresh()?;
        match self.check(presented, &stored) {
            Some(org) => Some(Some(org)),
            None if complete => Some(None),
            // Not among the keys kept through an outage: `verify` decides.
            None => None,
        }
    }

    /// The cached store keys, if younger than [`KEY_CACHE_TTL`], and whether they
    /// come from a read that worked.
    fn fresh(&self) -> Option<(StoredKeys, bool)> {
        match &*self.cache.read().unwrap_or_else(|p| p.into_inner()) {
            Some((at, keys, complete)) if at.elapsed() < KEY_CACHE_TTL => {
                Some((Arc::clone(keys), *complete))
            }
            _ => None,
        }
    }

    fn check(&self, presented: &str, stored: &[(KeyHash, OrgId)]) -> Option<OrgId> {
        let key = presented.trim();
        let key = match key.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => key,
        };
        if key.is_empty() {
            return None;
        }
        let hash = hash_key(key);
        let mut found = None;
        for (candidate, org) in self.env.iter().chain(stored) {
            if bool::from(candidate.ct_eq(&hash)) {
                found = Some(*org);
            }
        }
        found
    }
}
