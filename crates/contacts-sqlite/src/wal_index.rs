//! The WAL-index header: SQLite's own change check, read without a transaction.
//!
//! In WAL mode every commit rewrites the header at the start of the `-shm` shared
//! memory (its commit counter, last frame and salts; the layout is documented in
//! <https://www.sqlite.org/walformat.html>, "The WAL-Index Header"), and a connection
//! compares that header with the one it last saw to decide whether its page cache is
//! still valid. `PRAGMA data_version` is derived from the same comparison, but it costs
//! a read transaction: two `fcntl` system calls, about 3 µs. Reading the header
//! ourselves costs a few loads.
//!
//! The header is read through the mapping SQLite already holds for a connection
//! (`SQLITE_FCNTL_FILE_POINTER`, then the VFS's `xShmMap` with `bExtend = 0`), never
//! through a descriptor of our own: closing any descriptor on the `-shm` file would drop
//! this process's POSIX locks on it, and with them the lock that stops another process
//! from reinitialising the memory under live connections.
//!
//! Like SQLite's reader, [`Watch::header`] copies the first header, then (after a
//! barrier) the second, which writers update in the opposite order; a read that sees
//! them differ is mid-write and reports nothing, so the caller asks SQLite instead.
//!
//! [`Watch`] owns the connection together with the pointer into its mapping, so no
//! code outside this module can keep the pointer past the connection.

// The only `unsafe` in the workspace: the SQLite C API has no safe wrapper for the
// file control and VFS call used here, and the alternative (`PRAGMA data_version`) is
// what this module exists to avoid on the hot path.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::sync::{Mutex, PoisonError};

use contacts_core::Result;
use rusqlite::{Connection, ffi};

use crate::error::read_error;

/// Words in one copy of the header (`struct WalIndexHdr`, 48 bytes).
const HEADER_WORDS: usize = 12;

/// One copy of the header, as words.
pub(crate) type Header = [u32; HEADER_WORDS];

/// The size SQLite maps the wal-index in (`WALINDEX_PGSZ`); `xShmMap` must be asked
/// for region 0 in exactly this size.
const REGION_BYTES: c_int = 32_768;

/// Whether two headers are equal, compared in registers (`==` on arrays calls
/// `memcmp`, which costs more than the compare itself on the cached hit's path).
pub(crate) fn same(a: &Header, b: &Header) -> bool {
    a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The byte `isInit` sits in (offset 12), as it reads in a word in native order.
fn is_init(header: &Header) -> bool {
    header[3].to_ne_bytes()[0] != 0
}

/// A read-only connection kept to watch the database for commits, with the header of
/// its wal-index when SQLite has one mapped.
#[derive(Debug)]
pub(crate) struct Watch {
    // Declared first, so dropped before the connection whose mapping it points into.
    index: Option<WalIndex>,
    /// Locked only to ask SQLite; the header is read without it.
    conn: Mutex<Connection>,
}

impl Watch {
    /// Watches through `conn`, which must never write.
    ///
    /// # Errors
    /// A storage error if the first read fails.
    pub(crate) fn new(conn: Connection) -> Result<Self> {
        // A read first: in WAL mode it opens and maps the wal-index, so `of` only
        // finds that mapping and never creates one.
        let mut watch = Watch {
            index: None,
            conn: Mutex::new(conn),
        };
        watch.data_version()?;
        let conn = watch.conn.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(read_error)?;
        if mode.eq_ignore_ascii_case("wal") {
            // SAFETY: `conn` has just read in WAL mode (checked above), and the index
            // lives in the same struct as the connection, which it never outlives
            // (field order above).
            watch.index = unsafe { WalIndex::of(conn) };
        }
        Ok(watch)
    }

    /// `PRAGMA data_version`: changes whenever another connection commits.
    ///
    /// # Errors
    /// A storage error if the pragma fails.
    pub(crate) fn data_version(&self) -> Result<i64> {
        // A connection only reads: whatever a panicking holder left, it can read on.
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(read_error)
    }

    /// The header, if SQLite maps one, both copies agree and it is initialised;
    /// `None` while a writer is between the two copies (or recovery has not run),
    /// when only SQLite can say.
    pub(crate) fn header(&self) -> Option<Header> {
        self.index.as_ref()?.read()
    }
}

/// The header of one connection's wal-index, mapped by SQLite.
///
/// Valid while the connection it was taken from is open and in WAL mode: SQLite
/// unmaps the region only when that connection closes its WAL (on close, or when it
/// changes its own journal mode, which a watch never does; another connection cannot
/// take the database out of WAL while this one holds its shared lock on the file).
#[derive(Debug)]
struct WalIndex {
    /// Region 0 of the `-shm` mapping: two header copies of `HEADER_WORDS` words each.
    base: NonNull<AtomicU32>,
}

// SAFETY: the pointer is into memory mapped for the whole process, not for a thread,
// and it is only ever read, with atomic loads; any number of threads may do so at once.
unsafe impl Send for WalIndex {}
// SAFETY: as for `Send`: `read` takes `&self` and only loads.
unsafe impl Sync for WalIndex {}

impl WalIndex {
    /// The header of `conn`'s wal-index, or `None` if it has none mapped or its VFS
    /// has no shared memory.
    ///
    /// # Safety
    /// `conn` must already have read the database in WAL mode (otherwise `xShmMap`
    /// would open the shared memory itself), and the result must not be used after
    /// `conn` is closed.
    unsafe fn of(conn: &Connection) -> Option<Self> {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: `conn.handle()` is a live connection for the duration of the call;
        // `SQLITE_FCNTL_FILE_POINTER` writes the main database's `sqlite3_file *` (owned
        // by the connection) into `file`, a pointer-sized out-parameter.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open database file, and `pMethods` is set
        // for every open file; `xShmMap` exists from io_methods version 2.
        let map = unsafe {
            let methods = (*file).pMethods;
            if methods.is_null() || (*methods).iVersion < 2 {
                return None;
            }
            (*methods).xShmMap?
        };
        let mut region: *mut c_void = ptr::null_mut();
        // SAFETY: region 0 at SQLite's own region size, without extending the file:
        // this returns the mapping the connection's WAL code reads (or null if the
        // region does not exist yet). The pointer stays valid until the connection
        // unmaps its shared memory (see the type's docs).
        let rc = unsafe { map(file, 0, REGION_BYTES, 0, &raw mut region) };
        if rc != ffi::SQLITE_OK {
            return None;
        }
        // The mapping is page-aligned, so the words are aligned for `AtomicU32`.
        NonNull::new(region.cast::<AtomicU32>()).map(|base| WalIndex { base })
    }

    fn read(&self) -> Option<Header> {
        let first = self.copy(0);
        // The loads of the first copy must complete before those of the second, which
        // is what an acquire fence orders (earlier loads before later loads and
        // stores); SQLite's reader uses a full barrier for the same purpose, and needs
        // only this half of it. On x86 it costs nothing at run time.
        fence(Ordering::Acquire);
        let second = self.copy(1);
        (same(&first, &second) && is_init(&first)).then_some(first)
    }

    fn copy(&self, which: usize) -> Header {
        std::array::from_fn(|i| {
            // SAFETY: region 0 is 32 KiB, and both copies lie in its first 96 bytes;
            // `base` is valid as the type's docs state, and aligned. Writers in this
            // and other processes update these words with plain stores (SQLite's
            // `memcpy`) while we load them: formally a race, in practice the same
            // aligned 32-bit loads SQLite's own readers make through `volatile`, and a
            // torn or mid-write header only makes the two copies differ, which `read`
            // treats as "ask SQLite".
            unsafe { self.base.add(which * HEADER_WORDS + i).as_ref() }.load(Ordering::Relaxed)
        })
    }
}
