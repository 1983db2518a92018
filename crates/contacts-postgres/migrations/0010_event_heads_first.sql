-- Schema version 10: the org's oldest kept event number in its head row, so that
-- retention deletes a range that starts there. Deleted rows stay in the index as dead
-- entries until vacuum, and a prune that looked for the oldest with `min(seq)` walked
-- them: on this machine, a loop of one insert and one such prune cost 225 to 265 µs a
-- turn at 100,000 events against 26 µs for the range form (docs/benchmarks.md, "What
-- the change feed costs a create").

-- The default serves a server still running the previous version during a rolling
-- upgrade: its new orgs start at 1, and a `first` left behind by its prunes is caught
-- up by the next ones (a range delete below the oldest row deletes nothing).
ALTER TABLE event_heads ADD COLUMN first BIGINT NOT NULL DEFAULT 1;
UPDATE event_heads h
   SET first = COALESCE((SELECT min(e.seq) FROM events e WHERE e.org = h.org), h.last + 1);
