-- Settlements: the effects owed after a payment paid, a result delivered or
-- its cash on delivery collected (store/settlement.go), with the province's
-- permanent refusals of the writeback counted durably. Self-contained: a
-- new table, nothing else changes.

CREATE TABLE settlements (
    kind       text NOT NULL,              -- payment | delivered | cod
    ref        text NOT NULL,              -- MaThamChieu or VNPost order number
    dossier_id text NOT NULL,
    source     text NOT NULL,
    state      text NOT NULL,              -- open | closed
    writeback  text NOT NULL,              -- due | done | held
    attempts   integer NOT NULL,           -- permanent refusals this round
    round      integer NOT NULL,           -- operator replays so far
    tries      integer NOT NULL,           -- passes left open, for the backoff
    last_error text NOT NULL,
    next_at    {{.Time}} NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL,
    PRIMARY KEY (kind, ref)
){{.Strict}};
-- The pass reads the open ones in due order.
CREATE INDEX settlements_due ON settlements (next_at, kind, ref) WHERE state = 'open';
CREATE INDEX settlements_dossier ON settlements (dossier_id);
