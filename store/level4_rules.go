package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The rules of the level-4 methods that do not depend on SQL, shared by the
// stores: what they refuse, the defaults they fill in and the form values
// are stored in. What an update keeps is in each store's UPDATE statement:
// a zero field keeps the column, DeliveredAt and CODPaidAt only fill a NULL,
// and the From and TrackingID guards are part of its WHERE, so that a
// guarded update is one atomic statement.

// ValidPaymentState reports whether s is a state a payment may be in.
func ValidPaymentState(s string) bool {
	switch s {
	case PaymentNew, PaymentPending, PaymentPaid, PaymentFailed, PaymentCancelled:
		return true
	}
	return false
}

// ValidDeliveryState reports whether s is a state a delivery may be in.
func ValidDeliveryState(s string) bool {
	switch s {
	case DeliveryNew, DeliveryOrdered:
		return true
	}
	return false
}

// ValidNoticeVerdict reports whether s is a verdict on a payment notice.
func ValidNoticeVerdict(s string) bool {
	switch s {
	case NoticeAccepted, NoticeDuplicate, NoticeRefused:
		return true
	}
	return false
}

// PreparePayment checks p for CreatePayment and returns it as the store
// writes it: State PaymentNew when empty, FeeCodes sorted (a copy; nil when
// empty), times normalised, CreatedAt and UpdatedAt now. An empty Ref or
// DossierID, an unknown State or a negative Amount is an error wrapping
// ErrInvalid.
func PreparePayment(p Payment, now time.Time) (Payment, error) {
	switch {
	case p.Ref == "" || p.DossierID == "":
		return Payment{}, fmt.Errorf("ref and dossier id required: %w", ErrInvalid)
	case p.Amount < 0:
		return Payment{}, fmt.Errorf("amount %d: %w", p.Amount, ErrInvalid)
	}
	if p.State == "" {
		p.State = PaymentNew
	}
	if !ValidPaymentState(p.State) {
		return Payment{}, fmt.Errorf("state %q: %w", p.State, ErrInvalid)
	}
	p.FeeCodes = sortedCodes(p.FeeCodes)
	p.PaidAt, p.SettledAt = Normalise(p.PaidAt), Normalise(p.SettledAt)
	p.CreatedAt, p.UpdatedAt = Normalise(now), Normalise(now)
	return p, nil
}

// PreparePaymentUpdate checks u for UpdatePayment and returns it with its
// times normalised. An unknown state, in State or From, is an error
// wrapping ErrInvalid.
func PreparePaymentUpdate(u PaymentUpdate) (PaymentUpdate, error) {
	if err := checkStates(u.State, u.From, ValidPaymentState); err != nil {
		return PaymentUpdate{}, err
	}
	u.PaidAt, u.SettledAt = Normalise(u.PaidAt), Normalise(u.SettledAt)
	return u, nil
}

// PrepareDelivery checks d for CreateDelivery and returns it as the store
// writes it: State DeliveryNew when empty, times normalised, CreatedAt and
// UpdatedAt now. An empty OrderNumber or DossierID, an unknown State or a
// negative amount or tracking id is an error wrapping ErrInvalid.
func PrepareDelivery(d Delivery, now time.Time) (Delivery, error) {
	switch {
	case d.OrderNumber == "" || d.DossierID == "":
		return Delivery{}, fmt.Errorf("order number and dossier id required: %w", ErrInvalid)
	case d.COD < 0 || d.TotalFee < 0 || d.TrackingID < 0:
		return Delivery{}, fmt.Errorf("negative cod, total fee or tracking id: %w", ErrInvalid)
	}
	if d.State == "" {
		d.State = DeliveryNew
	}
	if !ValidDeliveryState(d.State) {
		return Delivery{}, fmt.Errorf("state %q: %w", d.State, ErrInvalid)
	}
	d.StatusAt, d.DeliveredAt, d.CODPaidAt = Normalise(d.StatusAt), Normalise(d.DeliveredAt), Normalise(d.CODPaidAt)
	d.CreatedAt, d.UpdatedAt = Normalise(now), Normalise(now)
	return d, nil
}

// PrepareDeliveryUpdate checks u for UpdateDelivery and returns it with its
// times normalised. An unknown state, in State or From, or a negative
// TotalFee or TrackingID is an error wrapping ErrInvalid.
func PrepareDeliveryUpdate(u DeliveryUpdate) (DeliveryUpdate, error) {
	if u.TotalFee < 0 || u.TrackingID < 0 {
		return DeliveryUpdate{}, fmt.Errorf("negative total fee or tracking id: %w", ErrInvalid)
	}
	if err := checkStates(u.State, u.From, ValidDeliveryState); err != nil {
		return DeliveryUpdate{}, err
	}
	u.StatusAt, u.DeliveredAt, u.CODPaidAt = Normalise(u.StatusAt), Normalise(u.DeliveredAt), Normalise(u.CODPaidAt)
	return u, nil
}

// PreparePaymentNotice checks n for AddPaymentNotice and returns it as the
// store writes it: At now when zero, normalised. An unknown Verdict is an
// error wrapping ErrInvalid. Ref and DossierID may be empty (a notice for
// no known payment is still recorded).
func PreparePaymentNotice(n PaymentNotice, now time.Time) (PaymentNotice, error) {
	if !ValidNoticeVerdict(n.Verdict) {
		return PaymentNotice{}, fmt.Errorf("verdict %q: %w", n.Verdict, ErrInvalid)
	}
	if n.At.IsZero() {
		n.At = now
	}
	n.At = Normalise(n.At)
	return n, nil
}

// EncodeFeeCodes returns the stored form of a payment's fee codes: a JSON
// array of strings ("[]" for none), so any code, commas and quotes
// included, comes back as it was.
func EncodeFeeCodes(codes []string) string {
	if len(codes) == 0 {
		return "[]"
	}
	b, err := json.Marshal(codes)
	if err != nil { // a []string always marshals
		panic(err)
	}
	return string(b)
}

// DecodeFeeCodes reads what EncodeFeeCodes stored; none is nil.
func DecodeFeeCodes(stored string) ([]string, error) {
	var codes []string
	if err := json.Unmarshal([]byte(stored), &codes); err != nil {
		return nil, fmt.Errorf("fee codes %q: %w", stored, err)
	}
	if len(codes) == 0 {
		return nil, nil
	}
	return codes, nil
}

func sortedCodes(codes []string) []string {
	if len(codes) == 0 {
		return nil
	}
	codes = slices.Clone(codes)
	slices.Sort(codes)
	return codes
}

func checkStates(state string, from []string, valid func(string) bool) error {
	if state != "" && !valid(state) {
		return fmt.Errorf("state %q: %w", state, ErrInvalid)
	}
	for _, f := range from {
		if !valid(f) {
			return fmt.Errorf("from state %q: %w", f, ErrInvalid)
		}
	}
	return nil
}
