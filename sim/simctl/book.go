package simctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// Stamp is what the book assigns to each stored version.
type Stamp struct {
	Version int
	Updated time.Time
	Seq     int64 // position in the change log (the Hà Tĩnh feed SEQ)
}

// Entry is one stored version of a record in the portal's own format.
type Entry struct {
	Data    []byte
	Status  int // national status code, 0 if unknown
	Deleted bool
}

// Format is what a provincial portal plugs into the book.
type Format interface {
	// Render renders a generated dossier, stamped s, in the portal's format.
	Render(d *gen.Dossier, s Stamp) []byte
	// Ingest parses a record posted to /_sim/dossiers. It returns the dossier
	// code and a function that stamps the record with the version, update time
	// and sequence the book assigns (called under the book's lock).
	Ingest(body []byte) (id string, stamp func(Stamp) (Entry, error), err error)
	// Corrupt corrupts one field of data, choosing by choice among
	// KindsFrom(choice); ok is false if no kind applies.
	Corrupt(data []byte, choice uint64) (out []byte, field, kind string, ok bool)
	// Document wraps stored data as the answer of GET /_sim/dossiers/{id}.
	Document(data []byte) (contentType string, body []byte)
}

// VersionInfo describes one stored version.
type VersionInfo struct {
	Version int       `json:"version"`
	Status  int       `json:"status"`
	Updated time.Time `json:"updated"`
	Seq     int64     `json:"seq,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
}

type record struct {
	id       string
	version  int
	status   int
	updated  time.Time
	deleted  bool
	data     []byte // current version; never mutated once stored
	versions []VersionInfo
}

// Item is a record version handed to a portal for an answer.
type Item struct {
	ID      string
	Version int
	Updated time.Time
	Seq     int64
	Deleted bool
	Data    []byte
}

// Writeback is one writeback the hub sent, as GET /_sim/writebacks lists it.
type Writeback struct {
	Received  time.Time `json:"received"`
	MaHoSo    string    `json:"maHoSo"`
	Key       string    `json:"key"`
	Kind      string    `json:"loai"`
	Duplicate bool      `json:"duplicate"`
	Status    int       `json:"status"`
	Request   any       `json:"request"`
}

// Answer is a memoised HTTP answer (idempotent writebacks).
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Malformed is one corruption served, as GET /_sim/malformed lists it.
type Malformed struct {
	MaHoSo  string `json:"maHoSo"`
	Version int    `json:"version"`
	Field   string `json:"field"`
	Kind    string `json:"kind"`
	Served  int    `json:"served"`
}

// Stats is GET /_sim/stats.
type Stats struct {
	Dossiers       int `json:"dossiers"`
	Changes        int `json:"changes"`
	PendingChanges int `json:"pending_changes"`
	Deleted        int `json:"deleted"`
}

// BookConfig configures a Book.
type BookConfig struct {
	Format     Format
	Generator  *gen.Generator
	Clock      *gen.Clock
	Controller *Controller // source of malformed_rate
	// Feed keeps an append-only log of every version (the Hà Tĩnh change feed).
	Feed bool
}

// Book is a provincial portal's dossier store: the current record of every
// dossier in the portal's own format, every version's (version, status,
// time), the generator's live dossiers, writebacks and served corruptions.
// It is safe for concurrent use.
type Book struct {
	cfg BookConfig

	mu      sync.Mutex
	recs    map[string]*record
	order   []*record // creation order, for /_sim/dossiers
	log     []Item    // every version, when cfg.Feed
	seq     int64
	changes int
	deleted int
	live    map[string]*gen.Dossier // generated dossiers with lifecycle left
	pending int
	batches []*batch // background lifecycle batches not yet finished

	wbMu       sync.Mutex
	writebacks []Writeback
	answers    map[string]Answer

	malMu     sync.Mutex
	malformed []Malformed
	malIndex  map[string]int

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewBook returns an empty book.
func NewBook(cfg BookConfig) *Book {
	if cfg.Clock == nil {
		cfg.Clock = gen.NewClock(nil)
	}
	b := &Book{
		cfg:      cfg,
		recs:     map[string]*record{},
		live:     map[string]*gen.Dossier{},
		answers:  map[string]Answer{},
		malIndex: map[string]int{},
		done:     make(chan struct{}),
	}
	if cfg.Generator != nil {
		// Called by the generator under b.mu.
		cfg.Generator.Taken = func(code string) bool { _, ok := b.recs[code]; return ok }
	}
	return b
}

// Clock returns the book's clock.
func (b *Book) Clock() *gen.Clock { return b.cfg.Clock }

// Close stops background lifecycle advancing and waits for it.
func (b *Book) Close() {
	b.closeOnce.Do(func() { close(b.done) })
	b.wg.Wait()
}

// store records a new version; b.mu is held.
func (b *Book) store(id string, st Stamp, e Entry) {
	r := b.recs[id]
	if r == nil {
		r = &record{id: id}
		b.recs[id] = r
		b.order = append(b.order, r)
	}
	if e.Deleted && e.Status == 0 {
		e.Status = r.status // a deletion keeps the last known status
	}
	if e.Deleted && !r.deleted {
		b.deleted++
	} else if !e.Deleted && r.deleted {
		b.deleted--
	}
	r.version, r.status, r.updated, r.deleted, r.data = st.Version, e.Status, st.Updated, e.Deleted, e.Data
	vi := VersionInfo{Version: st.Version, Status: e.Status, Updated: st.Updated, Deleted: e.Deleted}
	if b.cfg.Feed {
		vi.Seq = st.Seq // only meaningful where the portal exposes a sequence
	}
	r.versions = append(r.versions, vi)
	b.seq = st.Seq
	b.changes++
	if b.cfg.Feed {
		b.log = append(b.log, Item{ID: id, Version: st.Version, Updated: st.Updated, Seq: st.Seq, Deleted: e.Deleted, Data: e.Data})
	}
}

func (b *Book) nextStamp(id string) Stamp {
	v := 1
	if r := b.recs[id]; r != nil {
		v = r.version + 1
	}
	return Stamp{Version: v, Updated: b.cfg.Clock.Now(), Seq: b.seq + 1}
}

// storeGenerated stores d's current state; b.mu is held.
func (b *Book) storeGenerated(d *gen.Dossier) {
	v := 1
	if r := b.recs[d.MaHoSo]; r != nil {
		v = r.version + 1
	}
	// The generator's version and the book's stay equal as long as only the
	// generator changes the dossier (a POST drops it from b.live); d.Updated
	// came from the book's clock under b.mu, so stamps stay monotonic.
	d.Version = v
	st := Stamp{Version: v, Updated: d.Updated, Seq: b.seq + 1}
	b.store(d.MaHoSo, st, Entry{Data: b.cfg.Format.Render(d, st), Status: d.Status, Deleted: d.Deleted})
}

// advanceLocked applies d's next change; b.mu is held.
func (b *Book) advanceLocked(d *gen.Dossier) bool {
	if b.live[d.MaHoSo] != d { // taken over by a POST: the generator lets go
		return false
	}
	if !b.cfg.Generator.Advance(d, b.cfg.Clock.Now()) {
		delete(b.live, d.MaHoSo)
		return false
	}
	b.storeGenerated(d)
	if d.Remaining() == 0 {
		delete(b.live, d.MaHoSo)
	}
	return true
}

// GenerateRequest is the POST /_sim/generate body.
type GenerateRequest struct {
	Count      int    `json:"count"`
	Seed       *int64 `json:"seed"`
	Steps      int    `json:"steps"`
	IntervalMS int    `json:"interval_ms"`
	// Shape, when set, fixes the kind of every dossier created (see
	// gen.Shape); the dossiers stay deterministic for (seed, shape).
	Shape *gen.Shape `json:"shape,omitempty"`
}

// AdvanceRequest is the POST /_sim/advance body.
type AdvanceRequest struct {
	Steps      int `json:"steps"`
	IntervalMS int `json:"interval_ms"`
	// IDs, when present (even empty), limits the advance to those dossiers;
	// absent or null advances every generated dossier with lifecycle left.
	IDs []string `json:"ids,omitempty"`
}

// GenerateResult answers POST /_sim/generate and POST /_sim/advance.
type GenerateResult struct {
	Created []string `json:"created"`
	Seed    int64    `json:"seed"`
	Applied int      `json:"applied"` // lifecycle changes applied now
	Pending int      `json:"pending"` // changes scheduled in the background
}

// AdvanceResult answers POST /_sim/advance with ids: GenerateResult's fields
// (created is empty, seed 0) and two more.
type AdvanceResult struct {
	GenerateResult
	// Missing lists the ids the generator does not drive: unknown, lifecycle
	// finished, or taken over by POST /_sim/dossiers. They are not an error;
	// the other ids are advanced all the same.
	Missing []string `json:"missing"`
	// Dossiers is where each listed dossier the portal holds stands once the
	// changes applied now are in (finished ones too), in the order listed.
	Dossiers []Progress `json:"dossiers"`
}

// Progress is where one dossier stands, in an answer of POST /_sim/advance
// with ids.
type Progress struct {
	MaHoSo  string `json:"maHoSo"`
	Version int    `json:"version"`
	Status  int    `json:"status"`
	Deleted bool   `json:"deleted,omitempty"`
	Plan    []int  `json:"plan"` // lifecycle left (0: deletion), empty when finished
}

type batchItem struct {
	d    *gen.Dossier
	left int
}

// batch is a set of dossiers advanced one change each per interval in the
// background. It stays in Book.batches until every item is done, also when
// the book is closed, so that a snapshot keeps the changes still pending.
type batch struct {
	items     []*batchItem
	interval  time.Duration
	cancelled bool // replaced by Restore: stop without touching the book
}

// Generate creates req.Count dossiers from req.Seed (random if nil), then moves
// each through up to req.Steps lifecycle changes: at once when IntervalMS is 0,
// otherwise one change per dossier every IntervalMS in the background.
func (b *Book) Generate(req GenerateRequest) (GenerateResult, error) {
	if b.cfg.Generator == nil {
		return GenerateResult{}, errors.New("this portal has no generator")
	}
	if req.Count < 0 || req.Steps < 0 || req.IntervalMS < 0 || req.Count > 1_000_000 {
		return GenerateResult{}, errors.New("count, steps and interval_ms must be non-negative (count ≤ 1000000)")
	}
	seed := rand.Int64()
	if req.Seed != nil {
		seed = *req.Seed
	}
	res := GenerateResult{Seed: seed, Created: make([]string, 0, req.Count)}
	var batch []*batchItem
	b.mu.Lock()
	defer b.mu.Unlock()
	if req.Shape != nil {
		if err := b.cfg.Generator.CheckShape(*req.Shape); err != nil {
			return GenerateResult{}, err // before creating anything
		}
	}
	for i := range req.Count {
		var d *gen.Dossier
		if req.Shape == nil {
			d = b.cfg.Generator.Generate(uint64(seed), i, b.cfg.Clock.Now())
		} else {
			var err error
			if d, err = b.cfg.Generator.GenerateShaped(uint64(seed), i, b.cfg.Clock.Now(), *req.Shape); err != nil {
				return GenerateResult{}, err // cannot happen: checked above
			}
		}
		b.live[d.MaHoSo] = d
		b.storeGenerated(d)
		res.Created = append(res.Created, d.MaHoSo)
		if req.IntervalMS == 0 {
			for k := 0; k < req.Steps && b.advanceLocked(d); k++ {
				res.Applied++
			}
		} else if n := min(req.Steps, d.Remaining()); n > 0 {
			batch = append(batch, &batchItem{d: d, left: n})
			res.Pending += n
		}
		if d.Remaining() == 0 {
			delete(b.live, d.MaHoSo)
		}
	}
	b.startBatchLocked(batch, res.Pending, time.Duration(req.IntervalMS)*time.Millisecond)
	return res, nil
}

// Advance moves every generated dossier that still has lifecycle left through up
// to steps more changes (an extension: POST /_sim/advance).
func (b *Book) Advance(steps int, interval time.Duration) GenerateResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	ds := make([]*gen.Dossier, 0, len(b.live))
	for _, d := range b.live {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].MaHoSo < ds[j].MaHoSo })
	return b.advanceAllLocked(ds, steps, interval)
}

// AdvanceIDs is Advance for the listed dossiers only, in the order given
// (each once). Ids the generator does not drive (unknown, lifecycle finished,
// taken over by a POST) are reported in Missing, and the others advanced all
// the same; Dossiers tells where each listed dossier stands afterwards.
func (b *Book) AdvanceIDs(ids []string, steps int, interval time.Duration) AdvanceResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := make(map[string]bool, len(ids))
	var ds []*gen.Dossier
	var order []string
	missing := []string{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		order = append(order, id)
		if d := b.live[id]; d != nil {
			ds = append(ds, d)
		} else {
			missing = append(missing, id)
		}
	}
	res := AdvanceResult{GenerateResult: b.advanceAllLocked(ds, steps, interval), Missing: missing, Dossiers: []Progress{}}
	for _, id := range order {
		r := b.recs[id]
		if r == nil {
			continue
		}
		p := Progress{MaHoSo: id, Version: r.version, Status: r.status, Deleted: r.deleted, Plan: []int{}}
		if d := b.live[id]; d != nil {
			p.Plan = d.Plan()
		}
		res.Dossiers = append(res.Dossiers, p)
	}
	return res
}

// advanceAllLocked moves each of ds through up to steps changes, now or in
// the background; b.mu is held.
func (b *Book) advanceAllLocked(ds []*gen.Dossier, steps int, interval time.Duration) GenerateResult {
	res := GenerateResult{Created: []string{}}
	var batch []*batchItem
	for _, d := range ds {
		if interval == 0 {
			for k := 0; k < steps && b.advanceLocked(d); k++ {
				res.Applied++
			}
		} else if n := min(steps, d.Remaining()); n > 0 {
			batch = append(batch, &batchItem{d: d, left: n})
			res.Pending += n
		}
	}
	b.startBatchLocked(batch, res.Pending, interval)
	return res
}

func (b *Book) startBatchLocked(items []*batchItem, pending int, interval time.Duration) {
	if len(items) == 0 {
		return
	}
	bt := &batch{items: items, interval: interval}
	b.batches = append(b.batches, bt)
	b.pending += pending
	b.runLocked(bt)
}

// runLocked starts advancing bt in the background unless the book is closed;
// a closed book keeps the batch pending (for a snapshot). b.mu is held.
func (b *Book) runLocked(bt *batch) {
	select {
	case <-b.done:
		return // closed: nothing runs in the background any more
	default:
	}
	b.wg.Add(1)
	go b.runBatch(bt)
}

// runBatch advances each dossier of a batch by one change per tick.
func (b *Book) runBatch(bt *batch) {
	defer b.wg.Done()
	t := time.NewTicker(bt.interval)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		b.mu.Lock()
		if bt.cancelled {
			b.mu.Unlock()
			return
		}
		active := 0
		for _, it := range bt.items {
			if it.left == 0 {
				continue
			}
			if !b.advanceLocked(it.d) { // finished early or taken over by a POST
				b.pending -= it.left
				it.left = 0
				continue
			}
			it.left--
			b.pending--
			if it.left > 0 {
				active++
			}
		}
		if active == 0 {
			for i, x := range b.batches {
				if x == bt {
					b.batches = append(b.batches[:i], b.batches[i+1:]...)
					break
				}
			}
		}
		b.mu.Unlock()
		if active == 0 {
			return
		}
	}
}

// PostResult answers POST /_sim/dossiers.
type PostResult struct {
	MaHoSo  string    `json:"maHoSo"`
	Version int       `json:"version"`
	Status  int       `json:"status"`
	Updated time.Time `json:"updated"`
	Seq     int64     `json:"seq,omitempty"`
}

// Post stores a record in the portal's format as the dossier's next version,
// exactly as sent except for the version and update-time fields. A generated
// dossier posted over stops advancing.
func (b *Book) Post(body []byte) (PostResult, error) {
	id, stamp, err := b.cfg.Format.Ingest(body)
	if err != nil {
		return PostResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.nextStamp(id)
	e, err := stamp(st)
	if err != nil {
		return PostResult{}, err
	}
	delete(b.live, id)
	b.store(id, st, e)
	res := PostResult{MaHoSo: id, Version: st.Version, Status: b.recs[id].status, Updated: st.Updated}
	if b.cfg.Feed {
		res.Seq = st.Seq
	}
	return res, nil
}

// Exists reports whether the portal holds the dossier (deleted ones included).
func (b *Book) Exists(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.recs[id]
	return ok
}

// Current returns the dossier's current version.
func (b *Book) Current(id string) (Item, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recs[id]
	if !ok {
		return Item{}, false
	}
	return Item{ID: id, Version: r.version, Updated: r.updated, Deleted: r.deleted, Data: r.data}, true
}

// History returns every version's (version, status, time) of the dossier.
func (b *Book) History(id string) ([]VersionInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recs[id]
	if !ok {
		return nil, false
	}
	return append([]VersionInfo(nil), r.versions...), true
}

// Since returns page (from 1) of size of the non-deleted records updated at or
// after from, ordered by (update time, code), and their total count. Paging
// is over the live table, exactly as the portals' APIs page.
func (b *Book) Since(from time.Time, page, size int) (int, []Item) {
	b.mu.Lock()
	items := make([]Item, 0, len(b.recs))
	for _, r := range b.recs {
		if !r.deleted && !r.updated.Before(from) {
			items = append(items, Item{ID: r.id, Version: r.version, Updated: r.updated, Data: r.data})
		}
	}
	b.mu.Unlock()
	sort.Slice(items, func(i, j int) bool {
		if !items[i].Updated.Equal(items[j].Updated) {
			return items[i].Updated.Before(items[j].Updated)
		}
		return items[i].ID < items[j].ID
	})
	total := len(items)
	lo := (page - 1) * size
	if lo >= total || lo < 0 {
		return total, nil
	}
	return total, items[lo:min(total, lo+size)]
}

// Feed returns up to limit log entries with Seq > after, the Seq of the last
// entry returned (after if none) and whether more entries follow.
func (b *Book) Feed(after int64, limit int) ([]Item, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if after < 0 {
		after = 0
	}
	n := int64(len(b.log))
	if after >= n {
		return nil, after, false
	}
	end := min(n, after+int64(limit))
	out := append([]Item(nil), b.log[after:end]...)
	return out, out[len(out)-1].Seq, end < n
}

// Serve returns the data to put in an API answer for a record version: as
// stored, or corrupted when malformed_rate selects (id, version).
func (b *Book) Serve(id string, version int, data []byte) []byte {
	if b.cfg.Controller == nil {
		return data
	}
	hit, choice := Corrupts(id, version, b.cfg.Controller.MalformedRate())
	if !hit {
		return data
	}
	out, field, kind, ok := b.cfg.Format.Corrupt(data, choice)
	if !ok {
		return data
	}
	key := fmt.Sprintf("%s\x00%d", id, version)
	b.malMu.Lock()
	if i, seen := b.malIndex[key]; seen {
		b.malformed[i].Served++
	} else {
		b.malIndex[key] = len(b.malformed)
		b.malformed = append(b.malformed, Malformed{MaHoSo: id, Version: version, Field: field, Kind: kind, Served: 1})
	}
	b.malMu.Unlock()
	return out
}

// MalformedServed lists every corruption served, first-served order.
func (b *Book) MalformedServed() []Malformed {
	b.malMu.Lock()
	defer b.malMu.Unlock()
	return append([]Malformed{}, b.malformed...)
}

// Writeback records a writeback. The first time key is seen, handle decides the
// answer and the effect; later calls with the same key get the first answer and
// are recorded as duplicates. handle may use the book's other methods.
func (b *Book) Writeback(key string, handle func() (Answer, Writeback)) Answer {
	b.wbMu.Lock()
	defer b.wbMu.Unlock()
	if a, ok := b.answers[key]; ok {
		// Record the repeat with the first request's identity.
		for i := len(b.writebacks) - 1; i >= 0; i-- {
			if b.writebacks[i].Key == key && !b.writebacks[i].Duplicate {
				wb := b.writebacks[i]
				wb.Duplicate, wb.Received = true, b.cfg.Clock.Now()
				b.writebacks = append(b.writebacks, wb)
				break
			}
		}
		return a
	}
	a, wb := handle()
	wb.Key, wb.Status = key, a.Status
	if wb.Received.IsZero() {
		wb.Received = b.cfg.Clock.Now()
	}
	b.answers[key] = a
	b.writebacks = append(b.writebacks, wb)
	return a
}

// Writebacks lists every writeback received, in arrival order.
func (b *Book) Writebacks() []Writeback {
	b.wbMu.Lock()
	defer b.wbMu.Unlock()
	return append([]Writeback{}, b.writebacks...)
}

// Stats returns the counters of GET /_sim/stats.
func (b *Book) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Dossiers: len(b.recs), Changes: b.changes, PendingChanges: b.pending, Deleted: b.deleted}
}

// Summary is one row of GET /_sim/dossiers.
type Summary struct {
	MaHoSo  string `json:"maHoSo"`
	Version int    `json:"version"`
	Status  int    `json:"status"`
	Deleted bool   `json:"deleted"`
}

// List returns the dossiers in creation order from offset (limit ≤ 0: all).
func (b *Book) List(offset, limit int) (int, []Summary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	total := len(b.order)
	if offset < 0 || offset > total {
		offset = total
	}
	end := total
	if limit > 0 {
		end = min(total, offset+limit)
	}
	out := make([]Summary, 0, end-offset)
	for _, r := range b.order[offset:end] {
		out = append(out, Summary{MaHoSo: r.id, Version: r.version, Status: r.status, Deleted: r.deleted})
	}
	return total, out
}

// Register adds the provincial portals' /_sim/ controls to mux.
func (b *Book) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/generate", func(w http.ResponseWriter, r *http.Request) {
		var req GenerateRequest
		if !decodeControl(w, r, &req) {
			return
		}
		res, err := b.Generate(req)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /_sim/advance", func(w http.ResponseWriter, r *http.Request) {
		var req AdvanceRequest
		if !decodeControl(w, r, &req) {
			return
		}
		if req.Steps < 0 || req.IntervalMS < 0 {
			WriteError(w, http.StatusBadRequest, errors.New("steps and interval_ms must be non-negative"))
			return
		}
		interval := time.Duration(req.IntervalMS) * time.Millisecond
		if req.IDs == nil {
			WriteJSON(w, http.StatusOK, b.Advance(req.Steps, interval))
			return
		}
		WriteJSON(w, http.StatusOK, b.AdvanceIDs(req.IDs, req.Steps, interval))
	})
	mux.HandleFunc("POST /_sim/dossiers", func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(r)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		res, err := b.Post(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /_sim/dossiers", func(w http.ResponseWriter, r *http.Request) {
		offset, err1 := QueryInt(r, "offset", 0)
		limit, err2 := QueryInt(r, "limit", 0)
		if err := errors.Join(err1, err2); err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		total, items := b.List(offset, limit)
		WriteJSON(w, http.StatusOK, map[string]any{"total": total, "items": items})
	})
	mux.HandleFunc("GET /_sim/dossiers/{id}", func(w http.ResponseWriter, r *http.Request) {
		it, ok := b.Current(r.PathValue("id"))
		if !ok {
			WriteError(w, http.StatusNotFound, errors.New("unknown dossier"))
			return
		}
		ct, body := b.cfg.Format.Document(it.Data)
		WriteRaw(w, http.StatusOK, ct, body)
	})
	mux.HandleFunc("GET /_sim/dossiers/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		h, ok := b.History(r.PathValue("id"))
		if !ok {
			WriteError(w, http.StatusNotFound, errors.New("unknown dossier"))
			return
		}
		WriteJSON(w, http.StatusOK, h)
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, b.Stats())
	})
	mux.HandleFunc("GET /_sim/writebacks", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, b.Writebacks())
	})
	mux.HandleFunc("GET /_sim/malformed", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, b.MalformedServed())
	})
}

// decodeControl decodes an optional JSON control body (empty means defaults).
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := ReadBody(r)
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}
