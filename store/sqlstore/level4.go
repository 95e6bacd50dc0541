package sqlstore

import (
	"context"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// Level-4 state: payments, deliveries and payment notices. Creates are
// INSERT … ON CONFLICT DO NOTHING RETURNING, falling back to the row
// already there; guarded updates are one UPDATE … WHERE guard RETURNING,
// falling back likewise (see guarded). Concurrent updates of a row apply
// one after the other and each sees the other's result: on PostgreSQL they
// serialise on the row's lock (READ COMMITTED re-checks the WHERE on the
// row it waited for), on SQLite on the file's write lock. The rules are in
// store/level4_rules.go and store/rows.go.

// createOrGet inserts a row with insert (… ON CONFLICT DO NOTHING
// RETURNING) and returns it with true, or the row get reads with false.
func createOrGet[T any](ctx context.Context, s *Store, scan func(store.Scanner) (T, error),
	get func(q querier) (T, error), insert string, args ...any) (row T, written bool, err error) {
	err = s.guarded(ctx, func(q querier) error {
		row, err = one(s.row(ctx, q, insert, args...), scan)
		row, written, err = store.WrittenOrCurrent(row, err, func() (T, error) { return get(q) })
		return err
	})
	return row, written, err
}

// oneOf adds to args and returns a guard "column is one of list", or "" for
// an empty list (no guard).
func (s *Store) oneOf(column string, list []string, args *[]any) string {
	if len(list) == 0 {
		return ""
	}
	*args = append(*args, s.d.list(list))
	return ` AND ` + column + ` IN (` + fmt.Sprintf(s.d.inList, fmt.Sprintf("$%d", len(*args))) + `)`
}

// =============================================================================
// Payments

const paymentColumns = `ref, dossier_id, source, fee_codes, amount, state, txn_id, pay_url, paid_at, settled_at,
	created_at, updated_at`

func scanPayment(row store.Scanner) (store.Payment, error) {
	var (
		p    store.Payment
		fees string
	)
	if err := row.Scan(&p.Ref, &p.DossierID, &p.Source, &fees, &p.Amount, &p.State, &p.TxnID, &p.PayURL,
		at(&p.PaidAt), at(&p.SettledAt), at(&p.CreatedAt), at(&p.UpdatedAt)); err != nil {
		return store.Payment{}, err
	}
	codes, err := store.DecodeFeeCodes(fees)
	if err != nil {
		return store.Payment{}, fmt.Errorf("payment %s: %w", p.Ref, err)
	}
	p.FeeCodes = codes
	return p, nil
}

func (s *Store) getPayment(ctx context.Context, q querier, ref string) (store.Payment, error) {
	return one(s.row(ctx, q, `SELECT `+paymentColumns+` FROM payments WHERE ref = $1`, ref), scanPayment)
}

// CreatePayment records p if its Ref is new and returns it as stored, with
// created true. If the Ref is taken it returns the payment stored under it,
// unchanged, with created false. An empty State is store.PaymentNew; an
// empty Ref or DossierID is an error wrapping store.ErrInvalid.
func (s *Store) CreatePayment(ctx context.Context, p store.Payment) (stored store.Payment, created bool, err error) {
	n, err := store.PreparePayment(p, store.Now())
	if err == nil {
		stored, created, err = createOrGet(ctx, s, scanPayment,
			func(q querier) (store.Payment, error) { return s.getPayment(ctx, q, n.Ref) }, `
INSERT INTO payments (`+paymentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (ref) DO NOTHING
RETURNING `+paymentColumns,
			n.Ref, n.DossierID, n.Source, store.EncodeFeeCodes(n.FeeCodes), n.Amount, n.State, n.TxnID, n.PayURL,
			s.d.time(n.PaidAt), s.d.time(n.SettledAt), s.d.time(n.CreatedAt), s.d.time(n.UpdatedAt))
	}
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("create payment %q: %w", p.Ref, err)
	}
	return stored, created, nil
}

// UpdatePayment applies u to the payment ref in one statement and returns
// it as updated, with changed true. If u.From is not empty and the payment
// is in none of its states, nothing is written and the payment is returned
// as it is, with changed false. Zero fields of u keep the stored value. No
// payment ref is an error wrapping store.ErrNotFound.
func (s *Store) UpdatePayment(ctx context.Context, ref string, u store.PaymentUpdate) (p store.Payment, changed bool, err error) {
	if u, err = store.PreparePaymentUpdate(u); err == nil {
		args := []any{ref, u.State, u.TxnID, u.PayURL, s.d.time(u.PaidAt), s.d.time(u.SettledAt), s.d.time(store.Now())}
		q := `
UPDATE payments SET
	state = coalesce(nullif(CAST($2 AS text), ''), state),
	txn_id = coalesce(nullif(CAST($3 AS text), ''), txn_id),
	pay_url = coalesce(nullif(CAST($4 AS text), ''), pay_url),
	paid_at = coalesce(CAST($5 AS timestamptz), paid_at),
	settled_at = coalesce(CAST($6 AS timestamptz), settled_at),
	updated_at = $7
WHERE ref = $1` + s.oneOf("state", u.From, &args) + `
RETURNING ` + paymentColumns
		p, changed, err = createOrGet(ctx, s, scanPayment,
			func(q querier) (store.Payment, error) { return s.getPayment(ctx, q, ref) }, q, args...)
	}
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("update payment %q: %w", ref, err)
	}
	return p, changed, nil
}

// GetPayment returns the payment ref, or an error wrapping store.ErrNotFound.
func (s *Store) GetPayment(ctx context.Context, ref string) (store.Payment, error) {
	p, err := s.getPayment(ctx, s.r, ref)
	if err != nil {
		return store.Payment{}, fmt.Errorf("get payment %q: %w", ref, err)
	}
	return p, nil
}

// ListPayments returns the payments f selects, by CreatedAt then Ref.
func (s *Store) ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error) {
	w := s.where()
	w.in("dossier_id", f.DossierIDs)
	w.in("state", f.States)
	w.within("source", f.Sources)
	w.time("updated_at < ?", f.UpdatedBefore)
	if f.Unsettled {
		w.add("settled_at IS NULL")
	}
	if f.NoSettlement {
		w.add("NOT EXISTS (SELECT 1 FROM settlements s WHERE s.kind = '" + store.SettlementPayment + "' AND s.ref = payments.ref)")
	}
	rows, err := s.r.QueryContext(ctx, w.query(`SELECT `+paymentColumns+` FROM payments`, `created_at, ref`, f.Limit, 0), w.args...)
	out, err := all(rows, err, scanPayment)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return out, nil
}

// =============================================================================
// Deliveries

const deliveryColumns = `order_number, dossier_id, source, state, item_code, cod, total_fee, status, status_at,
	tracking_id, delivered_at, cod_paid_at, problem, created_at, updated_at`

func scanDelivery(row store.Scanner) (d store.Delivery, err error) {
	err = row.Scan(&d.OrderNumber, &d.DossierID, &d.Source, &d.State, &d.ItemCode, &d.COD, &d.TotalFee,
		&d.Status, at(&d.StatusAt), &d.TrackingID, at(&d.DeliveredAt), at(&d.CODPaidAt), &d.Problem,
		at(&d.CreatedAt), at(&d.UpdatedAt))
	return d, err
}

func (s *Store) getDelivery(ctx context.Context, q querier, orderNumber string) (store.Delivery, error) {
	return one(s.row(ctx, q, `SELECT `+deliveryColumns+` FROM deliveries WHERE order_number = $1`, orderNumber), scanDelivery)
}

// CreateDelivery records d if its OrderNumber is new and returns it as
// stored, with created true. If the order number is taken it returns the
// delivery stored under it, unchanged, with created false. An empty State
// is store.DeliveryNew; an empty OrderNumber or DossierID is an error
// wrapping store.ErrInvalid.
func (s *Store) CreateDelivery(ctx context.Context, d store.Delivery) (stored store.Delivery, created bool, err error) {
	n, err := store.PrepareDelivery(d, store.Now())
	if err == nil {
		stored, created, err = createOrGet(ctx, s, scanDelivery,
			func(q querier) (store.Delivery, error) { return s.getDelivery(ctx, q, n.OrderNumber) }, `
INSERT INTO deliveries (`+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (order_number) DO NOTHING
RETURNING `+deliveryColumns,
			n.OrderNumber, n.DossierID, n.Source, n.State, n.ItemCode, n.COD, n.TotalFee, n.Status, s.d.time(n.StatusAt),
			n.TrackingID, s.d.time(n.DeliveredAt), s.d.time(n.CODPaidAt), n.Problem, s.d.time(n.CreatedAt), s.d.time(n.UpdatedAt))
	}
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("create delivery %q: %w", d.OrderNumber, err)
	}
	return stored, created, nil
}

// UpdateDelivery applies u to the delivery orderNumber in one statement and
// returns it as updated, with changed true. Nothing is written, and the
// delivery is returned as it is with changed false, if u.From is not empty
// and the delivery is in none of its states, or if u.TrackingID is not
// zero and not greater than the stored one (a tracking event already
// applied). Zero fields of u keep the stored value; DeliveredAt and
// CODPaidAt only fill an unset time. No delivery orderNumber is an error
// wrapping store.ErrNotFound.
func (s *Store) UpdateDelivery(ctx context.Context, orderNumber string, u store.DeliveryUpdate) (d store.Delivery, changed bool, err error) {
	if u, err = store.PrepareDeliveryUpdate(u); err == nil {
		args := []any{orderNumber, u.State, u.ItemCode, u.TotalFee, u.TrackingID, u.Status, s.d.time(u.StatusAt),
			s.d.time(u.DeliveredAt), s.d.time(u.CODPaidAt), u.Problem, s.d.time(store.Now())}
		q := `
UPDATE deliveries SET
	state = coalesce(nullif(CAST($2 AS text), ''), state),
	item_code = coalesce(nullif(CAST($3 AS text), ''), item_code),
	total_fee = coalesce(nullif(CAST($4 AS bigint), 0), total_fee),
	tracking_id = coalesce(nullif(CAST($5 AS bigint), 0), tracking_id),
	status = coalesce(nullif(CAST($6 AS integer), 0), status),
	status_at = coalesce(CAST($7 AS timestamptz), status_at),
	delivered_at = coalesce(delivered_at, CAST($8 AS timestamptz)),
	cod_paid_at = coalesce(cod_paid_at, CAST($9 AS timestamptz)),
	problem = coalesce(nullif(CAST($10 AS text), ''), problem),
	updated_at = $11
WHERE order_number = $1 AND (CAST($5 AS bigint) = 0 OR tracking_id < CAST($5 AS bigint))` +
			s.oneOf("state", u.From, &args) + `
RETURNING ` + deliveryColumns
		d, changed, err = createOrGet(ctx, s, scanDelivery,
			func(q querier) (store.Delivery, error) { return s.getDelivery(ctx, q, orderNumber) }, q, args...)
	}
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("update delivery %q: %w", orderNumber, err)
	}
	return d, changed, nil
}

// GetDelivery returns the delivery orderNumber, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, orderNumber string) (store.Delivery, error) {
	d, err := s.getDelivery(ctx, s.r, orderNumber)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("get delivery %q: %w", orderNumber, err)
	}
	return d, nil
}

// ListDeliveries returns the deliveries f selects, by CreatedAt then
// OrderNumber.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	w := s.where()
	w.in("dossier_id", f.DossierIDs)
	w.in("order_number", f.OrderNumbers)
	w.in("state", f.States)
	w.within("source", f.Sources)
	if f.Problems {
		w.add("problem <> ''")
	}
	if f.InFlight {
		w.add("state = ?", store.DeliveryOrdered)
		w.add("delivered_at IS NULL")
	}
	q := w.query(`SELECT `+deliveryColumns+` FROM deliveries`, `created_at, order_number`, f.Limit, 0)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// =============================================================================
// Payment notices

const noticeColumns = `id, ref, dossier_id, partner, code, amount, verdict, answer, reason, payload, at`

func (s *Store) scanNotice(row store.Scanner) (store.PaymentNotice, error) {
	var n store.PaymentNotice
	if err := row.Scan(&n.ID, &n.Ref, &n.DossierID, &n.Partner, &n.Code, &n.Amount, &n.Verdict, &n.Answer,
		&n.Reason, &n.Payload, at(&n.At)); err != nil {
		return store.PaymentNotice{}, err
	}
	p, err := s.seal.Open(store.SealNoticePayload, store.NoticeRowKey(n.Ref), n.Payload)
	if err != nil {
		return store.PaymentNotice{}, fmt.Errorf("notice %d: %w", n.ID, err)
	}
	n.Payload = p
	return n, nil
}

// AddPaymentNotice records a payment notice and returns the ID the store
// gave it. Its payload is sealed; a zero At is the store's clock. An
// unknown Verdict is an error wrapping store.ErrInvalid.
func (s *Store) AddPaymentNotice(ctx context.Context, n store.PaymentNotice) (id int64, err error) {
	if n, err = store.PreparePaymentNotice(n, store.Now()); err != nil {
		return 0, fmt.Errorf("add payment notice: %w", err)
	}
	payload := s.seal.Seal([]byte{}, store.SealNoticePayload, store.NoticeRowKey(n.Ref), n.Payload)
	if err := s.row(ctx, s.w, `
INSERT INTO payment_notices (ref, dossier_id, partner, code, amount, verdict, answer, reason, payload, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		n.Ref, n.DossierID, n.Partner, n.Code, n.Amount, n.Verdict, n.Answer, n.Reason, payload, s.d.time(n.At)).Scan(&id); err != nil {
		return 0, fmt.Errorf("add payment notice: %w", err)
	}
	return id, nil
}

// ListPaymentNotices returns the notices f selects, oldest first.
func (s *Store) ListPaymentNotices(ctx context.Context, f store.NoticeFilter) ([]store.PaymentNotice, error) {
	w := s.where()
	if f.Ref != "" {
		w.add("ref = ?", f.Ref)
	}
	if f.Verdict != "" {
		w.add("verdict = ?", f.Verdict)
	}
	rows, err := s.r.QueryContext(ctx, w.query(`SELECT `+noticeColumns+` FROM payment_notices`, `id`, f.Limit, 0), w.args...)
	out, err := all(rows, err, s.scanNotice)
	if err != nil {
		return nil, fmt.Errorf("list payment notices: %w", err)
	}
	return out, nil
}
