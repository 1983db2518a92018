-- Schema version 4: memory switched on or off per persona or pathway
-- (`POST /v1/memory/enable`; docs/semantics.md 6, "Switching memory off"; the Store
-- contract, rule 11). One row per org and target, replaced by each switch; no row
-- means memory is on. Keyed by org first, like every table (migration 0003).

CREATE TABLE memory_switches (
    org         UUID        NOT NULL,
    -- 'persona' or 'pathway'.
    kind        TEXT        NOT NULL,
    target_id   TEXT        NOT NULL,
    -- The persona's version_id or the pathway's version_number, as text.
    version     TEXT        NOT NULL,
    enabled     BOOLEAN     NOT NULL,
    updated_at  BIGINT      NOT NULL,
    PRIMARY KEY (org, kind, target_id)
);
