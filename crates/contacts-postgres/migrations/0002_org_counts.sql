-- Schema version 2: each org's number of contacts, so `pagination.total` costs a few
-- rows however many contacts the org holds (docs/semantics.md 5; the Store contract,
-- rule 9). A commit that inserts or deletes contacts adds its net change, as its last
-- statement, to one of sixteen slots chosen by its connection: concurrent writers to
-- one org then rarely wait on the same row, and each holds its slot only while it
-- commits. The total is the sum of the org's slots, read in the same snapshot as the
-- page.

CREATE TABLE org_counts (
    org       UUID     NOT NULL,
    slot      SMALLINT NOT NULL,
    contacts  BIGINT   NOT NULL,
    PRIMARY KEY (org, slot)
);

INSERT INTO org_counts (org, slot, contacts) SELECT org, 0, count(*) FROM contacts GROUP BY org;
