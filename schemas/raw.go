package schemas

import "time"

// Raw record operations.
const (
	OpUpsert = "upsert" // create or update: the payload is the whole dossier
	OpDelete = "delete" // created in error and deleted at the source
)

// RawRecord is one change pulled from a provincial portal, exactly as the
// source sent it, before any mapping. Connectors fill the identifying fields
// from the payload as far as they can read them; mapping reads the payload.
type RawRecord struct {
	Source  string     `json:"source"`
	ID      string     `json:"id"`                // MaHoSo; empty when even that is unreadable
	Version int64      `json:"version"`           // phienBan / PhienBan / SEQ; 0 when unreadable
	Updated *time.Time `json:"updated,omitempty"` // the source's update time, when it has one
	Op      string     `json:"op"`                // OpUpsert | OpDelete
	// Format names how Payload is encoded: FormatJSON (a Sơn La DOSSIER
	// object) or FormatXML (a standalone UTF-8 element: Thái Nguyên <HoSo> with
	// its namespace declared, Hà Tĩnh <HOSO>, already decoded from the feed's
	// charset but not yet normalised).
	Format  string    `json:"format"`
	Payload []byte    `json:"payload"`
	Pulled  time.Time `json:"pulled"`
}

// Raw payload formats.
const (
	FormatJSON = "json"
	FormatXML  = "xml"
)

// Formats of quarantined payloads that are not a source's record, so that a
// replay knows where the payload goes back in.
const (
	// FormatCanonical: a canonical dossier (JSON) refused after mapping, by
	// the national portal, the payment platform or VNPost, or a message of
	// the canonical topic that could not be opened; replayed onto the
	// canonical topic.
	FormatCanonical = "canonical"
	// FormatRawMessage: a message of a raw topic that is not a RawRecord
	// (or could not be opened); replayed onto its raw topic as it is.
	FormatRawMessage = "raw-message"
	// FormatNotice: a message of the notices topic that could not be
	// opened; replayed onto the notices topic as it is.
	FormatNotice = "notice"
	// FormatSettlement: a writeback the province refused too often, held
	// (flows/settlement); the payload names the settlement, and a replay
	// reopens it, so the next pass writes back under a new reference.
	FormatSettlement = "settlement"
)
