package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lienthong/lienthong/store"
)

// Level-4 state: payments, deliveries and payment notices. Creates and
// guarded updates run in a write transaction: the INSERT … ON CONFLICT DO
// NOTHING or UPDATE … WHERE guard, with RETURNING, and the read of the row
// already there when it wrote nothing. The transaction holds the file's
// write lock, so concurrent updates of a row, from this process or
// another, apply one after the other and each sees the other's result.
// The rules both stores share are in store/level4_rules.go and
// store/rows.go.

// querier is what a lookup needs: the reader pool, or a write transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// one scans the only row of a lookup: no row is store.ErrNotFound.
func one[T any](row *sql.Row, scan func(store.Scanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, store.ErrNotFound
	}
	return v, err
}

// all scans every row of a list query; none is nil.
func all[T any](rows *sql.Rows, err error, scan func(store.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanRows(rows, scan)
}

// jsonList is list as a JSON array, for json_each: SQLite has no array
// parameters.
func jsonList(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(list) // a []string always marshals
	return string(b)
}

// where gathers the conditions of a list query and their arguments.
type where struct {
	conds []string
	args  []any
}

// add adds cond, in which ? stands for v when v is given.
func (w *where) add(cond string, v ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, v...)
}

// in adds "column is one of list", unless list is empty.
func (w *where) in(column string, list []string) {
	if len(list) > 0 {
		w.add(column+" IN (SELECT value FROM json_each(?))", jsonList(list))
	}
}

// within adds "column is one of list" unless list is nil: unlike in, a
// non-nil empty list matches nothing (IN over json_each('[]') is false).
func (w *where) within(column string, list []string) {
	if list != nil {
		w.add(column+" IN (SELECT value FROM json_each(?))", jsonList(list))
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
		sel += ` LIMIT ?`
	}
	return sel
}

// =============================================================================
// Payments

const paymentColumns = `ref, dossier_id, source, fee_codes, amount, state, txn_id, pay_url, paid_at, settled_at,
	created_at, updated_at`

func scanPayment(row store.Scanner) (store.Payment, error) {
	var (
		p                store.Payment
		fees             string
		paid, settled    sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&p.Ref, &p.DossierID, &p.Source, &fees, &p.Amount, &p.State, &p.TxnID, &p.PayURL,
		&paid, &settled, &created, &updated); err != nil {
		return store.Payment{}, err
	}
	codes, err := store.DecodeFeeCodes(fees)
	if err != nil {
		return store.Payment{}, fmt.Errorf("payment %s: %w", p.Ref, err)
	}
	p.FeeCodes = codes
	p.PaidAt, p.SettledAt = fromNullMicros(paid), fromNullMicros(settled)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return p, nil
}

func getPayment(ctx context.Context, q querier, ref string) (store.Payment, error) {
	return one(q.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments WHERE ref = ?`, ref), scanPayment)
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
INSERT INTO payments (`+paymentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ref) DO NOTHING
RETURNING `+paymentColumns,
			n.Ref, n.DossierID, n.Source, store.EncodeFeeCodes(n.FeeCodes), n.Amount, n.State, n.TxnID, n.PayURL,
			nullMicros(n.PaidAt), nullMicros(n.SettledAt), micros(n.CreatedAt), micros(n.UpdatedAt)), scanPayment)
		stored, created, err = store.WrittenOrCurrent(row, err, func() (store.Payment, error) { return getPayment(ctx, tx, n.Ref) })
		return err
	})
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("create payment %q: %w", p.Ref, err)
	}
	return stored, created, nil
}

// UpdatePayment applies u to the payment ref in one transaction and
// returns it as updated, with changed true. If u.From is not empty and the
// payment is in none of its states, nothing is written and the payment is
// returned as it is, with changed false. Zero fields of u keep the stored
// value. No payment ref is an error wrapping store.ErrNotFound.
func (s *Store) UpdatePayment(ctx context.Context, ref string, u store.PaymentUpdate) (p store.Payment, changed bool, err error) {
	if u, err = store.PreparePaymentUpdate(u); err != nil {
		return store.Payment{}, false, fmt.Errorf("update payment %q: %w", ref, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
UPDATE payments SET
	state = coalesce(nullif(?2, ''), state),
	txn_id = coalesce(nullif(?3, ''), txn_id),
	pay_url = coalesce(nullif(?4, ''), pay_url),
	paid_at = coalesce(?5, paid_at),
	settled_at = coalesce(?6, settled_at),
	updated_at = ?7
WHERE ref = ?1 AND (json_array_length(?8) = 0 OR state IN (SELECT value FROM json_each(?8)))
RETURNING `+paymentColumns,
			ref, u.State, u.TxnID, u.PayURL, nullMicros(u.PaidAt), nullMicros(u.SettledAt), micros(store.Now()), jsonList(u.From)), scanPayment)
		p, changed, err = store.WrittenOrCurrent(row, err, func() (store.Payment, error) { return getPayment(ctx, tx, ref) })
		return err
	})
	if err != nil {
		return store.Payment{}, false, fmt.Errorf("update payment %q: %w", ref, err)
	}
	return p, changed, nil
}

// GetPayment returns the payment ref, or an error wrapping store.ErrNotFound.
func (s *Store) GetPayment(ctx context.Context, ref string) (store.Payment, error) {
	p, err := getPayment(ctx, s.r, ref)
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
		w.add("updated_at < ?", micros(store.Normalise(f.UpdatedBefore)))
	}
	if f.Unsettled {
		w.add("settled_at IS NULL")
	}
	if f.NoSettlement {
		w.add("NOT EXISTS (SELECT 1 FROM settlements s WHERE s.kind = '" + store.SettlementPayment + "' AND s.ref = payments.ref)")
	}
	q := w.query(`SELECT `+paymentColumns+` FROM payments`, `created_at, ref`, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, w.args...)
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
		statusAt, delivered, paid sql.NullInt64
		created, updated          int64
	)
	if err := row.Scan(&d.OrderNumber, &d.DossierID, &d.Source, &d.State, &d.ItemCode, &d.COD, &d.TotalFee,
		&d.Status, &statusAt, &d.TrackingID, &delivered, &paid, &d.Problem, &created, &updated); err != nil {
		return store.Delivery{}, err
	}
	d.StatusAt, d.DeliveredAt, d.CODPaidAt = fromNullMicros(statusAt), fromNullMicros(delivered), fromNullMicros(paid)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

func getDelivery(ctx context.Context, q querier, orderNumber string) (store.Delivery, error) {
	return one(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE order_number = ?`, orderNumber), scanDelivery)
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
INSERT INTO deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_number) DO NOTHING
RETURNING `+deliveryColumns,
			n.OrderNumber, n.DossierID, n.Source, n.State, n.ItemCode, n.COD, n.TotalFee, n.Status, nullMicros(n.StatusAt),
			n.TrackingID, nullMicros(n.DeliveredAt), nullMicros(n.CODPaidAt), n.Problem, micros(n.CreatedAt), micros(n.UpdatedAt)), scanDelivery)
		stored, created, err = store.WrittenOrCurrent(row, err, func() (store.Delivery, error) { return getDelivery(ctx, tx, n.OrderNumber) })
		return err
	})
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("create delivery %q: %w", d.OrderNumber, err)
	}
	return stored, created, nil
}

// UpdateDelivery applies u to the delivery orderNumber in one transaction
// and returns it as updated, with changed true. Nothing is written, and the
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row, err := one(tx.QueryRowContext(ctx, `
UPDATE deliveries SET
	state = coalesce(nullif(?2, ''), state),
	item_code = coalesce(nullif(?3, ''), item_code),
	total_fee = coalesce(nullif(?4, 0), total_fee),
	tracking_id = coalesce(nullif(?5, 0), tracking_id),
	status = coalesce(nullif(?6, 0), status),
	status_at = coalesce(?7, status_at),
	delivered_at = coalesce(delivered_at, ?8),
	cod_paid_at = coalesce(cod_paid_at, ?9),
	problem = coalesce(nullif(?10, ''), problem),
	updated_at = ?11
WHERE order_number = ?1 AND (json_array_length(?12) = 0 OR state IN (SELECT value FROM json_each(?12)))
	AND (?5 = 0 OR tracking_id < ?5)
RETURNING `+deliveryColumns,
			orderNumber, u.State, u.ItemCode, u.TotalFee, u.TrackingID, u.Status, nullMicros(u.StatusAt),
			nullMicros(u.DeliveredAt), nullMicros(u.CODPaidAt), u.Problem, micros(store.Now()), jsonList(u.From)), scanDelivery)
		d, changed, err = store.WrittenOrCurrent(row, err, func() (store.Delivery, error) { return getDelivery(ctx, tx, orderNumber) })
		return err
	})
	if err != nil {
		return store.Delivery{}, false, fmt.Errorf("update delivery %q: %w", orderNumber, err)
	}
	return d, changed, nil
}

// GetDelivery returns the delivery orderNumber, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, orderNumber string) (store.Delivery, error) {
	d, err := getDelivery(ctx, s.r, orderNumber)
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
	var (
		n  store.PaymentNotice
		at int64
	)
	if err := row.Scan(&n.ID, &n.Ref, &n.DossierID, &n.Partner, &n.Code, &n.Amount, &n.Verdict, &n.Answer,
		&n.Reason, &n.Payload, &at); err != nil {
		return store.PaymentNotice{}, err
	}
	p, err := s.seal.Open(store.SealNoticePayload, store.NoticeRowKey(n.Ref), n.Payload)
	if err != nil {
		return store.PaymentNotice{}, fmt.Errorf("notice %d: %w", n.ID, err)
	}
	n.Payload = p
	n.At = fromMicros(at)
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
	res, err := s.w.ExecContext(ctx, `
INSERT INTO payment_notices (ref, dossier_id, partner, code, amount, verdict, answer, reason, payload, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Ref, n.DossierID, n.Partner, n.Code, n.Amount, n.Verdict, n.Answer, n.Reason, payload, micros(n.At))
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err != nil {
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
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	out, err := all(rows, err, s.scanNotice)
	if err != nil {
		return nil, fmt.Errorf("list payment notices: %w", err)
	}
	return out, nil
}
