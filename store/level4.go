package store

import "time"

// Level-4 state: the payment requests the hub made on the payment platform,
// the VNPost orders it placed, and every payment notification (IPN) it
// received. Each row is keyed by the idempotency key of its effect (the
// MaThamChieu, the order number), so a redelivered message finds the row and
// does not repeat the effect. None of these columns hold personal data except
// PaymentNotice.Payload, which is sealed.

// Payment states.
const (
	// PaymentNew is recorded before the create call: the platform may or may
	// not have the request (it answers "15" with the first transaction when
	// asked again).
	PaymentNew       = "new"
	PaymentPending   = "pending" // the platform has the request; the payer has not finished
	PaymentPaid      = "paid"
	PaymentFailed    = "failed"    // MaLoi/TrangThai 02
	PaymentCancelled = "cancelled" // MaLoi/TrangThai 03
)

// Payment is one payment request: one MaThamChieu per dossier and fee set.
type Payment struct {
	Ref       string   // MaThamChieu, the primary key
	DossierID string   // MaHoSo
	Source    string   // sonla, thainguyen, hatinh
	FeeCodes  []string // codes of the fees this request covers, sorted
	Amount    int64    // SoTien, whole VND
	State     string   // PaymentNew…
	TxnID     string   // MaGiaoDich
	PayURL    string   // DuongDanThanhToan
	PaidAt    time.Time
	// SettledAt is when the payment's effects (writeback to the province,
	// fees paid at the national portal) were done; zero while they are due.
	SettledAt time.Time
	CreatedAt time.Time // set by the store
	UpdatedAt time.Time // set by the store on every write
}

// PaymentUpdate changes a payment. Zero fields keep the stored value.
type PaymentUpdate struct {
	// From lists the states the payment must be in for the update to apply;
	// empty applies in any state.
	From      []string
	State     string
	TxnID     string
	PayURL    string
	PaidAt    time.Time
	SettledAt time.Time
}

// PaymentFilter selects payments. Empty fields do not filter, except
// Sources. Results are ordered by CreatedAt, then Ref.
type PaymentFilter struct {
	DossierIDs []string
	States     []string
	// Sources, when not nil, keeps only payments whose Source is one of
	// them. A nil Sources does not filter; a non-nil empty one matches
	// nothing (scoping to no source fails closed).
	Sources       []string
	UpdatedBefore time.Time // exclusive
	Unsettled     bool      // only SettledAt zero
	// NoSettlement keeps only payments without a Settlement (kind
	// SettlementPayment) yet: once one is opened, the settlement pass, not
	// the payment list, carries the payment's effects on.
	NoSettlement bool
	Limit        int // <= 0: no limit
}

// Delivery states.
const (
	// DeliveryNew is recorded before the create-order call; VNPost answers
	// 409 with the existing order when asked again.
	DeliveryNew     = "new"
	DeliveryOrdered = "ordered"
)

// Delivery is one VNPost order for a dossier's result.
type Delivery struct {
	OrderNumber string // the hub's own order number, the primary key
	DossierID   string
	Source      string
	State       string // DeliveryNew | DeliveryOrdered
	ItemCode    string // VNPost's itemCode (EB…VN)
	COD         int64  // codAmount, whole VND
	TotalFee    int64  // VNPost's totalFee
	// Status is the last MyVNPost status code applied (0 until the first
	// tracking event), TrackingID that event's id: events are applied once,
	// in id order.
	Status      int
	StatusAt    time.Time
	TrackingID  int64
	DeliveredAt time.Time // the first status 14
	CODPaidAt   time.Time // the first status 21
	// Problem is the last failure or return (statuses 5, 8, 9, 15–20, 22) as
	// "<code> <statusMessage>", "" when none has happened.
	Problem   string
	CreatedAt time.Time // set by the store
	UpdatedAt time.Time // set by the store on every write
}

// DeliveryUpdate changes a delivery. Zero fields keep the stored value.
type DeliveryUpdate struct {
	// From lists the states the delivery must be in; empty: any.
	From     []string
	State    string
	ItemCode string
	TotalFee int64
	// TrackingID, when non-zero, applies the update only if it is greater
	// than the stored TrackingID (a replayed tracking event changes nothing),
	// and stores it together with Status and StatusAt.
	TrackingID int64
	Status     int
	StatusAt   time.Time
	// DeliveredAt and CODPaidAt are set only if still unset: the first wins.
	DeliveredAt time.Time
	CODPaidAt   time.Time
	Problem     string
}

// DeliveryFilter selects deliveries. Empty fields do not filter, except
// Sources. Results are ordered by CreatedAt, then OrderNumber.
type DeliveryFilter struct {
	DossierIDs   []string
	OrderNumbers []string
	States       []string
	// Sources, when not nil, keeps only deliveries whose Source is one of
	// them. A nil Sources does not filter; a non-nil empty one matches
	// nothing (scoping to no source fails closed).
	Sources  []string
	Problems bool // only deliveries with a Problem
	// InFlight keeps only deliveries on their way: ordered
	// (State == DeliveryOrdered) and not yet delivered (DeliveredAt zero).
	InFlight bool
	Limit    int // <= 0: no limit
}

// Verdicts on a payment notification.
const (
	NoticeAccepted  = "accepted"  // changed the payment's state
	NoticeDuplicate = "duplicate" // valid, but already applied: no second effect
	NoticeRefused   = "refused"   // forged, altered, mismatched or unknown
)

// PaymentNotice is one payment notification (IPN) as received and judged.
type PaymentNotice struct {
	ID        int64  // assigned by the store
	Ref       string // MaThamChieu as sent (may be unknown)
	DossierID string // "" when the reference is unknown
	Partner   string // MaDoiTac as sent
	Code      string // MaLoi of the notification
	Amount    int64  // SoTien as sent
	Verdict   string // NoticeAccepted…
	Answer    string // the MaLoi the hub answered
	Reason    string // why refused; names fields, never their values
	Payload   []byte // the notification as received; sealed at rest
	At        time.Time
}

// NoticeFilter selects payment notices, oldest first.
type NoticeFilter struct {
	Ref     string
	Verdict string
	Limit   int // <= 0: no limit
}
