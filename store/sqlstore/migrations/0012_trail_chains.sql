-- Signed heads over the event chains (docs/audit-trail.md): a version 2
-- head also commits to the last event of every dossier's chain up to an
-- event ID (events_through), as a root over buckets of chain heads, and
-- names its public key, so heads signed before a key rotation still verify.
-- Version 1 heads (before this migration) name the audit chain's head only.
ALTER TABLE trail_heads ADD COLUMN version {{.Int64}} NOT NULL DEFAULT 1;
ALTER TABLE trail_heads ADD COLUMN events_through {{.Int64}} NOT NULL DEFAULT 0;
ALTER TABLE trail_heads ADD COLUMN chains {{.Int64}} NOT NULL DEFAULT 0;
ALTER TABLE trail_heads ADD COLUMN events_root {{.Bytes}};
ALTER TABLE trail_heads ADD COLUMN retention {{.Int64}} NOT NULL DEFAULT 0;

-- The chain heads of the last version 2 head, one per dossier (at: the
-- event's time in microseconds, as hashed), and each bucket's digest of
-- them: the signer reads and rewrites only the buckets whose chains moved.
CREATE TABLE trail_chains (
    bucket     {{.Int64}} NOT NULL,
    dossier_id text NOT NULL,
    event_id   {{.Int64}} NOT NULL,
    hash       {{.Bytes}} NOT NULL,
    at         {{.Int64}} NOT NULL,
    PRIMARY KEY (bucket, dossier_id)
){{.Strict}};

CREATE TABLE trail_buckets (
    bucket {{.Int64}} PRIMARY KEY,
    chains {{.Int64}} NOT NULL,
    digest {{.Bytes}} NOT NULL
){{.Strict}};
{{if .SQLite}}
-- A head covers the events up to an ID, so an ID must never come again:
-- SQLite hands out the highest one again once its row is deleted, unless
-- the key is AUTOINCREMENT (PostgreSQL's identity never does).
CREATE TABLE events_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    dossier_id text NOT NULL,
    source     text NOT NULL,
    version    INTEGER NOT NULL,
    kind       text NOT NULL,
    detail     text NOT NULL,
    at         INTEGER NOT NULL,
    instance   text NOT NULL,
    prev_hash  BLOB,
    hash       BLOB
) STRICT;
INSERT INTO events_new (id, dossier_id, source, version, kind, detail, at, instance, prev_hash, hash)
SELECT id, dossier_id, source, version, kind, detail, at, instance, prev_hash, hash FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_dossier ON events (dossier_id, id);
CREATE INDEX events_at ON events (at);
{{end}}