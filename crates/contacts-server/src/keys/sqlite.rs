//! Keys in the SQLite file of the contacts.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use contacts_core::{OrgId, Timestamp};

use super::{KeyError, KeyHash, KeyInfo, KeyStore, revoke_in};

fn db(e: rusqlite::Error) -> KeyError {
    KeyError::storage("sqlite", e)
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
        let conn = rusqlite::Connection::open(path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys (
                 hash       BLOB PRIMARY KEY,
                 prefix     TEXT NOT NULL,
                 org_id     TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 revoked_at INTEGER
             ) WITHOUT ROWID;",
        )
        .map_err(db)?;
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
        self.conn()
            .execute(
                "INSERT INTO api_keys (hash, prefix, org_id, created_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    &hash[..],
                    info.prefix,
                    info.org_id.to_string(),
                    info.created_at.as_millis(),
                    info.revoked_at.map(Timestamp::as_millis),
                ],
            )
            .map_err(db)?;
        Ok(())
    }

    fn active(&self) -> Result<Vec<(KeyHash, OrgId)>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT hash, org_id FROM api_keys WHERE revoked_at IS NULL")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, org) = row.map_err(db)?;
            let hash: KeyHash = hash
                .try_into()
                .map_err(|_| KeyError::Corrupt("a hash is not 32 bytes".into()))?;
            out.push((hash, parse_org(&org)?));
        }
        Ok(out)
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
             ORDER BY created_at, prefix",
            )
            .map_err(db)?;
        let rows = stmt.query_map([], info_from_row).map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (prefix, org, created, revoked) = row.map_err(db)?;
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
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let mut infos = Vec::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT prefix, org_id, created_at, revoked_at FROM api_keys
                 WHERE ?1 <> '' AND substr(prefix, 1, length(?1)) = ?1",
                )
                .map_err(db)?;
            let rows = stmt.query_map([prefix], info_from_row).map_err(db)?;
            for row in rows {
                let (prefix, org, created, revoked) = row.map_err(db)?;
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
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(info)
    }
}
