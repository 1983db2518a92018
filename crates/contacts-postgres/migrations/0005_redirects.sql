-- Schema version 5: where a merged-away contact id leads (docs/semantics.md 4, "Merge
-- redirects"; the Store contract, rule 12). One step to the contact that lives on: a
-- merge repoints the redirects to the contact it takes away, and deleting a contact
-- removes the redirects to it (the foreign key's cascade; the index serves it). Keyed
-- by org first, like every table (migration 0003).

CREATE TABLE redirects (
    org      UUID NOT NULL,
    from_id  UUID NOT NULL,
    to_id    UUID NOT NULL,
    PRIMARY KEY (org, from_id),
    CONSTRAINT redirects_target_fkey
        FOREIGN KEY (org, to_id) REFERENCES contacts (org, id) ON DELETE CASCADE
);

CREATE INDEX redirects_by_target ON redirects (org, to_id);
