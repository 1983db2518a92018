//! The backend's own errors, mapped into the engine's categories.

use contacts_core::Error;
use contacts_core::store::CommitError;
use rusqlite::ffi;

pub(crate) const BACKEND: &str = "sqlite";

/// What can go wrong inside the SQLite backend. Private: callers see
/// [`contacts_core::Error`] with one of these as its source.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqliteError {
    #[error("the file is not a SQLite database (or is encrypted or corrupt)")]
    NotADatabase(#[source] rusqlite::Error),
    #[error(
        "the database has schema version {found}, but this build supports up to \
         {supported}; refusing to open it (upgrade the software instead)"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("{0} does not exist")]
    Missing(String),
    #[error(
        "SQLite {found} is too old: this store needs 3.44 or newer (build with the \
         `bundled` feature, the default, to get one)"
    )]
    TooOld { found: &'static str },
    #[error("{0} already exists; choose a new file")]
    Exists(String),
    #[error("could not switch the database to WAL mode (journal_mode is {0})")]
    NoWal(String),
    #[error("the database stayed locked by another writer past the busy timeout")]
    Busy(#[source] rusqlite::Error),
    #[error("the database stayed locked for 5 s while being copied")]
    BackupBusy,
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => SqliteError::NotADatabase(e),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                SqliteError::Busy(e)
            }
            _ => SqliteError::Sqlite(e),
        }
    }
}

impl From<SqliteError> for Error {
    fn from(e: SqliteError) -> Self {
        Error::storage(BACKEND, e)
    }
}

/// Maps an error from inside a commit. A violated unique, primary or foreign key is a
/// precondition the storage enforces (an identifier or scope taken by another writer,
/// a contact deleted meanwhile): a lost race. Anything else (a CHECK or NOT NULL
/// constraint, I/O, a lock held past the busy timeout) is the backend failing, and
/// must not be retried as a race.
pub(crate) fn commit_error(e: rusqlite::Error) -> CommitError {
    let extended = e.sqlite_error().map(|f| f.extended_code);
    let lost_race = matches!(
        extended,
        Some(
            ffi::SQLITE_CONSTRAINT_UNIQUE
                | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                | ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        )
    );
    if lost_race {
        CommitError::precondition(format!("a uniqueness precondition failed: {e}"))
    } else {
        CommitError::backend(BACKEND, SqliteError::from(e))
    }
}

pub(crate) fn read_error(e: rusqlite::Error) -> Error {
    SqliteError::from(e).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the constraints that enforce the engine's preconditions are lost races; a
    /// CHECK or NOT NULL violation is a bug, reported and never retried (contract
    /// rule 7).
    #[test]
    fn only_key_constraints_are_lost_races() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE,
                             c INTEGER CHECK (c > 0), n TEXT NOT NULL);
             CREATE TABLE f (p INTEGER REFERENCES p (id));
             INSERT INTO p VALUES (1, 'a', 1, 'x');",
        )
        .unwrap();
        let fail = |sql: &str| commit_error(conn.execute(sql, []).unwrap_err());
        for sql in [
            "INSERT INTO p VALUES (1, 'b', 1, 'x')",
            "INSERT INTO p VALUES (2, 'a', 1, 'x')",
            "INSERT INTO f VALUES (9)",
        ] {
            assert!(matches!(fail(sql), CommitError::Precondition(_)), "{sql}");
        }
        for sql in [
            "INSERT INTO p VALUES (3, 'c', 0, 'x')",
            "INSERT INTO p VALUES (4, 'd', 1, NULL)",
        ] {
            assert!(matches!(fail(sql), CommitError::Backend { .. }), "{sql}");
        }
    }
}
