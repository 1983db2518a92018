//! Files a command writes must never be files it reads: the database (and its
//! `-wal`, `-shm` and `-journal`), the input, the settings file, or another of its own
//! outputs. Paths are compared where they point (links followed) and, for files that
//! exist, by identity (device and inode), so neither a symlink nor a hard link gets a
//! report written over a database.

use std::path::{Path, PathBuf};

use super::UsageError;
use super::storage::{Backend, StorageArgs};

/// A file's device and inode.
type Identity = (u64, u64);

/// The files a command must not overwrite: where each points, what it is (when it
/// exists), and how a refusal describes it.
#[derive(Debug, Default)]
pub(super) struct Protected {
    files: Vec<(PathBuf, Option<Identity>, String)>,
}

impl Protected {
    /// Protects `path`, described as `what` in the refusal.
    pub(super) fn add(&mut self, path: &Path, what: &str) {
        self.files
            .push((place(path), identity(path), what.to_owned()));
    }

    /// Protects the SQLite database the command opens, with its journal files (named
    /// after where the database really is: SQLite follows a symlinked path).
    pub(super) fn database(&mut self, storage: &StorageArgs) {
        if let Ok(Backend::Sqlite(db)) = storage.backend() {
            let real = place(&db);
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let path = PathBuf::from(format!("{}{suffix}", real.display()));
                self.add(&path, "the database");
                if suffix.is_empty() && db != real {
                    self.add(
                        &PathBuf::from(format!("{}{suffix}", db.display())),
                        "the database",
                    );
                }
            }
        }
    }

    /// Refuses `out` if it is one of the protected files.
    ///
    /// # Errors
    /// A [`UsageError`] naming what `out` is.
    pub(super) fn check(&self, out: &Path) -> Result<(), UsageError> {
        let (at, id) = (place(out), identity(out));
        let hit = self
            .files
            .iter()
            .find(|(p, i, _)| *p == at || (id.is_some() && *i == id));
        match hit {
            Some((_, _, what)) => Err(UsageError(format!(
                "{} is {what}: choose another output file",
                out.display()
            ))),
            None => Ok(()),
        }
    }
}

/// Where a path points: the file itself when it exists (links followed), else its
/// directory's real path and its name.
pub(super) fn place(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<Identity> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_a_protected_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("real.db");
        std::fs::write(&db, "x").unwrap();
        let mut p = Protected::default();
        p.add(&db, "the database");
        let hard = dir.path().join("hard.db");
        std::fs::hard_link(&db, &hard).unwrap();
        assert!(p.check(&hard).is_err(), "a hard link");
        #[cfg(unix)]
        {
            let soft = dir.path().join("soft.db");
            std::os::unix::fs::symlink(&db, &soft).unwrap();
            assert!(p.check(&soft).is_err(), "a symlink");
        }
        let nested = dir.path().join("sub");
        std::fs::create_dir(&nested).unwrap();
        assert!(
            p.check(&nested.join("../real.db")).is_err(),
            "a path through .."
        );
        assert!(p.check(&dir.path().join("other.db")).is_ok());
    }
}
