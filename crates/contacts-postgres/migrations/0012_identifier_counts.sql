-- Schema version 12: each contact row carries how many identifiers of each kind it
-- holds, so a resolve hit reads the contact's row and nothing more: the lookup counted
-- the owner's identifiers in a lateral aggregate, about 10 us of a 80 us hit
-- (docs/benchmarks.md, "PostgreSQL hit with counts on the row"). As in SQLite's
-- migration 0003, triggers keep the counts inside every statement that changes an
-- identifier, so no writer (this crate, an older one, or a hand-run statement) can
-- leave them wrong; `TRUNCATE identifiers` alone fires no `DELETE` trigger. They fire once per statement, over its transition tables, so a
-- statement that inserts a thousand identifiers updates each contact once.
--
-- A process of schema version 11 can run beside this one: it neither reads nor writes
-- the counts, and the triggers keep them for its writes too.

-- No identifier changes between the count below and the triggers that take over
-- from it: writers wait for this migration's transaction.
LOCK TABLE identifiers IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE contacts ADD COLUMN phone_numbers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN emails INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN external_ids INTEGER NOT NULL DEFAULT 0;

UPDATE contacts AS c SET
    phone_numbers = n.phone_numbers,
    emails = n.emails,
    external_ids = n.external_ids
FROM (
    SELECT i.org, i.contact_id,
        count(*) FILTER (WHERE i.kind = 'phone_number') AS phone_numbers,
        count(*) FILTER (WHERE i.kind = 'email') AS emails,
        count(*) FILTER (WHERE i.kind = 'external_id') AS external_ids
    FROM identifiers AS i
    GROUP BY i.org, i.contact_id
) AS n
WHERE c.org = n.org AND c.id = n.contact_id;

-- One function per statement kind: a transition table is visible only in the trigger
-- that declares it. Each resolves `contacts` in the store's schema (the search path
-- the migration ran with), whatever the search path of the session that fires it. Each adds +1 for a row in the statement's new rows and -1 for one
-- in its old rows to its contact's count of that kind. Contacts whose counts do not
-- move (an update of `is_primary` alone) are not written. A contact deleted by the
-- same statement (the cascade from `contacts`) is simply not found.
CREATE FUNCTION identifier_counts_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE contacts AS c SET
        phone_numbers = c.phone_numbers + d.phone_numbers,
        emails = c.emails + d.emails,
        external_ids = c.external_ids + d.external_ids
    FROM (
        SELECT n.org, n.contact_id,
            count(*) FILTER (WHERE n.kind = 'phone_number') AS phone_numbers,
            count(*) FILTER (WHERE n.kind = 'email') AS emails,
            count(*) FILTER (WHERE n.kind = 'external_id') AS external_ids
        FROM identifiers_added AS n
        GROUP BY n.org, n.contact_id
    ) AS d
    WHERE c.org = d.org AND c.id = d.contact_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION identifier_counts_delete() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE contacts AS c SET
        phone_numbers = c.phone_numbers - d.phone_numbers,
        emails = c.emails - d.emails,
        external_ids = c.external_ids - d.external_ids
    FROM (
        SELECT o.org, o.contact_id,
            count(*) FILTER (WHERE o.kind = 'phone_number') AS phone_numbers,
            count(*) FILTER (WHERE o.kind = 'email') AS emails,
            count(*) FILTER (WHERE o.kind = 'external_id') AS external_ids
        FROM identifiers_removed AS o
        GROUP BY o.org, o.contact_id
    ) AS d
    WHERE c.org = d.org AND c.id = d.contact_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION identifier_counts_update() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE contacts AS c SET
        phone_numbers = c.phone_numbers + d.phone_numbers,
        emails = c.emails + d.emails,
        external_ids = c.external_ids + d.external_ids
    FROM (
        SELECT u.org, u.contact_id,
            coalesce(sum(u.delta) FILTER (WHERE u.kind = 'phone_number'), 0) AS phone_numbers,
            coalesce(sum(u.delta) FILTER (WHERE u.kind = 'email'), 0) AS emails,
            coalesce(sum(u.delta) FILTER (WHERE u.kind = 'external_id'), 0) AS external_ids
        FROM (
            SELECT n.org, n.contact_id, n.kind, 1 AS delta FROM identifiers_after AS n
            UNION ALL
            SELECT o.org, o.contact_id, o.kind, -1 AS delta FROM identifiers_before AS o
        ) AS u
        GROUP BY u.org, u.contact_id
    ) AS d
    WHERE c.org = d.org AND c.id = d.contact_id
        AND (d.phone_numbers <> 0 OR d.emails <> 0 OR d.external_ids <> 0);
    RETURN NULL;
END;
$$;

CREATE TRIGGER identifiers_count_insert AFTER INSERT ON identifiers
    REFERENCING NEW TABLE AS identifiers_added
    FOR EACH STATEMENT EXECUTE FUNCTION identifier_counts_insert();

CREATE TRIGGER identifiers_count_delete AFTER DELETE ON identifiers
    REFERENCING OLD TABLE AS identifiers_removed
    FOR EACH STATEMENT EXECUTE FUNCTION identifier_counts_delete();

CREATE TRIGGER identifiers_count_update AFTER UPDATE ON identifiers
    REFERENCING OLD TABLE AS identifiers_before NEW TABLE AS identifiers_after
    FOR EACH STATEMENT EXECUTE FUNCTION identifier_counts_update();
