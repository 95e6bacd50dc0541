-- Access: API tokens and the audit log (store/access.go). A token's secret
-- is never stored, only its SHA-256; times left unset are NULL.

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,         -- short public id
    hash         BLOB NOT NULL UNIQUE,     -- SHA-256 of the secret
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,            -- national, provincial, postal
    province     TEXT NOT NULL,            -- '' for all (or none)
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- What token holders did, append-only. Detail is stored in clear: never
-- personal data.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    token_id TEXT NOT NULL,
    role     TEXT NOT NULL,
    province TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    outcome  TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_token ON audit_log (token_id, id);
