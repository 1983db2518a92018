-- Schema version 8: what an unmerge needs (docs/semantics.md 4, "Unmerge"; the Store
-- contract, rules 12 and 14). Each redirect keeps the contact its id was merged into
-- directly, so an unmerge can point the chain through a restored contact back at it,
-- and the merge's snapshot, which goes with the redirect when the primary is deleted
-- (the cascade of migration 0006). Redirects written before this have no snapshot:
-- those merges cannot be undone.

ALTER TABLE redirects ADD COLUMN merged_into BLOB;
ALTER TABLE redirects ADD COLUMN snapshot TEXT;
UPDATE redirects SET merged_into = to_id;

CREATE INDEX redirects_by_merge ON redirects (org, merged_into);
