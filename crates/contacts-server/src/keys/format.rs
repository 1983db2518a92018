//! The key format: `ck_` and 40 hex digits (160 bits from the OS), stored only as a
//! SHA-256 hash; and the `CONTACTS_API_KEYS` environment variable.

use contacts_core::{OrgId, Timestamp};
use sha2::{Digest, Sha256};

use super::{KeyError, KeyHash, KeyInfo, PREFIX_LEN};

/// The SHA-256 of `key`.
pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key (`ck_` and 40 hex digits: 160 bits from the OS) and its info.
///
/// # Errors
/// [`KeyError::Random`] if the OS has no randomness to give.
pub fn generate_key(org: OrgId, now: Timestamp) -> Result<(String, KeyInfo), KeyError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    let mut key = String::with_capacity(43);
    key.push_str("ck_");
    for b in bytes {
        key.push_str(&format!("{b:02x}"));
    }
    let info = KeyInfo {
        prefix: key[..PREFIX_LEN].to_owned(),
        org_id: org,
        created_at: now,
        revoked_at: None,
    };
    Ok((key, info))
}

/// Parses `CONTACTS_API_KEYS`: comma-separated `key=org_uuid` pairs; blanks between
/// commas are ignored.
///
/// # Errors
/// [`KeyError::Env`] naming the malformed pair (by position, never by its key).
pub fn parse_env_keys(value: &str) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
    let mut keys = Vec::new();
    for (i, pair) in value.split(',').enumerate() {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((key, org)) = pair.rsplit_once('=') else {
            return Err(KeyError::Env(format!("pair {} is not key=org_uuid", i + 1)));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(KeyError::Env(format!("pair {} has an empty key", i + 1)));
        }
        let org: OrgId = org
            .trim()
            .parse()
            .map_err(|_| KeyError::Env(format!("pair {}: the org is not a UUID", i + 1)))?;
        let hash = hash_key(key);
        if let Some(j) = keys.iter().position(|(h, _)| *h == hash) {
            return Err(KeyError::Env(format!(
                "pairs {} and {} give the same key (each key opens one org)",
                j + 1,
                i + 1
            )));
        }
        keys.push((hash, org));
    }
    Ok(keys)
}
