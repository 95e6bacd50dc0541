-- Settlements: the effects owed after a payment paid, a result delivered or
-- its cash on delivery collected (store/settlement.go), with the province's
-- permanent refusals of the writeback counted durably. Self-contained: a
-- new table, nothing else changes.

CREATE TABLE settlements (
    kind       TEXT NOT NULL,              -- payment | delivered | cod
    ref        TEXT NOT NULL,              -- MaThamChieu or VNPost order number
    dossier_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    state      TEXT NOT NULL,              -- open | closed
    writeback  TEXT NOT NULL,              -- due | done | held
    attempts   INTEGER NOT NULL,           -- permanent refusals this round
    round      INTEGER NOT NULL,           -- operator replays so far
    tries      INTEGER NOT NULL,           -- passes left open, for the backoff
    last_error TEXT NOT NULL,
    next_at    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, ref)
) STRICT;
-- The pass reads the open ones in due order.
CREATE INDEX settlements_due ON settlements (next_at, kind, ref) WHERE state = 'open';
CREATE INDEX settlements_dossier ON settlements (dossier_id);
