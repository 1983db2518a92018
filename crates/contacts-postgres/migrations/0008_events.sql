-- Schema version 8: each org's change feed (docs/semantics.md 4, "Change feed"; the
-- Store contract, rule 15). `event_heads` holds the org's newest sequence number, so
-- numbers stay gap-free after retention empties `events`. A commit that appends
-- events moves its org's head as its very last statement: the row lock it takes is
-- held until the commit, so the org's numbers are committed in order, and no other
-- lock is ever awaited while holding it. Keyed by org first, like every table
-- (migration 0003).

CREATE TABLE event_heads (
    org   UUID    NOT NULL PRIMARY KEY,
    last  BIGINT  NOT NULL
);

CREATE TABLE events (
    org   UUID    NOT NULL,
    seq   BIGINT  NOT NULL,
    at    BIGINT  NOT NULL,
    body  TEXT    NOT NULL,
    PRIMARY KEY (org, seq)
);
