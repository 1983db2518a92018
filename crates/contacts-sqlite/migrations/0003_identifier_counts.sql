-- Schema version 3: each contact row carries how many identifiers of each kind it
-- holds, so a resolve hit reads one row (docs/semantics.md, "The Store seam"). The
-- counts are kept by triggers, inside every statement that changes an identifier, so
-- no writer (this crate, an older one, or a hand-run statement) can leave them wrong.

ALTER TABLE contacts ADD COLUMN phone_numbers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN emails INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN external_ids INTEGER NOT NULL DEFAULT 0;

UPDATE contacts SET
    phone_numbers = (SELECT count(*) FROM identifiers AS i
                     WHERE i.contact_id = contacts.id AND i.kind = 'phone_number'),
    emails = (SELECT count(*) FROM identifiers AS i
              WHERE i.contact_id = contacts.id AND i.kind = 'email'),
    external_ids = (SELECT count(*) FROM identifiers AS i
                    WHERE i.contact_id = contacts.id AND i.kind = 'external_id');

CREATE TRIGGER identifiers_count_insert AFTER INSERT ON identifiers BEGIN
    UPDATE contacts SET
        phone_numbers = phone_numbers + (NEW.kind = 'phone_number'),
        emails = emails + (NEW.kind = 'email'),
        external_ids = external_ids + (NEW.kind = 'external_id')
    WHERE id = NEW.contact_id;
END;

CREATE TRIGGER identifiers_count_delete AFTER DELETE ON identifiers BEGIN
    UPDATE contacts SET
        phone_numbers = phone_numbers - (OLD.kind = 'phone_number'),
        emails = emails - (OLD.kind = 'email'),
        external_ids = external_ids - (OLD.kind = 'external_id')
    WHERE id = OLD.contact_id;
END;

CREATE TRIGGER identifiers_count_move AFTER UPDATE OF contact_id, kind ON identifiers BEGIN
    UPDATE contacts SET
        phone_numbers = phone_numbers - (OLD.kind = 'phone_number'),
        emails = emails - (OLD.kind = 'email'),
        external_ids = external_ids - (OLD.kind = 'external_id')
    WHERE id = OLD.contact_id;
    UPDATE contacts SET
        phone_numbers = phone_numbers + (NEW.kind = 'phone_number'),
        emails = emails + (NEW.kind = 'email'),
        external_ids = external_ids + (NEW.kind = 'external_id')
    WHERE id = NEW.contact_id;
END;
