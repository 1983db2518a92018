//! Keys in memory only.

use std::sync::Mutex;

use contacts_core::{OrgId, Timestamp};

use super::{KeyError, KeyHash, KeyInfo, KeyStore, revoke_in};

/// Keys held in memory only (for `serve --memory`, where nothing persists).
#[derive(Debug, Default)]
pub struct MemoryKeys {
    keys: Mutex<Vec<(KeyHash, KeyInfo)>>,
}

impl MemoryKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyStore for MemoryKeys {
    fn insert(&self, hash: &KeyHash, info: &KeyInfo) -> Result<(), KeyError> {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((*hash, info.clone()));
        Ok(())
    }

    fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys
            .iter()
            .filter(|(_, i)| i.revoked_at.is_none())
            .map(|(h, i)| (*h, i.org_id))
            .collect())
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys.iter().map(|(_, i)| i.clone()).collect())
    }

    fn revoke(&self, prefix: &str, now: Timestamp) -> Result<KeyInfo, KeyError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        revoke_in(
            keys.iter_mut()
                .map(|(_, i)| i)
                .filter(|i| !prefix.is_empty() && i.prefix.starts_with(prefix)),
            prefix,
            now,
        )
    }
}
