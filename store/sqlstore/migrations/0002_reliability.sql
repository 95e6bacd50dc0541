-- Idempotency keys, the identity index and leader leases.

-- A claim is recorded before an outbound effect and confirmed with its
-- result after it; confirmed_at IS NULL marks an effect whose outcome is
-- unknown (the instance died in between).
CREATE TABLE idempotency (
    key          text PRIMARY KEY,
    effect       text NOT NULL,
    result       {{.Bytes}},
    claimed_at   {{.Time}} NOT NULL,
    confirmed_at {{.Time}}
){{.Strict}};

-- Identity numbers (CCCD…) only as HMAC-SHA256 under a configured key.
CREATE TABLE identity_index (
    digest     {{.Bytes}} NOT NULL,
    dossier_id text NOT NULL,
    source     text NOT NULL,
    PRIMARY KEY (digest, dossier_id)
){{.Strict}};
CREATE INDEX identity_index_dossier ON identity_index (dossier_id);

-- One holder per name until expires_at (the database's clock, so instances
-- with skewed clocks still agree).
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at {{.Time}} NOT NULL
){{.Strict}};
