-- Schema version 9: each org's change feed (docs/semantics.md 4, "Change feed"; the
-- Store contract, rule 15). `event_heads` holds the org's newest sequence number, so
-- numbers stay gap-free after retention empties `events`; every commit that appends
-- events moves it in the same transaction, and SQLite serialises writers, so numbers
-- are committed in order. `at` (Unix milliseconds) is what age retention compares.

CREATE TABLE event_heads (
    org   BLOB    NOT NULL PRIMARY KEY,
    last  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
    org   BLOB    NOT NULL,
    seq   INTEGER NOT NULL,
    at    INTEGER NOT NULL,
    body  TEXT    NOT NULL,
    PRIMARY KEY (org, seq)
) WITHOUT ROWID;
