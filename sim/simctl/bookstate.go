package simctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
)

// BookStateVersion is the format version of a book snapshot. Raise it when
// bookState changes incompatibly; ReadState then refuses older files clearly.
const BookStateVersion = 1

// bookState is everything a Book holds, for Snapshot and Restore (gob).
type bookState struct {
	Feed       bool
	Records    []recordState // creation order
	Log        []Item        // the change feed, when Feed
	Seq        int64
	Changes    int
	Live       []gen.DossierState // by MaHoSo
	Batches    []batchState
	Sequences  []sequenceState // by key
	Writebacks []writebackState
	Answers    []answerState // by key
	Malformed  []Malformed
}

type recordState struct {
	ID       string
	Version  int
	Status   int
	Updated  time.Time
	Deleted  bool
	Data     []byte // nil for a feed book: the record's last log entry holds it
	Versions []VersionInfo
}

type batchState struct {
	Interval time.Duration
	Items    []batchItemState
}

type batchItemState struct {
	MaHoSo string
	Left   int
}

type sequenceState struct {
	Key  string
	Last int
}

type writebackState struct {
	Received  time.Time
	MaHoSo    string
	Key       string
	Kind      string
	Duplicate bool
	Status    int
	Request   []byte // JSON of Writeback.Request; nil for none
}

type answerState struct {
	Key    string
	Answer Answer
}

// Snapshot writes the book's whole state: every record and all its versions,
// the change feed, counters, the generator's code sequences, the generated
// dossiers with lifecycle left (with their random streams) and the background
// changes still pending, writebacks with their remembered answers, and the
// corruptions served. system names the simulator in the file's header.
//
// The state is taken at one instant; writes racing with Snapshot land either
// wholly before or wholly after it.
func (b *Book) Snapshot(w io.Writer, system string) error {
	st, err := b.state()
	if err != nil {
		return fmt.Errorf("%s state: %w", system, err)
	}
	return WriteState(w, system, BookStateVersion, st)
}

func (b *Book) state() (*bookState, error) {
	b.wbMu.Lock()
	defer b.wbMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.malMu.Lock()
	defer b.malMu.Unlock()

	st := &bookState{Feed: b.cfg.Feed, Seq: b.seq, Changes: b.changes}
	st.Records = make([]recordState, 0, len(b.order))
	for _, r := range b.order {
		rs := recordState{ID: r.id, Version: r.version, Status: r.status, Updated: r.updated, Deleted: r.deleted,
			Data: r.data, Versions: append([]VersionInfo(nil), r.versions...)}
		if b.cfg.Feed {
			rs.Data = nil
		}
		st.Records = append(st.Records, rs)
	}
	st.Log = append([]Item(nil), b.log...)
	ids := make([]string, 0, len(b.live))
	for id := range b.live {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ds, err := b.live[id].State()
		if err != nil {
			return nil, err
		}
		st.Live = append(st.Live, ds)
	}
	for _, bt := range b.batches {
		bs := batchState{Interval: bt.interval}
		for _, it := range bt.items {
			if it.left > 0 {
				bs.Items = append(bs.Items, batchItemState{MaHoSo: it.d.MaHoSo, Left: it.left})
			}
		}
		if len(bs.Items) > 0 {
			st.Batches = append(st.Batches, bs)
		}
	}
	if b.cfg.Generator != nil {
		for k, v := range b.cfg.Generator.Sequences() {
			st.Sequences = append(st.Sequences, sequenceState{Key: k, Last: v})
		}
		sort.Slice(st.Sequences, func(i, j int) bool { return st.Sequences[i].Key < st.Sequences[j].Key })
	}
	for _, wb := range b.writebacks {
		ws := writebackState{Received: wb.Received, MaHoSo: wb.MaHoSo, Key: wb.Key, Kind: wb.Kind,
			Duplicate: wb.Duplicate, Status: wb.Status}
		if wb.Request != nil {
			req, err := json.Marshal(wb.Request)
			if err != nil {
				return nil, fmt.Errorf("writeback %q: %w", wb.Key, err)
			}
			ws.Request = req
		}
		st.Writebacks = append(st.Writebacks, ws)
	}
	for k, a := range b.answers {
		st.Answers = append(st.Answers, answerState{Key: k, Answer: a})
	}
	sort.Slice(st.Answers, func(i, j int) bool { return st.Answers[i].Key < st.Answers[j].Key })
	st.Malformed = append([]Malformed(nil), b.malformed...)
	return st, nil
}

// Restore replaces the book's state with one written by Snapshot for the same
// system. Background changes that were pending resume (unless the book is
// closed, when they stay pending for the next snapshot); batches running
// before Restore stop. Call it before serving.
func (b *Book) Restore(r io.Reader, system string) error {
	var st bookState
	if err := ReadState(r, system, BookStateVersion, &st); err != nil {
		return err
	}
	if err := b.restore(&st); err != nil {
		return fmt.Errorf("%s state: %w", system, err)
	}
	return nil
}

func (b *Book) restore(st *bookState) error {
	if st.Feed != b.cfg.Feed {
		return errors.New("the file was written by a portal with a different change-feed setting")
	}
	// Build everything first, so a bad file leaves the book untouched.
	recs := make(map[string]*record, len(st.Records))
	order := make([]*record, 0, len(st.Records))
	var latest time.Time
	note := func(t time.Time) {
		if t.After(latest) {
			latest = t
		}
	}
	deleted := 0
	for _, rs := range st.Records {
		if rs.ID == "" || recs[rs.ID] != nil || len(rs.Versions) == 0 {
			return fmt.Errorf("bad record %q", rs.ID)
		}
		rec := &record{id: rs.ID, version: rs.Version, status: rs.Status, updated: gen.InVN(rs.Updated),
			deleted: rs.Deleted, data: rs.Data, versions: rs.Versions}
		for i := range rec.versions {
			rec.versions[i].Updated = gen.InVN(rec.versions[i].Updated)
		}
		if rec.deleted {
			deleted++
		}
		note(rec.updated)
		recs[rs.ID] = rec
		order = append(order, rec)
	}
	feed := st.Log
	for i := range feed {
		it := &feed[i]
		if it.Seq != int64(i+1) || recs[it.ID] == nil {
			return fmt.Errorf("bad change feed entry %d (SEQ %d, %q)", i, it.Seq, it.ID)
		}
		it.Updated = gen.InVN(it.Updated)
		recs[it.ID].data = it.Data // a feed book's current data is its last entry's
	}
	for _, rec := range order {
		if b.cfg.Feed && rec.data == nil {
			return fmt.Errorf("record %q has no entry in the change feed", rec.id)
		}
	}
	if b.cfg.Feed && st.Seq != int64(len(feed)) {
		return fmt.Errorf("change feed ends at SEQ %d, counter says %d", len(feed), st.Seq)
	}
	if b.cfg.Generator == nil && len(st.Live) > 0 {
		return errors.New("generated dossiers saved, but this portal has no generator")
	}
	live := make(map[string]*gen.Dossier, len(st.Live))
	for _, ds := range st.Live {
		d, err := ds.Restore()
		if err != nil {
			return err
		}
		if recs[d.MaHoSo] == nil {
			return fmt.Errorf("generated dossier %s has no record", d.MaHoSo)
		}
		note(d.Updated)
		live[d.MaHoSo] = d
	}
	pending := 0
	batches := make([]*batch, 0, len(st.Batches))
	for _, bs := range st.Batches {
		if bs.Interval <= 0 {
			return fmt.Errorf("bad background interval %v", bs.Interval)
		}
		bt := &batch{interval: bs.Interval}
		for _, is := range bs.Items {
			if is.Left <= 0 {
				return fmt.Errorf("bad pending count for %s", is.MaHoSo)
			}
			d := live[is.MaHoSo]
			if d == nil {
				// Taken over or finished before the snapshot, but not yet let
				// go by its batch: a stand-in that the next tick drops.
				d = &gen.Dossier{MaHoSo: is.MaHoSo}
			}
			bt.items = append(bt.items, &batchItem{d: d, left: is.Left})
			pending += is.Left
		}
		batches = append(batches, bt)
	}
	seqs := make(map[string]int, len(st.Sequences))
	for _, s := range st.Sequences {
		seqs[s.Key] = s.Last
	}
	writebacks := make([]Writeback, 0, len(st.Writebacks))
	for _, ws := range st.Writebacks {
		wb := Writeback{Received: gen.InVN(ws.Received), MaHoSo: ws.MaHoSo, Key: ws.Key, Kind: ws.Kind,
			Duplicate: ws.Duplicate, Status: ws.Status}
		if ws.Request != nil {
			wb.Request = json.RawMessage(ws.Request)
		}
		note(wb.Received)
		writebacks = append(writebacks, wb)
	}
	answers := make(map[string]Answer, len(st.Answers))
	for _, a := range st.Answers {
		answers[a.Key] = a.Answer
	}
	malformed := append([]Malformed{}, st.Malformed...)
	malIndex := make(map[string]int, len(malformed))
	for i, m := range malformed {
		malIndex[fmt.Sprintf("%s\x00%d", m.MaHoSo, m.Version)] = i
	}

	b.wbMu.Lock()
	defer b.wbMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.malMu.Lock()
	defer b.malMu.Unlock()
	for _, bt := range b.batches {
		bt.cancelled = true
	}
	b.recs, b.order, b.log, b.seq, b.changes, b.deleted = recs, order, feed, st.Seq, st.Changes, deleted
	b.live, b.pending, b.batches = live, pending, batches
	if b.cfg.Generator != nil {
		b.cfg.Generator.SetSequences(seqs)
	}
	b.writebacks, b.answers = writebacks, answers
	b.malformed, b.malIndex = malformed, malIndex
	b.cfg.Clock.NotBefore(latest)
	for _, bt := range batches {
		b.runLocked(bt)
	}
	return nil
}
