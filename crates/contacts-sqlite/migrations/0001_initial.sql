-- Schema version 1: contacts and their identifiers.
-- Ids are 16-byte UUID blobs; timestamps are milliseconds since the Unix epoch;
-- metadata is JSON text.

CREATE TABLE contacts (
    id          BLOB    NOT NULL PRIMARY KEY,
    org         BLOB    NOT NULL,
    name        TEXT,
    metadata    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL
) WITHOUT ROWID;

-- List order: (created_at, id) within an org.
CREATE INDEX contacts_list_order ON contacts (org, created_at, id);

CREATE TABLE identifiers (
    -- Attach order: identifiers of a contact come back oldest first.
    seq         INTEGER PRIMARY KEY,
    id          BLOB    NOT NULL UNIQUE,
    contact_id  BLOB    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    org         BLOB    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('phone_number', 'email', 'external_id')),
    value       TEXT    NOT NULL,
    is_primary  INTEGER NOT NULL CHECK (is_primary IN (0, 1))
);

-- One owner per identifier within an org, enforced by the storage itself.
CREATE UNIQUE INDEX identifiers_owner ON identifiers (org, kind, value);
CREATE INDEX identifiers_by_contact ON identifiers (contact_id, seq);
