//! The backend's own errors, mapped into the engine's categories.

use contacts_core::Error;
use contacts_core::store::CommitError;
use postgres::error::SqlState;

pub(crate) const BACKEND: &str = "postgres";

/// What can go wrong inside the PostgreSQL backend. Private: callers see
/// [`contacts_core::Error`] with one of these as its source.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    #[error("postgres: {0}")]
    Postgres(#[source] postgres::Error),
    #[error("no database connection: {0}")]
    Pool(#[source] r2d2::Error),
    #[error(
        "the database has schema version {found}, but this build supports up to \
         {supported}; refusing to use it (upgrade the software instead)"
    )]
    SchemaTooNew { found: i32, supported: i32 },
    #[error("the schema {0:?} does not exist in this database")]
    Missing(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl From<PgError> for Error {
    fn from(e: PgError) -> Self {
        Error::storage(BACKEND, e)
    }
}

pub(crate) fn read_error(e: postgres::Error) -> Error {
    PgError::Postgres(e).into()
}

/// Maps an error from inside a commit. A violated unique or foreign key means a
/// precondition of the batch failed (another writer got there first); a serialization
/// failure or a deadlock means the server chose this transaction to yield. Those are
/// [`CommitError::Precondition`], which makes the engine re-read and re-decide (its
/// retry is bounded); anything else is the backend failing.
pub(crate) fn commit_error(e: postgres::Error) -> CommitError {
    let lost_race = [
        SqlState::UNIQUE_VIOLATION,
        SqlState::FOREIGN_KEY_VIOLATION,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
    ];
    match e.code() {
        Some(code) if lost_race.contains(code) => {
            let detail = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned());
            CommitError::precondition(format!("a precondition failed in postgres: {detail}"))
        }
        _ => CommitError::backend(BACKEND, PgError::Postgres(e)),
    }
}

pub(crate) fn corrupt(what: impl Into<String>) -> Error {
    PgError::Corrupt(what.into()).into()
}
