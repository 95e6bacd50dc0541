-- Core state of the hub: source cursors, the dossier ledger, provenance
-- events and quarantined records. Times are INTEGER microseconds since the
-- Unix epoch (UTC), the precision of the PostgreSQL store.

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger (
    dossier_id       TEXT PRIMARY KEY,
    source           TEXT NOT NULL,
    province         TEXT NOT NULL,
    procedure_code   TEXT NOT NULL,
    agency           TEXT NOT NULL,
    version          INTEGER NOT NULL,
    content_hash     TEXT NOT NULL,
    status           INTEGER NOT NULL,
    canonical        BLOB NOT NULL,
    deleted          INTEGER NOT NULL,
    national_state   TEXT NOT NULL,
    national_version INTEGER NOT NULL,
    national_steps   INTEGER NOT NULL,
    national_at      INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;

-- LedgerCounts reads only held dossiers.
CREATE INDEX ledger_held_source ON ledger (source) WHERE national_state = 'held';

-- Provenance, append-only. id gives the order of append.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    dossier_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    instance   TEXT NOT NULL
) STRICT;
CREATE INDEX events_dossier ON events (dossier_id, id);

CREATE TABLE quarantine (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source     TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    field      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    format     TEXT NOT NULL,
    payload    BLOB NOT NULL,
    at         INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'replayed', 'discarded'))
) STRICT;
CREATE INDEX quarantine_state_source ON quarantine (state, source);
CREATE INDEX quarantine_dossier ON quarantine (dossier_id);
CREATE INDEX quarantine_at ON quarantine (at);
