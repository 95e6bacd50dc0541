package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/lienthong/lienthong/store"
)

// Level-4 state: payments, deliveries and payment notices. Creates are
// INSERT … ON CONFLICT DO NOTHING RETURNING, falling back to the row
// already there; guarded updates are one UPDATE … WHERE guard RETURNING,
// so concurrent updates of a row serialise on its lock and each sees the
// other's result (READ COMMITTED re-checks the WHERE on the row it waited
// for). The rules both stores share are in
// store/level4_rules.go and store/rows.go.

// tstz is t as a nullable timestamptz: NULL for the zero time.
func tstz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTstz is the time of a nullable timestamptz, zero for NULL.
func fromTstz(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return store.Normalise(v.Time)
}

// one scans the only row of a lookup: no row is store.ErrNotFound.
func one[T any](row pgx.Row, scan func(store.Scanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, store.ErrNotFound
	}
	return v, err
}

// all scans every row of a list query; none is nil.
func all[T any](rows pgx.Rows, err error, scan func(store.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanRows(rows, scan)
}

// where gathers the conditions of a list query and their arguments.
type where struct {
	conds []string
	args  []any
}

// add adds cond, in which ? stands for v when v is given.
func (w *where) add(cond string, v ...any) {
	if len(v) > 0 {
		w.args = append(w.args, v[0])
		cond = strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args)))
	}
	w.conds = append(w.conds, cond)
}

// in adds "column is one of list", unless list is empty. The list is a
// semi-join, not "= ANY": a plan cached while the table was small scans
// it, and with "= ANY" compares each row with every item (50 ms a call
// for 500 dossiers over 2,000 deliveries in `hub bench`).
func (w *where) in(column string, list []string) {
	if len(list) > 0 {
		w.add(column+" IN (SELECT unnest(?::text[]))", list)
	}
}

// within adds "column is one of list" unless list is nil: unlike in, a
// non-nil empty list matches nothing (source = ANY('{}') is false).
func (w *where) within(column string, list []string) {
	if list != nil {
		w.add(column+" = ANY(?)", list)
	}
}

// query completes sel with the conditions, the order and a limit (<= 0:
// none).
func (w *where) query(sel, order string, limit int) string {
	if len(w.conds) > 0 {
		sel += ` WHERE ` + strings.Join(w.conds, " AND ")
	}
	sel += ` ORDER BY ` + order
	if limit > 0 {
		w.args = append(w.args, limit)
		sel += ` LIMIT $` + strconv.Itoa(len(w.args))
	}
	return sel
}

// =============================================================================
// Payments

const paymentColumns = `ref, dossier_id, source, fee_codes, amount, state, txn_id, pay_url, paid_at, settled_at,
	created_at, updated_at`

func scanPayment(row store.Scanner) (store.Payment, error) {
	var (
		p             store.Payment
		fees          string
		paid, settled pgtype.Timestamptz
	)
	if err := row.Scan(&p.Ref, &p.DossierID, &p.Source, &fees, &p.Amount, &p.State, &p.TxnID, &p.PayURL,
		&paid, &settled, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return store.Payment{}, err
	}
	codes, err := store.DecodeFeeCodes(fees)
	if err != nil {
		return store.Payment{}, fmt.Errorf("payment %s: %w", p.Ref, err)
	}
	p.FeeCodes = codes
	p.PaidAt, p.SettledAt = fromTstz(paid), fromTstz(settled)
	p.CreatedAt, p.UpdatedAt = store.Normalise(p.CreatedAt), store.Normalise(p.UpdatedAt)
	return p, nil
}

func (s *Store) getPayment(ctx context.Context, ref string) (store.Payment, error) {
	return one(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE ref = $1`, ref), scanPayment)
}

// CreatePayment records p if its Ref is new and returns it as stored, with
// created true. If the Ref is taken it returns the payment stored under it,
// unchanged, with created false. An empty State is store.PaymentNew; an
// empty Ref or DossierID is an error wrapping store.ErrInvalid.
func (s *Store) CreatePayment(ctx context.Context, p store.Payment) (stored store.Payment, created bool, err error) {
	n, err := store.PreparePayment(p, store.Now())
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("create payment %q: %w", p.Ref, err)
	}
	stored, err = one(s.pool.QueryRow(ctx, `
INSERT INTO payments (`+paymentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (ref) DO NOTHING
RETURNING `+paymentColumns,
		n.Ref, n.DossierID, n.Source, store.EncodeFeeCodes(n.FeeCodes), n.Amount, n.State, n.TxnID, n.PayURL,
		tstz(n.PaidAt), tstz(n.SettledAt), n.CreatedAt, n.UpdatedAt), scanPayment)
	stored, created, err = store.WrittenOrCurrent(stored, err, func() (store.Payment, error) { return s.getPayment(ctx, n.Ref) })
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
	if u, err = store.PreparePaymentUpdate(u); err != nil {
		return store.Payment{}, false, fmt.Errorf("update payment %q: %w", ref, err)
	}
	p, err = one(s.pool.QueryRow(ctx, `
UPDATE payments SET
	state = coalesce(nullif($2::text, ''), state),
	txn_id = coalesce(nullif($3::text, ''), txn_id),
	pay_url = coalesce(nullif($4::text, ''), pay_url),
	paid_at = coalesce($5::timestamptz, paid_at),
	settled_at = coalesce($6::timestamptz, settled_at),
	updated_at = $7
WHERE ref = $1 AND (coalesce(cardinality($8::text[]), 0) = 0 OR state = ANY($8::text[]))
RETURNING `+paymentColumns,
		ref, u.State, u.TxnID, u.PayURL, tstz(u.PaidAt), tstz(u.SettledAt), store.Now(), u.From), scanPayment)
	p, changed, err = store.WrittenOrCurrent(p, err, func() (store.Payment, error) { return s.getPayment(ctx, ref) })
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("update payment %q: %w", ref, err)
	}
	return p, changed, nil
}

// GetPayment returns the payment ref, or an error wrapping store.ErrNotFound.
func (s *Store) GetPayment(ctx context.Context, ref string) (store.Payment, error) {
	p, err := s.getPayment(ctx, ref)
	if err != nil {
		return store.Payment{}, fmt.Errorf("get payment %q: %w", ref, err)
	}
	return p, nil
}

// ListPayments returns the payments f selects, by CreatedAt then Ref.
func (s *Store) ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error) {
	var w where
	w.in("dossier_id", f.DossierIDs)
	w.in("state", f.States)
	w.within("source", f.Sources)
	if !f.UpdatedBefore.IsZero() {
		w.add("updated_at < ?", f.UpdatedBefore)
	}
	if f.Unsettled {
		w.add("settled_at IS NULL")
	}
	if f.NoSettlement {
		w.add("NOT EXISTS (SELECT 1 FROM settlements s WHERE s.kind = '" + store.SettlementPayment + "' AND s.ref = payments.ref)")
	}
	q := w.query(`SELECT `+paymentColumns+` FROM payments`, `created_at, ref`, f.Limit)
	rows, err := s.pool.Query(ctx, q, w.args...)
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

func scanDelivery(row store.Scanner) (store.Delivery, error) {
	var (
		d                         store.Delivery
		statusAt, delivered, paid pgtype.Timestamptz
	)
	if err := row.Scan(&d.OrderNumber, &d.DossierID, &d.Source, &d.State, &d.ItemCode, &d.COD, &d.TotalFee,
		&d.Status, &statusAt, &d.TrackingID, &delivered, &paid, &d.Problem, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return store.Delivery{}, err
	}
	d.StatusAt, d.DeliveredAt, d.CODPaidAt = fromTstz(statusAt), fromTstz(delivered), fromTstz(paid)
	d.CreatedAt, d.UpdatedAt = store.Normalise(d.CreatedAt), store.Normalise(d.UpdatedAt)
	return d, nil
}

func (s *Store) getDelivery(ctx context.Context, orderNumber string) (store.Delivery, error) {
	return one(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE order_number = $1`, orderNumber), scanDelivery)
}

// CreateDelivery records d if its OrderNumber is new and returns it as
// stored, with created true. If the order number is taken it returns the
// delivery stored under it, unchanged, with created false. An empty State
// is store.DeliveryNew; an empty OrderNumber or DossierID is an error
// wrapping store.ErrInvalid.
func (s *Store) CreateDelivery(ctx context.Context, d store.Delivery) (stored store.Delivery, created bool, err error) {
	n, err := store.PrepareDelivery(d, store.Now())
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("create delivery %q: %w", d.OrderNumber, err)
	}
	stored, err = one(s.pool.QueryRow(ctx, `
INSERT INTO deliveries (`+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (order_number) DO NOTHING
RETURNING `+deliveryColumns,
		n.OrderNumber, n.DossierID, n.Source, n.State, n.ItemCode, n.COD, n.TotalFee, n.Status, tstz(n.StatusAt),
		n.TrackingID, tstz(n.DeliveredAt), tstz(n.CODPaidAt), n.Problem, n.CreatedAt, n.UpdatedAt), scanDelivery)
	stored, created, err = store.WrittenOrCurrent(stored, err, func() (store.Delivery, error) { return s.getDelivery(ctx, n.OrderNumber) })
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
	if u, err = store.PrepareDeliveryUpdate(u); err != nil {
		return store.Delivery{}, false, fmt.Errorf("update delivery %q: %w", orderNumber, err)
	}
	d, err = one(s.pool.QueryRow(ctx, `
UPDATE deliveries SET
	state = coalesce(nullif($2::text, ''), state),
	item_code = coalesce(nullif($3::text, ''), item_code),
	total_fee = coalesce(nullif($4::int8, 0), total_fee),
	tracking_id = coalesce(nullif($5::int8, 0), tracking_id),
	status = coalesce(nullif($6::int4, 0), status),
	status_at = coalesce($7::timestamptz, status_at),
	delivered_at = coalesce(delivered_at, $8::timestamptz),
	cod_paid_at = coalesce(cod_paid_at, $9::timestamptz),
	problem = coalesce(nullif($10::text, ''), problem),
	updated_at = $11
WHERE order_number = $1 AND (coalesce(cardinality($12::text[]), 0) = 0 OR state = ANY($12::text[]))
	AND ($5::int8 = 0 OR tracking_id < $5::int8)
RETURNING `+deliveryColumns,
		orderNumber, u.State, u.ItemCode, u.TotalFee, u.TrackingID, u.Status, tstz(u.StatusAt),
		tstz(u.DeliveredAt), tstz(u.CODPaidAt), u.Problem, store.Now(), u.From), scanDelivery)
	d, changed, err = store.WrittenOrCurrent(d, err, func() (store.Delivery, error) { return s.getDelivery(ctx, orderNumber) })
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("update delivery %q: %w", orderNumber, err)
	}
	return d, changed, nil
}

// GetDelivery returns the delivery orderNumber, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, orderNumber string) (store.Delivery, error) {
	d, err := s.getDelivery(ctx, orderNumber)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("get delivery %q: %w", orderNumber, err)
	}
	return d, nil
}

// ListDeliveries returns the deliveries f selects, by CreatedAt then
// OrderNumber.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	var w where
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
	q := w.query(`SELECT `+deliveryColumns+` FROM deliveries`, `created_at, order_number`, f.Limit)
	rows, err := s.pool.Query(ctx, q, w.args...)
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
		&n.Reason, &n.Payload, &n.At); err != nil {
		return store.PaymentNotice{}, err
	}
	p, err := s.seal.Open(store.SealNoticePayload, store.NoticeRowKey(n.Ref), n.Payload)
	if err != nil {
		return store.PaymentNotice{}, fmt.Errorf("notice %d: %w", n.ID, err)
	}
	n.Payload = p
	n.At = store.Normalise(n.At)
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
	if err := s.pool.QueryRow(ctx, `
INSERT INTO payment_notices (ref, dossier_id, partner, code, amount, verdict, answer, reason, payload, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		n.Ref, n.DossierID, n.Partner, n.Code, n.Amount, n.Verdict, n.Answer, n.Reason, payload, n.At).Scan(&id); err != nil {
		return 0, fmt.Errorf("add payment notice: %w", err)
	}
	return id, nil
}

// ListPaymentNotices returns the notices f selects, oldest first.
func (s *Store) ListPaymentNotices(ctx context.Context, f store.NoticeFilter) ([]store.PaymentNotice, error) {
	var w where
	if f.Ref != "" {
		w.add("ref = ?", f.Ref)
	}
	if f.Verdict != "" {
		w.add("verdict = ?", f.Verdict)
	}
	q := w.query(`SELECT `+noticeColumns+` FROM payment_notices`, `id`, f.Limit)
	rows, err := s.pool.Query(ctx, q, w.args...)
	out, err := all(rows, err, s.scanNotice)
	if err != nil {
		return nil, fmt.Errorf("list payment notices: %w", err)
	}
	return out, nil
}
