-- Level-4 state: payment requests, VNPost orders and payment notifications
-- (store/level4.go). Each payment and delivery row is keyed by the
-- idempotency key of its effect; times left unset are NULL.

CREATE TABLE payments (
    ref        text PRIMARY KEY,           -- MaThamChieu
    dossier_id text NOT NULL,
    source     text NOT NULL,
    fee_codes  text NOT NULL,              -- JSON array of strings, sorted
    amount     {{.Int64}} NOT NULL,
    state      text NOT NULL,
    txn_id     text NOT NULL,
    pay_url    text NOT NULL,
    paid_at    {{.Time}},
    settled_at {{.Time}},
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
){{.Strict}};
CREATE INDEX payments_dossier ON payments (dossier_id);
-- Payments stuck in a state (pending past a deadline, paid and unsettled).
CREATE INDEX payments_state_updated ON payments (state, updated_at);

CREATE TABLE deliveries (
    order_number text PRIMARY KEY,
    dossier_id   text NOT NULL,
    source       text NOT NULL,
    state        text NOT NULL,
    item_code    text NOT NULL,
    cod          {{.Int64}} NOT NULL,
    total_fee    {{.Int64}} NOT NULL,
    status       integer NOT NULL,
    status_at    {{.Time}},
    tracking_id  {{.Int64}} NOT NULL,
    delivered_at {{.Time}},
    cod_paid_at  {{.Time}},
    problem      text NOT NULL,
    created_at   {{.Time}} NOT NULL,
    updated_at   {{.Time}} NOT NULL
){{.Strict}};
CREATE INDEX deliveries_dossier ON deliveries (dossier_id);
-- Deliveries with a problem are few: a partial index in list order.
CREATE INDEX deliveries_problem ON deliveries (created_at, order_number) WHERE problem <> '';

-- Every payment notification as received and judged, append-only. The
-- payload is sealed (store/seal.go, column payment_notice.payload).
CREATE TABLE payment_notices (
    id         {{.ID}},
    ref        text NOT NULL,
    dossier_id text NOT NULL,
    partner    text NOT NULL,
    code       text NOT NULL,
    amount     {{.Int64}} NOT NULL,
    verdict    text NOT NULL,
    answer     text NOT NULL,
    reason     text NOT NULL,
    payload    {{.Bytes}} NOT NULL,
    at         {{.Time}} NOT NULL
){{.Strict}};
{{if .Postgres -}}
-- A sealed value does not compress.
ALTER TABLE payment_notices ALTER COLUMN payload SET STORAGE EXTERNAL;
{{end -}}
CREATE INDEX payment_notices_ref ON payment_notices (ref, id);
