-- Processing steps the national portal has acknowledged, by content: the
-- spec does not fix the order of repeated elements, so a count of steps
-- (national_steps) cannot say which were sent. Space-separated step keys,
-- one per acknowledged step (repeated when a step occurs twice).
ALTER TABLE ledger ADD COLUMN national_step_keys text NOT NULL DEFAULT '';

-- Event retention deletes by age.
CREATE INDEX events_at ON events (at);
