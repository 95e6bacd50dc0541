-- Idempotency keys, the identity index and leader leases.

-- A claim is recorded before an outbound effect and confirmed with its
-- result after it; confirmed_at IS NULL marks an effect whose outcome is
-- unknown (the instance died in between).
CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    effect       TEXT NOT NULL,
    result       BLOB,
    claimed_at   INTEGER NOT NULL,
    confirmed_at INTEGER
) STRICT;

-- Identity numbers (CCCD…) only as HMAC-SHA256 under a configured key.
CREATE TABLE identity_index (
    digest     BLOB NOT NULL,
    dossier_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    PRIMARY KEY (digest, dossier_id)
) STRICT;
CREATE INDEX identity_index_dossier ON identity_index (dossier_id);

-- One holder per name until expires_at.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
