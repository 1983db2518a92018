-- Schema version 11: each entity of a memory record in a row of its own (the Store
-- contract, rule 18; docs/semantics.md 6), so an entity upsert writes that entity and
-- the rest of the record, not every other entity again. `memories.body` becomes
-- `memories.core`, the record without `entities`; `position` keeps the order in which
-- the entities were first seen. Org first in every key, as everywhere (migration
-- 0003). The rows go with their record (the foreign key), and so with its contact.
--
-- The column is renamed so that a server still running the previous version fails on
-- its next memory statement instead of reading records without their entities, or
-- writing them back with stale ones: every server must be upgraded together (README,
-- "Upgrading"). The move goes through jsonb, which keeps every value but may write a
-- number in another notation (1e16 as 10000000000000000).

CREATE TABLE memory_entities (
    org          UUID    NOT NULL,
    memory_id    UUID    NOT NULL,
    entity_type  TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    position     BIGINT  NOT NULL,
    body         TEXT    NOT NULL,
    PRIMARY KEY (org, memory_id, entity_type, entity_id),
    FOREIGN KEY (org, memory_id) REFERENCES memories (org, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX memory_entities_in_order ON memory_entities (org, memory_id, position);

-- A body PostgreSQL cannot read as a JSON object (damaged on disk) is left as it is:
-- it reads as corrupt, as it did, and reset and delete still remove it
-- (docs/semantics.md 7). The migration needs the TEMPORARY privilege on the database.
CREATE FUNCTION pg_temp.record_object(body TEXT) RETURNS JSONB LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(body::jsonb) = 'object' THEN
        RETURN body::jsonb;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE TEMPORARY TABLE moving ON COMMIT DROP AS
SELECT org, id, pg_temp.record_object(body) AS doc FROM memories;

INSERT INTO memory_entities (org, memory_id, entity_type, entity_id, position, body)
SELECT m.org, m.id, e.value ->> 'entity_type', e.value ->> 'entity_id', e.n - 1, e.value::text
FROM moving AS m,
     jsonb_array_elements(CASE jsonb_typeof(m.doc -> 'entities') WHEN 'array'
         THEN m.doc -> 'entities' ELSE '[]'::jsonb END) WITH ORDINALITY AS e (value, n)
WHERE m.doc IS NOT NULL;

UPDATE memories AS t SET body = (m.doc - 'entities')::text
FROM moving AS m WHERE m.doc IS NOT NULL AND t.org = m.org AND t.id = m.id;

-- Temporary objects last the session, and the next schema this connection migrates
-- creates the function again.
DROP FUNCTION pg_temp.record_object(TEXT);

ALTER TABLE memories RENAME COLUMN body TO core;
