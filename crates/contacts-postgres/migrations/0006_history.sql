-- Schema version 6: what happened to each contact (docs/semantics.md 4, "History"; the
-- Store contract, rule 13). One row per contact and version, written in the batch that
-- makes the change. `entry` is the whole entry, `redacted` the same without personal
-- values; erasing a contact sets `entry` to NULL, so only `redacted` is read. No
-- foreign key: the entries outlive the contact. Keyed by org first, like every table
-- (migration 0003).

CREATE TABLE contact_history (
    org         UUID    NOT NULL,
    contact_id  UUID    NOT NULL,
    version     BIGINT  NOT NULL,
    entry       TEXT,
    redacted    TEXT    NOT NULL,
    PRIMARY KEY (org, contact_id, version)
);
