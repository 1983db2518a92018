-- Schema version 1: contacts, identifiers and per-persona memories.
-- Timestamps are milliseconds since the Unix epoch (exactly what the engine stores);
-- metadata and memory bodies are JSON text, so they read back byte for byte (jsonb
-- would reorder keys and refuse \u0000).

CREATE TABLE contacts (
    id          UUID    NOT NULL PRIMARY KEY,
    org         UUID    NOT NULL,
    name        TEXT,
    metadata    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    version     BIGINT  NOT NULL
);

-- List order: (created_at, id) within an org.
CREATE INDEX contacts_list_order ON contacts (org, created_at, id);

CREATE TABLE identifiers (
    -- Attach order: identifiers of a contact come back oldest first.
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          UUID    NOT NULL UNIQUE,
    contact_id  UUID    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    org         UUID    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('phone_number', 'email', 'external_id')),
    value       TEXT    NOT NULL,
    is_primary  BOOLEAN NOT NULL
);

-- One owner per identifier within an org, enforced by the database itself.
CREATE UNIQUE INDEX identifiers_owner ON identifiers (org, kind, value);
CREATE INDEX identifiers_by_contact ON identifiers (contact_id, seq);

CREATE TABLE memories (
    id          UUID    NOT NULL PRIMARY KEY,
    org         UUID    NOT NULL,
    contact_id  UUID    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- 'persona:<id>' or 'agent:<e164>': one record per contact and scope.
    scope       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revision    BIGINT  NOT NULL,
    -- The whole record as JSON (the source of truth); the columns above are copies
    -- that the constraints, preconditions and ordering need.
    body        TEXT    NOT NULL
);

CREATE UNIQUE INDEX memories_scope ON memories (org, contact_id, scope);
CREATE INDEX memories_by_contact ON memories (contact_id, created_at, id);
