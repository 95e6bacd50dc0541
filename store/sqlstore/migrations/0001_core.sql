-- Core state of the hub: source cursors, the dossier ledger, provenance
-- events and quarantined records. On SQLite, times are INTEGER microseconds
-- since the Unix epoch (UTC), the precision of PostgreSQL's.

CREATE TABLE cursors (
    name       text PRIMARY KEY,
    value      {{.Bytes}} NOT NULL,
    updated_at {{.Time}} NOT NULL
){{.Strict}};

-- One row per dossier, rewritten on every version: the fillfactor leaves
-- room on each page so updates can stay HOT (no index churn) on the hot path.
CREATE TABLE ledger (
    dossier_id       text PRIMARY KEY,
    source           text NOT NULL,
    province         text NOT NULL,
    procedure_code   text NOT NULL,
    agency           text NOT NULL,
    version          {{.Int64}} NOT NULL,
    content_hash     text NOT NULL,
    status           integer NOT NULL,
    canonical        {{.Bytes}} NOT NULL,
    deleted          {{.Bool}} NOT NULL,
    national_state   text NOT NULL,
    national_version {{.Int64}} NOT NULL,
    national_steps   integer NOT NULL,
    national_at      {{.Time}},
    updated_at       {{.Time}} NOT NULL
){{if .Postgres}} WITH (fillfactor = 80){{end}}{{.Strict}};

{{if .Postgres}}
-- A canonical dossier is about 2 KB: right at the TOAST threshold, so most
-- rows are compressed on every write. lz4 costs a fraction of the default
-- pglz's CPU (the upsert benchmark more than doubles). Servers built without
-- lz4 keep pglz rather than failing the migration.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE ledger ALTER COLUMN canonical SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available, ledger.canonical keeps the default compression';
END
$$;
{{end}}

-- LedgerCounts reads only held dossiers; a partial index keeps that cheap
-- without indexing every row.
CREATE INDEX ledger_held_source ON ledger (source) WHERE national_state = 'held';

-- Provenance, append-only. id gives the order of append.
CREATE TABLE events (
    id         {{.Serial}},
    dossier_id text NOT NULL,
    source     text NOT NULL,
    version    {{.Int64}} NOT NULL,
    kind       text NOT NULL,
    detail     text NOT NULL,
    at         {{.Time}} NOT NULL,
    instance   text NOT NULL
){{.Strict}};
CREATE INDEX events_dossier ON events (dossier_id, id);

CREATE TABLE quarantine (
    id         {{.ID}},
    source     text NOT NULL,
    dossier_id text NOT NULL,
    version    {{.Int64}} NOT NULL,
    field      text NOT NULL,
    reason     text NOT NULL,
    format     text NOT NULL,
    payload    {{.Bytes}} NOT NULL,
    at         {{.Time}} NOT NULL,
    state      text NOT NULL CHECK (state IN ('open', 'replayed', 'discarded'))
){{.Strict}};
CREATE INDEX quarantine_state_source ON quarantine (state, source);
CREATE INDEX quarantine_dossier ON quarantine (dossier_id);
CREATE INDEX quarantine_at ON quarantine (at);
