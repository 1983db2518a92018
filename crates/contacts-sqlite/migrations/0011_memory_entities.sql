-- Schema version 11: each entity of a memory record in a row of its own (the Store
-- contract, rule 18; docs/semantics.md 6), so an entity upsert writes that entity and
-- the rest of the record, not every other entity again. `memories.body` becomes
-- `memories.core`, the record without `entities`; `position` keeps the order in which
-- the entities were first seen. The rows go with their record (the foreign key), and
-- so with its contact. The column is renamed so that a process still running the
-- previous version fails on its next memory statement instead of reading records
-- without their entities, or writing them back with stale ones: every process must be
-- upgraded together (README, "Upgrading").

CREATE TABLE memory_entities (
    memory_id    BLOB    NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
    entity_type  TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    PRIMARY KEY (memory_id, entity_type, entity_id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX memory_entities_in_order ON memory_entities (memory_id, position);

-- Existing records: their entities move out of the body, in their order. Every
-- record the engine wrote is far shallower than SQLite's JSON depth limit (request
-- JSON is parsed with serde_json's limit of 128). A body SQLite cannot read as a JSON
-- object (damaged on disk) is left as it is: it reads as corrupt, as it did, and reset
-- and delete still remove it (docs/semantics.md 7). An `entities` that is not an
-- array (never written by the engine) moves nothing.
INSERT INTO memory_entities (memory_id, entity_type, entity_id, position, body)
SELECT m.id, json_extract(e.value, '$.entity_type'), json_extract(e.value, '$.entity_id'),
       e.key, e.value
FROM memories AS m, json_each(m.body, '$.entities') AS e
WHERE json_valid(m.body) AND json_type(m.body) = 'object'
  AND json_type(m.body, '$.entities') = 'array';

UPDATE memories SET body = json_remove(body, '$.entities')
WHERE json_valid(body) AND json_type(body) = 'object';

ALTER TABLE memories RENAME COLUMN body TO core;
