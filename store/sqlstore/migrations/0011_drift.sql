-- Reconciliation (ops/reconcile) records here each dossier whose national
-- copy differs from what the ledger says the portal holds, one row per
-- dossier: the latest finding, kept as resolved once a later check finds
-- the copies equal again. No personal data: fields are named, not valued.
CREATE TABLE drift (
    dossier_id  text PRIMARY KEY,
    source      text NOT NULL,
    province    text NOT NULL,
    kind        text NOT NULL,
    fields      text NOT NULL,
    detail      text NOT NULL,
    found_at    {{.Time}} NOT NULL,
    checked_at  {{.Time}} NOT NULL,
    state       text NOT NULL,
    resynced_at {{.Time}}
){{.Strict}};
CREATE INDEX drift_state ON drift (state, source, kind);
