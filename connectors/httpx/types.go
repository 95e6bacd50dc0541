package httpx

import (
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// Page is what a connector's Pull returns: the records not yet handed off, in
// source order, and the cursor to persist once they are safely published.
// More means another page is waiting: call Pull again right away.
type Page struct {
	Records []schemas.RawRecord
	Cursor  []byte
	More    bool
}

// Writeback event kinds (the same vocabulary at all three portals).
const (
	KindPayment  = "THANH_TOAN"       // a fee was paid online
	KindPost     = "BUU_CHINH"        // result delivery by post progressed
	KindNational = "DONG_BO_QUOC_GIA" // the dossier was synchronised to the national portal
)

// Event is one writeback to a provincial portal about one of its dossiers.
// Reference is the idempotency key (MaThamChieu / Idempotency-Key): sending
// the same Reference twice has one effect at the portal.
type Event struct {
	DossierID string         // MaHoSo
	Kind      string         // KindPayment | KindPost | KindNational
	Reference string         // MaThamChieu / Idempotency-Key
	At        time.Time      // when it happened
	Content   string         // free text (noiDung / NoiDung / element text)
	Data      map[string]any // structured details; only Sơn La carries them (duLieu)
}
