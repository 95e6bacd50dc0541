package vnpost

// MyVNPost order status codes (§6, public).
const (
	StatusDraft                = 0
	StatusCreated              = 1
	StatusAssigned             = 2 // assigned to a postman
	StatusProcessing           = 3
	StatusPickingUp            = 4
	StatusPickupFailed         = 5
	StatusPickedUp             = 6
	StatusReceivedAtPostOffice = 7
	StatusCollectionFailed     = 8
	StatusPickupCancelled      = 9
	StatusInTransit            = 10
	StatusArrivedAtPostOffice  = 11
	StatusDelivering           = 12
	StatusForwarded            = 13
	StatusDelivered            = 14
	StatusDeliveryFailed       = 15
	// 16–19 are the stages of a return to the sender; the public table names
	// them only as a group, so the names below are descriptive.
	StatusReturningRequested = 16
	StatusReturningApproved  = 17
	StatusReturningInTransit = 18
	StatusReturningCompleted = 19
	StatusPartlyReturned     = 20
	StatusCODPaid            = 21
	StatusCancelled          = 22
)

var statusTexts = [...]string{
	StatusDraft:                "draft",
	StatusCreated:              "created",
	StatusAssigned:             "assigned to postman",
	StatusProcessing:           "processing",
	StatusPickingUp:            "picking up",
	StatusPickupFailed:         "pickup failed",
	StatusPickedUp:             "picked up",
	StatusReceivedAtPostOffice: "received at post office",
	StatusCollectionFailed:     "collection failed",
	StatusPickupCancelled:      "pickup cancelled",
	StatusInTransit:            "in transit",
	StatusArrivedAtPostOffice:  "arrived at post office",
	StatusDelivering:           "delivering",
	StatusForwarded:            "forwarded",
	StatusDelivered:            "delivered",
	StatusDeliveryFailed:       "delivery failed",
	StatusReturningRequested:   "return to sender requested",
	StatusReturningApproved:    "return to sender approved",
	StatusReturningInTransit:   "returning to sender",
	StatusReturningCompleted:   "returned to sender",
	StatusPartlyReturned:       "partly returned",
	StatusCODPaid:              "COD paid",
	StatusCancelled:            "delivery cancelled",
}

// StatusText is an English name for a MyVNPost status code, "" for a code
// outside the table.
func StatusText(code int) string {
	if code < 0 || code >= len(statusTexts) {
		return ""
	}
	return statusTexts[code]
}

// Problem reports whether code is a failure or return the hub must surface:
// pickup/collection failures and cancellation (5, 8, 9), failed delivery and
// returns (15–20) and cancelled delivery (22).
func Problem(code int) bool {
	switch code {
	case StatusPickupFailed, StatusCollectionFailed, StatusPickupCancelled, StatusCancelled:
		return true
	}
	return code >= StatusDeliveryFailed && code <= StatusPartlyReturned
}
