-- Schema version 6: where a merged-away contact id leads (docs/semantics.md 4, "Merge
-- redirects"; the Store contract, rule 12). One step to the contact that lives on: a
-- merge repoints the redirects to the contact it takes away, and deleting a contact
-- removes the redirects to it (the foreign key's cascade; the index serves it).

CREATE TABLE redirects (
    org      BLOB NOT NULL,
    from_id  BLOB NOT NULL,
    to_id    BLOB NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (org, from_id)
) WITHOUT ROWID;

CREATE INDEX redirects_by_target ON redirects (to_id);
