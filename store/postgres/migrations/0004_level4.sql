-- Level-4 state: payment requests, VNPost orders and payment notifications
-- (store/level4.go). Each payment and delivery row is keyed by the
-- idempotency key of its effect; times left unset are NULL.

CREATE TABLE payments (
    ref        text PRIMARY KEY,           -- MaThamChieu
    dossier_id text NOT NULL,
    source     text NOT NULL,
    fee_codes  text NOT NULL,              -- JSON array of strings, sorted
    amount     bigint NOT NULL,
    state      text NOT NULL,
    txn_id     text NOT NULL,
    pay_url    text NOT NULL,
    paid_at    timestamptz,
    settled_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX payments_dossier ON payments (dossier_id);
-- Payments stuck in a state (pending past a deadline, paid and unsettled).
CREATE INDEX payments_state_updated ON payments (state, updated_at);

CREATE TABLE deliveries (
    order_number text PRIMARY KEY,
    dossier_id   text NOT NULL,
    source       text NOT NULL,
    state        text NOT NULL,
    item_code    text NOT NULL,
    cod          bigint NOT NULL,
    total_fee    bigint NOT NULL,
    status       integer NOT NULL,
    status_at    timestamptz,
    tracking_id  bigint NOT NULL,
    delivered_at timestamptz,
    cod_paid_at  timestamptz,
    problem      text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX deliveries_dossier ON deliveries (dossier_id);
-- Deliveries with a problem are few: a partial index in list order.
CREATE INDEX deliveries_problem ON deliveries (created_at, order_number) WHERE problem <> '';

-- Every payment notification as received and judged, append-only. The
-- payload is sealed (store/seal.go, column payment_notice.payload).
CREATE TABLE payment_notices (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref        text NOT NULL,
    dossier_id text NOT NULL,
    partner    text NOT NULL,
    code       text NOT NULL,
    amount     bigint NOT NULL,
    verdict    text NOT NULL,
    answer     text NOT NULL,
    reason     text NOT NULL,
    payload    bytea NOT NULL,
    at         timestamptz NOT NULL
);
-- A sealed value does not compress.
ALTER TABLE payment_notices ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE INDEX payment_notices_ref ON payment_notices (ref, id);
