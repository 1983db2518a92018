-- Schema version 10: memory changes per call or SMS conversation
-- (`GET /v1/memory/changes`; docs/semantics.md 6, "Memory changes"; the Store
-- contract, rule 16). One row per call or conversation; `log` is the whole log as
-- JSON, `writes` its write count (the precondition of the next write). A log lives as
-- long as its memory record: the foreign key deletes it with the record, and so with
-- the record's contact.

CREATE TABLE conversations (
    org              BLOB    NOT NULL,
    -- 'call' or 'sms'.
    kind             TEXT    NOT NULL,
    conversation_id  TEXT    NOT NULL,
    memory_id        BLOB    NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    started_at       INTEGER NOT NULL,
    writes           INTEGER NOT NULL,
    log              TEXT    NOT NULL,
    PRIMARY KEY (org, kind, conversation_id)
) WITHOUT ROWID;

-- Retention walks a record's logs newest first; the cascade finds them by record.
CREATE INDEX conversations_by_memory ON conversations (memory_id, started_at, kind, conversation_id);
