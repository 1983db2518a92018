//! Checking presented keys against the environment's keys and a key store, with the
//! store's keys cached for [`KEY_CACHE_TTL`].

use std::sync::{Arc, RwLock};
use std::time::Instant;

use contacts_core::OrgId;
use subtle::ConstantTimeEq;

use super::format::hash_key;
use super::{KEY_CACHE_TTL, KeyError, KeyHash, KeyStore};

/// The store's active keys as read at an instant.
type CachedKeys = (Instant, Arc<Vec<(KeyHash, OrgId)>>);

/// Checks presented keys against the environment's keys and a [`KeyStore`].
#[derive(Debug)]
pub struct Keyring {
    store: Box<dyn KeyStore>,
    env: Vec<(KeyHash, OrgId)>,
    /// The store's active keys and when they were read.
    cache: RwLock<Option<CachedKeys>>,
}

impl Keyring {
    /// A keyring over `store` plus the `env` keys.
    pub fn new(store: Box<dyn KeyStore>, env: Vec<(KeyHash, OrgId)>) -> Self {
        Keyring {
            store,
            env,
            cache: RwLock::new(None),
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
    /// # Errors
    /// [`KeyError`] when the store cannot be read.
    pub fn verify(&self, presented: &str) -> Result<Option<OrgId>, KeyError> {
        let stored = match self.fresh() {
            Some(keys) => keys,
            None => {
                let keys = Arc::new(self.store.active()?);
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), Arc::clone(&keys)));
                keys
            }
        };
        Ok(self.check(presented, &stored))
    }

    /// [`Keyring::verify`] without touching the store: `None` when the cached keys
    /// are older than [`KEY_CACHE_TTL`] (then call `verify` where blocking is fine).
    /// The server's hot path uses this, so a request costs no trip to a blocking
    /// thread except about once a second.
    pub fn verify_cached(&self, presented: &str) -> Option<Option<OrgId>> {
        let stored = self.fresh()?;
        Some(self.check(presented, &stored))
    }

    /// The cached store keys, if younger than [`KEY_CACHE_TTL`].
    fn fresh(&self) -> Option<Arc<Vec<(KeyHash, OrgId)>>> {
        match &*self.cache.read().unwrap_or_else(|p| p.into_inner()) {
            Some((at, keys)) if at.elapsed() < KEY_CACHE_TTL => Some(Arc::clone(keys)),
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
