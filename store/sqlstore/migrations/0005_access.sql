-- Access: API tokens and the audit log (store/access.go). A token's secret
-- is never stored, only its SHA-256; times left unset are NULL.

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,         -- short public id
    hash         {{.Bytes}} NOT NULL UNIQUE,    -- SHA-256 of the secret
    name         text NOT NULL,
    role         text NOT NULL,            -- national, provincial, postal
    province     text NOT NULL,            -- '' for all (or none)
    created_at   {{.Time}} NOT NULL,
    last_used_at {{.Time}},
    revoked_at   {{.Time}}
){{.Strict}};

-- What token holders did, append-only. Detail is stored in clear: never
-- personal data.
CREATE TABLE audit_log (
    id       {{.ID}},
    at       {{.Time}} NOT NULL,
    token_id text NOT NULL,
    role     text NOT NULL,
    province text NOT NULL,
    action   text NOT NULL,
    target   text NOT NULL,
    detail   text NOT NULL,
    outcome  text NOT NULL
){{.Strict}};
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_token ON audit_log (token_id, id);
