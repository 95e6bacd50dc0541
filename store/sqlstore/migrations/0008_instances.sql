-- Each hub process's own figures, written every few seconds, so that every
-- instance's operator API shows the cluster's (summed over processes) and
-- which processes are alive. A row outlives its process: its counts stay
-- in the sums after a restart.
CREATE TABLE instances (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    started_at {{.Time}} NOT NULL,
    seen_at    {{.Time}} NOT NULL,
    state      text NOT NULL
){{.Strict}};
