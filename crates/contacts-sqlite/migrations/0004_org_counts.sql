-- Schema version 4: each org's number of contacts, so `pagination.total` costs one row
-- read however many contacts the org holds (docs/semantics.md 5; the Store contract,
-- rule 9). Kept by triggers inside every statement that inserts or deletes a contact,
-- so no writer can leave it wrong; SQLite serialises writers, so the one row per org
-- is no point of contention.

CREATE TABLE org_counts (
    org       BLOB    NOT NULL PRIMARY KEY,
    contacts  INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO org_counts (org, contacts) SELECT org, count(*) FROM contacts GROUP BY org;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO org_counts (org, contacts) VALUES (NEW.org, 1)
        ON CONFLICT (org) DO UPDATE SET contacts = contacts + 1;
END;

CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts BEGIN
    UPDATE org_counts SET contacts = contacts - 1 WHERE org = OLD.org;
END;

CREATE TRIGGER contacts_count_move AFTER UPDATE OF org ON contacts BEGIN
    UPDATE org_counts SET contacts = contacts - 1 WHERE org = OLD.org;
    INSERT INTO org_counts (org, contacts) VALUES (NEW.org, 1)
        ON CONFLICT (org) DO UPDATE SET contacts = contacts + 1;
END;
