-- Schema version 2: per-persona memory records (SPEC section 6).
-- `body` is the whole record as JSON (the source of truth); the other columns are
-- copies that the constraints, preconditions and ordering need.

CREATE TABLE memories (
    id          BLOB    NOT NULL PRIMARY KEY,
    org         BLOB    NOT NULL,
    contact_id  BLOB    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- 'persona:<id>' or 'agent:<e164>': one record per contact and scope.
    scope       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    body        TEXT    NOT NULL
) WITHOUT ROWID;

CREATE UNIQUE INDEX memories_scope ON memories (org, contact_id, scope);
CREATE INDEX memories_by_contact ON memories (contact_id, created_at, id);
