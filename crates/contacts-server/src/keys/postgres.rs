//! Keys in the PostgreSQL schema of the contacts.

use std::fmt;
use std::sync::Mutex;

use contacts_core::{OrgId, Timestamp};

use super::{KeyError, KeyHash, KeyInfo, KeyStore, revoke_in};

fn db(e: postgres::Error) -> KeyError {
    KeyError::storage("postgres", e)
}

/// Keys in an `api_keys` table in the PostgreSQL schema of the contacts.
///
/// One connection of its own, opened again after the server closes it; key checks
/// are cached by [`Keyring`](super::Keyring), so this is touched about once a second.
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
    /// [`KeyError::Storage`] when the server cannot be reached or written.
    pub fn open(url: &str, schema: &str) -> Result<Self, KeyError> {
        let mut config: postgres::Config = url.parse().map_err(db)?;
        // An unreachable host must fail a key check in seconds, not the OS's minutes:
        // requests wait for it (docs/semantics.md 8, 503 while the key store is out).
        config
            .connect_timeout(std::time::Duration::from_secs(5))
            .options("-c statement_timeout=5000");
        let keys = PostgresKeys {
            config,
            schema: schema.to_owned(),
            client: Mutex::new(None),
        };
        // Under the migrations' lock: servers started together on a fresh schema would
        // otherwise race to create the table's row type and one would fail.
        let lock = contacts_postgres::migration_lock_key(schema);
        keys.with_client(|c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS api_keys (
                     hash       BYTEA PRIMARY KEY,
                     prefix     TEXT NOT NULL,
                     org_id     UUID NOT NULL,
                     created_at BIGINT NOT NULL,
                     revoked_at BIGINT
                 )",
            )?;
            tx.commit()
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
            let mut client = self.config.connect(postgres::NoTls).map_err(db)?;
            // The schema name was validated by the contacts store that created it.
            client
                .batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
                .map_err(db)?;
            *slot = Some(client);
        }
        // Set just above when it was missing.
        let client = slot.as_mut().expect("connected above");
        f(client).map_err(db)
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
