//! API keys: each key belongs to one org; keys are stored as SHA-256 hashes and
//! compared in constant time.
//!
//! Keys come from two places: a [`KeyStore`] (the `api_keys` table beside the
//! contacts, managed with `contacts keys create|list|revoke`) and the
//! `CONTACTS_API_KEYS` environment variable (`key=org_uuid` pairs, for tests and
//! container deployments). [`Keyring`] checks a presented key against both.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use contacts_core::{OrgId, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A key's SHA-256 digest: what is stored, never the key.
pub type KeyHash = [u8; 32];

/// How long [`Keyring`] trusts its copy of the stored keys. A key revoked by another
/// process (`contacts keys revoke` while `serve` runs) stops working within this.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Characters shown by `keys list` and accepted by `keys revoke`: `ck_` and 8 hex
/// digits. Enough to tell keys apart, useless for guessing the other 32 digits.
const PREFIX_LEN: usize = 11;

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key table could not be read or written.
    #[error("key store: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The PostgreSQL key table could not be read or written.
    #[error("key store: {0}")]
    Postgres(#[from] postgres::Error),
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
        keys.push((hash_key(key), org));
    }
    Ok(keys)
}

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

fn revoke_in<'a>(
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

/// Keys in an `api_keys` table of a SQLite file: the same file as the contacts, so
/// one file is the whole deployment.
///
/// The table is the server's own; it lives beside the store's tables without
/// touching them or the store's schema version (`CREATE TABLE IF NOT EXISTS`).
#[derive(Debug)]
pub struct SqliteKeys {
    conn: Mutex<rusqlite::Connection>,
}

impl SqliteKeys {
    /// Opens (and if needed creates) the key table in the SQLite file at `path`.
    ///
    /// # Errors
    /// [`KeyError::Storage`] when the file cannot be opened or written.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 hash       BLOB PRIMARY KEY,
                 prefix     TEXT NOT NULL,
                 org_id     TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 revoked_at INTEGER
             ) WITHOUT ROWID;",
        )?;
        Ok(SqliteKeys {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn info_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, Option<i64>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn parse_org(s: &str) -> Result<OrgId, KeyError> {
    s.parse()
        .map_err(|_| KeyError::Corrupt(format!("org_id {s:?} is not a UUID")))
}

impl KeyStore for SqliteKeys {
    fn insert(&self, hash: &KeyHash, info: &KeyInfo) -> Result<(), KeyError> {
        self.conn().execute(
            "INSERT INTO api_keys (hash, prefix, org_id, created_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                &hash[..],
                info.prefix,
                info.org_id.to_string(),
                info.created_at.as_millis(),
                info.revoked_at.map(Timestamp::as_millis),
            ],
        )?;
        Ok(())
    }

    fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT hash, org_id FROM api_keys WHERE revoked_at IS NULL")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, org) = row?;
            let hash: KeyHash = hash
                .try_into()
                .map_err(|_| KeyError::Corrupt("a hash is not 32 bytes".into()))?;
            out.push((hash, parse_org(&org)?));
        }
        Ok(out)
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
             ORDER BY created_at, prefix",
        )?;
        let rows = stmt.query_map([], info_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            let (prefix, org, created, revoked) = row?;
            out.push(KeyInfo {
                prefix,
                org_id: parse_org(&org)?,
                created_at: Timestamp::from_millis(created),
                revoked_at: revoked.map(Timestamp::from_millis),
            });
        }
        Ok(out)
    }

    fn revoke(&self, prefix: &str, now: Timestamp) -> Result<KeyInfo, KeyError> {
        let mut conn = self.conn();
        // One IMMEDIATE transaction: the match count and the update see the same rows.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut infos = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
                 WHERE ?1 <> '' AND substr(prefix, 1, length(?1)) = ?1",
            )?;
            let rows = stmt.query_map([prefix], info_from_row)?;
            for row in rows {
                let (prefix, org, created, revoked) = row?;
                infos.push(KeyInfo {
                    prefix,
                    org_id: parse_org(&org)?,
                    created_at: Timestamp::from_millis(created),
                    revoked_at: revoked.map(Timestamp::from_millis),
                });
            }
        }
        let info = revoke_in(infos.iter_mut(), prefix, now)?;
        tx.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE prefix = ?1 AND revoked_at IS NULL",
            rusqlite::params![info.prefix, now.as_millis()],
        )?;
        tx.commit()?;
        Ok(info)
    }
}

/// Keys in an `api_keys` table in the PostgreSQL schema of the contacts.
///
/// One connection of its own, opened again after the server closes it; key checks
/// are cached by [`Keyring`], so this is touched about once a second.
pub struct PostgresKeys {
    config: postgres::Config,
    schema: String,
    client: Mutex<Option<postgres::Client>>,
}

impl fmt::Debug for PostgresKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresKeys")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresKeys {
    /// Opens (and if needed creates) the key table in `schema` of the server at
    /// `url`. The schema must exist (open the contacts store first).
    ///
    /// # Errors
    /// [`KeyError::Postgres`] when the server cannot be reached or written.
    pub fn open(url: &str, schema: &str) -> Result<Self, KeyError> {
        let config: postgres::Config = url.parse()?;
        let keys = PostgresKeys {
            config,
            schema: schema.to_owned(),
            client: Mutex::new(None),
        };
        keys.with_client(|c| {
            c.batch_execute(
                "CREATE TABLE IF NOT EXISTS api_keys (
                     hash       BYTEA PRIMARY KEY,
                     prefix     TEXT NOT NULL,
                     org_id     UUID NOT NULL,
                     created_at BIGINT NOT NULL,
                     revoked_at BIGINT
                 )",
            )
        })?;
        Ok(keys)
    }

    /// Runs `f` on the connection, connecting first if there is none or the server
    /// closed it.
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, KeyError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(postgres::Client::is_closed) {
            let mut client = self.config.connect(postgres::NoTls)?;
            // The schema name was validated by the contacts store that created it.
            client.batch_execute(&format!("SET search_path TO \"{}\"", self.schema))?;
            *slot = Some(client);
        }
        // Set just above when it was missing.
        let client = slot.as_mut().expect("connected above");
        f(client).map_err(KeyError::from)
    }
}

fn pg_info(row: &postgres::Row) -> KeyInfo {
    KeyInfo {
        prefix: row.get(0),
        org_id: OrgId(row.get(1)),
        created_at: Timestamp::from_millis(row.get(2)),
        revoked_at: row.get::<_, Option<i64>>(3).map(Timestamp::from_millis),
    }
}

impl KeyStore for PostgresKeys {
    fn insert(&self, hash: &KeyHash, info: &KeyInfo) -> Result<(), KeyError> {
        self.with_client(|c| {
            c.execute(
                "INSERT INTO api_keys (hash, prefix, org_id, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &&hash[..],
                    &info.prefix,
                    &info.org_id.0,
                    &info.created_at.as_millis(),
                    &info.revoked_at.map(Timestamp::as_millis),
                ],
            )
            .map(|_| ())
        })
    }

    fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT hash, org_id FROM api_keys WHERE revoked_at IS NULL",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.get(0);
                let hash: KeyHash = hash
                    .try_into()
                    .map_err(|_| KeyError::Corrupt("a hash is not 32 bytes".into()))?;
                Ok((hash, OrgId(r.get(1))))
            })
            .collect()
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let rows = self.with_client(|c| {
            c.query(
                "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
                 ORDER BY created_at, prefix",
                &[],
            )
        })?;
        Ok(rows.iter().map(pg_info).collect())
    }

    fn revoke(&self, prefix: &str, now: Timestamp) -> Result<KeyInfo, KeyError> {
        let mut outcome = None;
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            // Locks the matching rows, so the count and the update agree.
            let rows = tx.query(
                "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
                 WHERE $1 <> '' AND left(prefix, length($1)) = $1 FOR UPDATE",
                &[&prefix],
            )?;
            let mut infos: Vec<KeyInfo> = rows.iter().map(pg_info).collect();
            let result = revoke_in(infos.iter_mut(), prefix, now);
            if let Ok(info) = &result {
                tx.execute(
                    "UPDATE api_keys SET revoked_at = $2 WHERE prefix = $1 AND revoked_at IS NULL",
                    &[&info.prefix, &now.as_millis()],
                )?;
            }
            tx.commit()?;
            outcome = Some(result);
            Ok(())
        })?;
        outcome.unwrap_or_else(|| Err(KeyError::NoMatch(prefix.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
