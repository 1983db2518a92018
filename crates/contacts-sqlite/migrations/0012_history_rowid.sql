-- Schema version 12: history entries stored once, in an ordinary (rowid) table found
-- through a unique index on (org, contact_id, version).
--
-- In version 7's WITHOUT ROWID table a row kept at most about 1,000 bytes on its
-- b-tree page (a quarter of a 4 KiB page) and spilled the rest to an overflow page of
-- its own, and each row held the entry twice: whole, and redacted in advance. A
-- created contact's row was about 1,400 bytes, so every entry took a whole overflow
-- page: 100,000 imported contacts made a 566 MB file, 468 MB of it history
-- (docs/benchmarks.md, "History in a rowid table"). Now a row holds the whole entry
-- alone, about 700 bytes, on the page of a rowid table (which keeps rows of up to
-- about 4,000 bytes there).
--
-- `entry` is the whole entry until the contact is erased; the erasure then writes the
-- redacted form, which the core's codec makes from it (`codec::redact_history`), into
-- `erased` and clears `entry`. Exactly one of the two is set. A process of an earlier
-- version fails instead of writing or erasing the old way: its writes and reads name
-- `redacted`, which is renamed (`erased`), and its erasure, which only cleared
-- `entry`, breaks the CHECK (tests/history_rows.rs).

CREATE TABLE contact_history_rows (
    org         BLOB    NOT NULL,
    contact_id  BLOB    NOT NULL,
    version     INTEGER NOT NULL,
    entry       TEXT,
    erased      TEXT,
    CHECK ((entry IS NULL) <> (erased IS NULL)),
    UNIQUE (org, contact_id, version)
);

INSERT INTO contact_history_rows (org, contact_id, version, entry, erased)
    SELECT org, contact_id, version, entry, CASE WHEN entry IS NULL THEN redacted END
    FROM contact_history
    ORDER BY org, contact_id, version;

DROP TABLE contact_history;
ALTER TABLE contact_history_rows RENAME TO contact_history;
