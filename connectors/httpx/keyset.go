package httpx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// Keyset pages through a listing that answers "records updated at or after
// since, ordered by (updated, id), page n of size s" over a live table
// (Sơn La's /api/v1/hoso, Thái Nguyên's LayDanhSachHoSo). Page numbers over
// such a table are unreliable: a record updated while we page moves to the
// end and every record after it shifts back one place, so trusting page
// numbers skips one. The scheme:
//
// Normal phase — cursor {since, seen}: seen holds "id@version" of every
// record handed off whose update time equals since. Read page 1 from since
// (one answer is one consistent snapshot). Drop records older than since and
// records at since already in seen; hand off the rest. Every record before
// the newest time on the page (tmax) is on the page, so since advances to
// tmax and seen becomes the records at tmax on this page. A record at since
// with a newer version is not in seen, so it is handed off.
//
// When a full page holds nothing newer than since (more records share that
// second than fit a page), page numbers are unavoidable inside the second:
//
// Up phase — read pages 2, 3, … from since, handing off unseen records at
// since, until a page is short or shows a record newer than since. A
// record moving out of the second during this walk can make us skip one.
//
// Down phase — once a record newer than since has been seen, the server's
// clock is past since, so no record can enter that second any more; records
// can only leave it (moving to the end of the listing). Walking the pages
// back down (last-but-one page read, …, 1) cannot skip: a departure below
// the walk's position shifts already-read records into unread pages
// (re-read, dropped by seen), never an unread record into a read page. So
// after the down walk every record still in the second has been handed off,
// and one that left is handed off where it landed. since then becomes the
// oldest time seen after it, with an empty seen set.
//
// If the up walk ends on a short page with nothing newer, the second may be
// the current one and still grow. Unless it is closed (below), the cursor
// stays at since with the full seen set, and the second is walked again from
// page 1: right away (More) if the walk found anything new, else at the next
// poll — until a walk finds nothing new. A record inserted into the second
// behind the walk is caught by the next walk; one skipped because another
// left the second is caught by a down walk, since the leaver puts a newer
// record in the listing.
//
// Closing a second — the server's clock (the Date of a page-1 answer,
// KeysetPage.ServerTime) tells when re-walking can stop. If the up walk
// started (its page-1 read) when the server's time was at least since +
// CloseMargin and it ends on a short page with nothing newer, since moves to
// the next whole second (since truncated to the second, plus one) with an
// empty seen set, in the normal phase, whether or not the walk handed
// anything off. This cannot skip a record:
//
//   - No record enters the second after the walk's page-1 read: the clock
//     that stamps records was past the second by then. So the records at
//     since only ever leave it during the walk, each moving to the end of the
//     listing with a newer time; a record's place in the listing (the number
//     of records at since before it) only decreases.
//   - Say a record R is at since throughout the walk (it never left) but
//     was never read. At the page-1 read it was past page 1; at the read of
//     the last page n it was on a page before n (the listing ends by page
//     n, and R was not on it). Its page only ever goes down, so between the
//     reads of some pages i-1 and i it went from past i-1 to before i: a
//     record before it left the second then, and from then on the listing
//     holds a record newer than since. The walk's last page is short: when
//     it is not empty it ends with the listing's last, newest record, so the
//     walk would have seen something newer and gone down instead. When it
//     is empty, the listing — which never shrinks — held exactly the n-1
//     pages from the read of page n-1 (full) on, and that page ended with
//     the listing's last record, not newer: so the departure came after it
//     (i = n), when R was already within those n-1 pages — a contradiction.
//   - Records that left the second have a newer time, so they are at or
//     after the next whole second (times have one-second precision), where
//     the normal phase reads them: nothing lies strictly between since and
//     that second. For a whole since that is since + 1 s. A since that is
//     not whole (a configured Start) moves to the whole second after it, not
//     to since + 1 s: a listing that formats since as dd/MM/yyyy HH:mm:ss
//     truncates it, and would read a second before since again.
//
// CloseMargin (default 5 s) tolerates a skew between the clock that stamps
// the records and the one that writes Date, plus the time between the page-1
// snapshot and writing its Date: the rule holds as long as the stamping
// clock is at most CloseMargin − 1 s behind the Date. Without a Date (or an
// unparsable one) ServerTime is zero and seconds are never closed. The rule
// assumes that records leave the listing only by moving to a newer time: a
// deletion during the walk could move an unread record onto a read page
// without leaving a newer record behind.
//
// seen only ever holds records of the since second, so it is bounded by the
// size of one second of the table. A record whose update time cannot be read
// is given the time of the record before it (or since): the listing is
// ordered by time, so that is where it sits. Records whose id or version
// cannot be read are keyed by a hash of their payload.
type Keyset struct {
	Start    time.Time // since for an empty cursor
	PageSize int
	Fetch    KeysetFetch
	MaxSteps int // fetches per Pull while they yield no record (default 8)
	// CloseMargin is how far the server's clock must be past since at the
	// start of an up walk for the walk to close the second (default
	// DefaultCloseMargin; negative: never close).
	CloseMargin time.Duration
}

// DefaultCloseMargin is the default Keyset.CloseMargin: it tolerates up to
// 4 s of skew (plus answer latency) between the clock that stamps the
// records and the one that writes the Date header.
const DefaultCloseMargin = 5 * time.Second

// KeysetFetch reads page (from 1) of size records updated at or after since.
type KeysetFetch func(ctx context.Context, since time.Time, page, size int) (KeysetPage, error)

// KeysetPage is one answer of a KeysetFetch.
type KeysetPage struct {
	// Records carry Updated when it could be read.
	Records []schemas.RawRecord
	// Full reports that the page was as long as a page can be (more may
	// follow).
	Full bool
	// ServerTime is the server's clock when it answered (its Date header,
	// see HeaderDate); zero when unknown.
	ServerTime time.Time
}

// Phases of the keyset cursor.
const (
	phaseNormal = ""
	phaseUp     = "up"
	phaseDown   = "down"
)

// keysetCursor is the persisted form; small JSON.
type keysetCursor struct {
	V     int      `json:"v"`
	Since string   `json:"since,omitempty"` // RFC 3339 with the source's offset and precision
	Seen  []string `json:"seen,omitempty"`  // "maHoSo@phienBan" at since, sorted
	Phase string   `json:"phase,omitempty"`
	Page  int      `json:"page,omitempty"`  // next page to read in the up/down phase
	Size  int      `json:"size,omitempty"`  // page size of the up/down walk (must not change mid-walk)
	Next  string   `json:"next,omitempty"`  // oldest time seen after since (down phase)
	Fresh bool     `json:"fresh,omitempty"` // the current up walk handed something off
	// Walk is the server time of the current up walk's page-1 read (up
	// phase); absent = unknown (cursors of earlier versions), never closes.
	Walk string `json:"walk,omitempty"`
}

type keysetState struct {
	since time.Time
	seen  map[string]bool
	phase string
	page  int
	size  int
	next  time.Time
	fresh bool
	walk  time.Time // server time of the up walk's page-1 read; zero = unknown
}

// RecordKey is the de-duplication key of a record: "id@version", or a hash
// of the payload when either is unreadable.
func RecordKey(r schemas.RawRecord) string {
	if r.ID != "" && r.Version != 0 {
		return r.ID + "@" + strconv.FormatInt(r.Version, 10)
	}
	sum := sha256.Sum256(r.Payload)
	return "#" + hex.EncodeToString(sum[:12])
}

func (k *Keyset) decode(cursor []byte) (*keysetState, error) {
	st := &keysetState{since: k.Start, seen: map[string]bool{}}
	if len(cursor) == 0 {
		return st, nil
	}
	var c keysetCursor
	if err := json.Unmarshal(cursor, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCursor, err)
	}
	if c.V != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrCursor, c.V)
	}
	if c.Since != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Since)
		if err != nil {
			return nil, fmt.Errorf("%w: since: %v", ErrCursor, err)
		}
		st.since = t
	}
	for _, s := range c.Seen {
		st.seen[s] = true
	}
	st.phase, st.page, st.size, st.fresh = c.Phase, c.Page, c.Size, c.Fresh
	switch st.phase {
	case phaseNormal:
	case phaseUp, phaseDown:
		if st.page < 1 || st.size < 1 {
			return nil, fmt.Errorf("%w: bad page", ErrCursor)
		}
	default:
		return nil, fmt.Errorf("%w: phase %q", ErrCursor, st.phase)
	}
	if c.Next != "" {
		t, err := time.Parse(time.RFC3339Nano, c.Next)
		if err != nil {
			return nil, fmt.Errorf("%w: next: %v", ErrCursor, err)
		}
		st.next = t
	}
	if c.Walk != "" && st.phase == phaseUp {
		t, err := time.Parse(time.RFC3339Nano, c.Walk)
		if err != nil {
			return nil, fmt.Errorf("%w: walk: %v", ErrCursor, err)
		}
		st.walk = t
	}
	if st.phase == phaseDown && st.next.IsZero() {
		return nil, fmt.Errorf("%w: down phase without next", ErrCursor)
	}
	return st, nil
}

func (st *keysetState) encode() []byte {
	c := keysetCursor{V: 1, Since: st.since.Format(time.RFC3339Nano), Phase: st.phase, Fresh: st.fresh}
	for s := range st.seen {
		c.Seen = append(c.Seen, s)
	}
	sort.Strings(c.Seen)
	if st.phase != phaseNormal {
		c.Page, c.Size = st.page, st.size
	}
	if !st.next.IsZero() {
		c.Next = st.next.Format(time.RFC3339Nano)
	}
	if st.phase == phaseUp && !st.walk.IsZero() {
		c.Walk = st.walk.Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(c)
	return b
}

// Pull runs the scheme from cursor until it has records, has nothing more
// to read, or made MaxSteps fetches. It is a pure function of the cursor and
// the remote state.
func (k *Keyset) Pull(ctx context.Context, cursor []byte) (Page, error) {
	st, err := k.decode(cursor)
	if err != nil {
		return Page{}, err
	}
	max := k.MaxSteps
	if max <= 0 {
		max = 8
	}
	var recs []schemas.RawRecord
	more := false
	for i := 0; i < max; i++ {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		var got []schemas.RawRecord
		got, more, err = k.step(ctx, st)
		if err != nil {
			return Page{}, err
		}
		recs = append(recs, got...)
		if len(recs) > 0 || !more {
			break
		}
	}
	return Page{Records: recs, Cursor: st.encode(), More: more}, nil
}

// timed pairs a record with its place in the time order.
type timed struct {
	rec schemas.RawRecord
	t   time.Time
	key string
}

func annotate(recs []schemas.RawRecord, since time.Time) []timed {
	out := make([]timed, len(recs))
	prev := since
	for i, r := range recs {
		t := prev
		if r.Updated != nil {
			t = *r.Updated
		}
		prev = t
		out[i] = timed{rec: r, t: t, key: RecordKey(r)}
	}
	return out
}

// step performs one fetch and advances st.
func (k *Keyset) step(ctx context.Context, st *keysetState) ([]schemas.RawRecord, bool, error) {
	switch st.phase {
	case phaseUp, phaseDown:
		return k.stepWithin(ctx, st)
	}
	size := k.PageSize
	pg, err := k.Fetch(ctx, st.since, 1, size)
	if err != nil {
		return nil, false, err
	}
	full := pg.Full
	items := annotate(pg.Records, st.since)
	tmax := st.since
	for _, it := range items {
		if it.t.After(tmax) {
			tmax = it.t
		}
	}
	var out []schemas.RawRecord
	handed := map[string]bool{}
	if full && !tmax.After(st.since) {
		// A full page of one second: walk it by page number.
		for _, it := range items {
			if it.t.Before(st.since) || st.seen[it.key] {
				continue
			}
			st.seen[it.key] = true
			out = append(out, it.rec)
		}
		st.phase, st.page, st.size, st.fresh = phaseUp, 2, size, len(out) > 0
		st.walk = pg.ServerTime
		return out, true, nil
	}
	newSeen := map[string]bool{}
	for _, it := range items {
		if it.t.Before(st.since) {
			continue
		}
		if it.t.Equal(tmax) {
			newSeen[it.key] = true
		}
		if (it.t.Equal(st.since) && st.seen[it.key]) || handed[it.key] {
			continue
		}
		handed[it.key] = true
		out = append(out, it.rec)
	}
	// A short page is a complete view of the table from since, so seen can
	// be rebuilt from it; a full page is complete below tmax only.
	st.since, st.seen = tmax, newSeen
	return out, full, nil
}

func (k *Keyset) stepWithin(ctx context.Context, st *keysetState) ([]schemas.RawRecord, bool, error) {
	pg, err := k.Fetch(ctx, st.since, st.page, st.size)
	if err != nil {
		return nil, false, err
	}
	full := pg.Full
	var out []schemas.RawRecord
	newer := false
	for _, it := range annotate(pg.Records, st.since) {
		if it.t.After(st.since) {
			// Left for after the second is done.
			newer = true
			if st.next.IsZero() || it.t.Before(st.next) {
				st.next = it.t
			}
			continue
		}
		if it.t.Before(st.since) || st.seen[it.key] {
			continue
		}
		st.seen[it.key] = true
		out = append(out, it.rec)
	}
	st.fresh = st.fresh || len(out) > 0
	if st.phase == phaseDown {
		if st.page > 1 {
			st.page--
			return out, true, nil
		}
		// Every record still in the second has been handed off.
		st.since, st.seen, st.next = st.next, map[string]bool{}, time.Time{}
		st.phase, st.page, st.size = phaseNormal, 0, 0
		return out, true, nil
	}
	switch {
	case newer || !st.next.IsZero():
		// The second is closed: verify it walking down. This page was read
		// already, so start below it.
		st.phase, st.page, st.fresh, st.walk = phaseDown, st.page-1, false, time.Time{}
		return out, true, nil
	case full:
		st.page++
		return out, true, nil
	case k.closes(st):
		// The walk started with the server's clock past the second by the
		// margin: it saw every record still in the second, and any that left
		// are newer, so read from the next whole second.
		st.since, st.seen = st.since.Truncate(time.Second).Add(time.Second), map[string]bool{}
		st.phase, st.page, st.size, st.fresh, st.walk = phaseNormal, 0, 0, false, time.Time{}
		return out, true, nil
	default:
		// The second may be the current one and still grow: walk it again,
		// now if this walk found anything, else at the next poll.
		more := st.fresh
		st.phase, st.page, st.size, st.fresh, st.walk = phaseNormal, 0, 0, false, time.Time{}
		return out, more, nil
	}
}

// closes reports whether the up walk in st, ending on a short page with
// nothing newer, closes its second: it started when the server's time was
// at least since + CloseMargin.
func (k *Keyset) closes(st *keysetState) bool {
	margin := k.CloseMargin
	if margin == 0 {
		margin = DefaultCloseMargin
	}
	if margin < 0 || st.walk.IsZero() {
		return false
	}
	return !st.walk.Before(st.since.Add(margin))
}
