-- Level-4 state: payment requests, VNPost orders and payment notifications
-- (store/level4.go). Each payment and delivery row is keyed by the
-- idempotency key of its effect; times left unset are NULL.

CREATE TABLE payments (
    ref        TEXT PRIMARY KEY,           -- MaThamChieu
    dossier_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    fee_codes  TEXT NOT NULL,              -- JSON array of strings, sorted
    amount     INTEGER NOT NULL,
    state      TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    pay_url    TEXT NOT NULL,
    paid_at    INTEGER,
    settled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX payments_dossier ON payments (dossier_id);
-- Payments stuck in a state (pending past a deadline, paid and unsettled).
CREATE INDEX payments_state_updated ON payments (state, updated_at);

CREATE TABLE deliveries (
    order_number TEXT PRIMARY KEY,
    dossier_id   TEXT NOT NULL,
    source       TEXT NOT NULL,
    state        TEXT NOT NULL,
    item_code    TEXT NOT NULL,
    cod          INTEGER NOT NULL,
    total_fee    INTEGER NOT NULL,
    status       INTEGER NOT NULL,
    status_at    INTEGER,
    tracking_id  INTEGER NOT NULL,
    delivered_at INTEGER,
    cod_paid_at  INTEGER,
    problem      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX deliveries_dossier ON deliveries (dossier_id);
-- Deliveries with a problem are few: a partial index in list order.
CREATE INDEX deliveries_problem ON deliveries (created_at, order_number) WHERE problem <> '';

-- Every payment notification as received and judged, append-only. The
-- payload is sealed (store/seal.go, column payment_notice.payload).
CREATE TABLE payment_notices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ref        TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    partner    TEXT NOT NULL,
    code       TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    verdict    TEXT NOT NULL,
    answer     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    payload    BLOB NOT NULL,
    at         INTEGER NOT NULL
) STRICT;
CREATE INDEX payment_notices_ref ON payment_notices (ref, id);
