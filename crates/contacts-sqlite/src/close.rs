//! Closing and copying a database: one file left behind, and a consistent copy while
//! others write.

use std::path::Path;
use std::time::Duration;

use contacts_core::Result;
use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::error::{SqliteError, read_error};
use crate::{Inner, SqliteStore, lock};

impl Drop for Inner {
    /// The read-only connections close before the writer. SQLite folds the WAL back
    /// into the database and deletes it when the last connection to the file closes,
    /// but only a connection that may write can do so; were a reader last, a stopped
    /// application would leave its newest data in `-wal`, and a copy of the main file
    /// alone would miss it.
    fn drop(&mut self) {
        self.cache.take();
        self.readers.clear();
        // The writer (a field) closes after this returns.
    }
}

impl SqliteStore {
    /// Writes a consistent copy of the whole database to `dest` (SQLite's online
    /// backup, in one step: the copy is the database as of one moment, even while
    /// other connections or processes write). `dest` must not exist; the copy is a
    /// complete database in one file, with no `-wal` beside it.
    ///
    /// ```
    /// use contacts_core::{Engine, OrgId, ResolveRequest};
    /// use contacts_sqlite::SqliteStore;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SqliteStore::open(dir.path().join("contacts.db"))?;
    /// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
    /// let engine = Engine::new(store.clone());
    /// engine.resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    ///
    /// let copy = dir.path().join("copy.db");
    /// store.backup_to(&copy)?;
    /// let again = Engine::new(SqliteStore::open(&copy)?)
    ///     .resolve(org, &ResolveRequest::new().with_phone("+14155550192"))?;
    /// assert!(!again.created);
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`](contacts_core::Error::Storage) when `dest` exists or cannot
    /// be written, or the source cannot be read.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref();
        if dest.exists() {
            return Err(SqliteError::Exists(dest.display().to_string()).into());
        }
        // Copied beside `dest` under another name and linked into place only once
        // whole: a failed copy leaves nothing that would block the next attempt, and
        // a file that appeared at `dest` meanwhile is never replaced.
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".to_owned());
        let partial = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let result = self.copy_into(&partial).and_then(|()| {
            std::fs::hard_link(&partial, dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    SqliteError::Exists(dest.display().to_string()).into()
                } else {
                    contacts_core::Error::storage("sqlite", e)
                }
            })
        });
        let _ = std::fs::remove_file(&partial);
        result
    }

    fn copy_into(&self, path: &Path) -> Result<()> {
        let mut target = Connection::open(path).map_err(read_error)?;
        {
            // A reader is enough to copy from, and leaves the writer to the writers.
            let source = match self.inner.readers.first() {
                Some(reader) => lock(reader),
                None => lock(&self.inner.writer),
            };
            let backup = Backup::new(&source, &mut target).map_err(read_error)?;
            // All pages in one step: one read transaction, so one consistent moment
            // (a step that finds the source locked sleeps and tries again).
            let mut waits = 0;
            loop {
                match backup.step(-1).map_err(read_error)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    // Locked out for about the busy timeout: give up, as a writer would.
                    _ if waits == 250 => {
                        return Err(SqliteError::BackupBusy.into());
                    }
                    _ => {
                        waits += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        // The copy is a plain rollback-journal file until it is opened as a store.
        target.close().map_err(|(_, e)| SqliteError::from(e).into())
    }
}
