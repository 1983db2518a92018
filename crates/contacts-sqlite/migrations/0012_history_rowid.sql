-- Schema version 12: history entries in an ordinary (rowid) table, found through a
-- unique index on (org, contact_id, version).
--
-- In a WITHOUT ROWID table a row keeps at most about 1,000 bytes on its b-tree page
-- (a quarter of a 4 KiB page) and spills the rest to an overflow page of its own. A
-- created contact's entry, with its redacted form beside it, is about 1,400 bytes, so
-- every entry took a whole overflow page: 100,000 imported contacts made a 566 MB file,
-- 468 MB of it history (docs/benchmarks.md, "History in a rowid table"). A rowid table
-- keeps rows of up to about 4,000 bytes on the page. The columns and what they mean
-- are those of version 7.

CREATE TABLE contact_history_rows (
    org         BLOB    NOT NULL,
    contact_id  BLOB    NOT NULL,
    version     INTEGER NOT NULL,
    entry       TEXT,
    redacted    TEXT    NOT NULL,
    UNIQUE (org, contact_id, version)
);

INSERT INTO contact_history_rows (org, contact_id, version, entry, redacted)
    SELECT org, contact_id, version, entry, redacted FROM contact_history
    ORDER BY org, contact_id, version;

DROP TABLE contact_history;
ALTER TABLE contact_history_rows RENAME TO contact_history;
