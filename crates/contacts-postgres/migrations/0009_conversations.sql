-- Schema version 9: memory changes per call or SMS conversation
-- (`GET /v1/memory/changes`; docs/semantics.md 6, "Memory changes"; the Store
-- contract, rule 16). One row per call or conversation; `log` is the whole log as
-- JSON, `writes` its write count (the precondition of the next write). A log lives as
-- long as its memory record: the foreign key deletes it with the record, and so with
-- the record's contact. Org-first, like every table (migration 0003).

CREATE TABLE conversations (
    org              UUID    NOT NULL,
    -- 'call' or 'sms'.
    kind             TEXT    NOT NULL,
    conversation_id  TEXT    NOT NULL,
    memory_id        UUID    NOT NULL,
    started_at       BIGINT  NOT NULL,
    writes           BIGINT  NOT NULL,
    log              TEXT    NOT NULL,
    PRIMARY KEY (org, kind, conversation_id),
    FOREIGN KEY (org, memory_id) REFERENCES memories (org, id) ON DELETE CASCADE
);

-- Retention walks a record's logs newest first; the cascade finds them by record.
CREATE INDEX conversations_by_memory
    ON conversations (org, memory_id, started_at, kind, conversation_id);
