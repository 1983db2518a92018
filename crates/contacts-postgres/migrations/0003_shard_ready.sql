-- Schema version 3: ready to distribute by org (docs/scaling.md). Every table carries
-- `org`, every primary key, unique index and foreign key starts with it, and the
-- indexes the statements walk lead with it, so the schema can be distributed by
-- `org` on a Citus cluster (or a PostgreSQL-compatible distributed engine) as it is:
-- each org's rows, and every statement on them, then live on one node. The test
-- `schema_is_ready_to_shard` reads these properties back from the catalog.

ALTER TABLE identifiers DROP CONSTRAINT identifiers_contact_id_fkey;
ALTER TABLE memories DROP CONSTRAINT memories_contact_id_fkey;

ALTER TABLE contacts DROP CONSTRAINT contacts_pkey;
ALTER TABLE contacts ADD CONSTRAINT contacts_pkey PRIMARY KEY (org, id);

ALTER TABLE identifiers DROP CONSTRAINT identifiers_pkey;
ALTER TABLE identifiers ADD CONSTRAINT identifiers_pkey PRIMARY KEY (org, seq);
ALTER TABLE identifiers DROP CONSTRAINT identifiers_id_key;
ALTER TABLE identifiers ADD CONSTRAINT identifiers_id_key UNIQUE (org, id);
ALTER TABLE identifiers ADD CONSTRAINT identifiers_contact_fkey
    FOREIGN KEY (org, contact_id) REFERENCES contacts (org, id) ON DELETE CASCADE;
DROP INDEX identifiers_by_contact;
CREATE INDEX identifiers_by_contact ON identifiers (org, contact_id, seq);

ALTER TABLE memories DROP CONSTRAINT memories_pkey;
ALTER TABLE memories ADD CONSTRAINT memories_pkey PRIMARY KEY (org, id);
ALTER TABLE memories ADD CONSTRAINT memories_contact_fkey
    FOREIGN KEY (org, contact_id) REFERENCES contacts (org, id) ON DELETE CASCADE;
DROP INDEX memories_by_contact;
CREATE INDEX memories_by_contact ON memories (org, contact_id, created_at, id);
