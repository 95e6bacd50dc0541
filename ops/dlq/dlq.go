// Package dlq is the operators' side of the quarantine (the hub's dead-letter
// queue): list and inspect the records that could not go on, replay them
// through the normal path once the cause is fixed (a catalogue update, a
// mapping fix, a refusal of the national portal cleared up), or discard
// them. The same operations back `hub dlq` and the hub's HTTP API
// (Handler).
//
// A replay puts the quarantined payload back where it was refused, never
// around the pipeline: a source's raw record (format json or xml) goes back
// onto its raw topic as a RawRecord, as a poller would publish it, so the
// normaliser maps it again; a canonical dossier refused later (format
// canonical) goes back onto the canonical topic, so the national sink and
// the level-4 flows see it again; an unreadable raw-topic message (format
// raw-message) goes back onto its raw topic as it was, and a notice that
// could not be opened (format notice) onto the notices topic; a writeback
// the province refused too often (format settlement) is no message at all:
// its settlement is reopened in the store, and the flow's next pass writes
// back again, under a new reference. A record that fails again is
// quarantined again by that path, as a new entry; the replayed entry stays,
// marked replayed, as a record of what was done. Discarding a settlement
// entry leaves its writeback held for good: the province is never told.
//
// The hub's publisher seals what it publishes (router/seal). A message
// quarantined because it could not be opened keeps its sealed payload,
// which a replay puts back as it is: it opens once the key it was sealed
// with is configured again (store.old_encryption_keys).
//
// Personal data: payloads carry it. List never returns payloads, only their
// size; Show returns one entry's payload because an operator asked for that
// record. Reasons, fields and the timeline events written here are stored in
// clear and must not quote personal data (so neither may a discard reason).
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/flows/settlement"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/ingest"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Store is what the quarantine operations need of the hub's store
// (store/sqlstore).
type Store interface {
	ListQuarantine(ctx context.Context, f store.QuarantineFilter) ([]store.QuarantineEntry, error)
	GetQuarantine(ctx context.Context, id int64) (store.QuarantineEntry, error)
	SetQuarantineState(ctx context.Context, id int64, state string) error
	CountQuarantineMatching(ctx context.Context, f store.QuarantineFilter) (int, error)
	AppendEvents(ctx context.Context, events []store.Event) error
	ReopenSettlement(ctx context.Context, kind, ref string) (store.Settlement, bool, error)
}

// Errors of the operations, besides the store's (store.ErrNotFound for an
// unknown entry). Both wrap store.ErrInvalid.
var (
	// ErrNotOpen: the entry was already replayed or discarded.
	ErrNotOpen = fmt.Errorf("quarantine entry is not open: %w", store.ErrInvalid)
	// ErrUnreplayable: the entry does not say where its payload goes back
	// in (an unknown format, no source, a settlement the store does not
	// hold); discard it instead.
	ErrUnreplayable = fmt.Errorf("quarantine entry cannot be replayed: %w", store.ErrInvalid)
)

// Timeline event kinds written by the operations.
const (
	EventReplayed  = "quarantine.replayed"
	EventDiscarded = "quarantine.discarded"
)

// StateAll in Filter.State lists entries in every state.
const StateAll = "all"

// Limits of one List call.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// MetadataEntry is the message metadata that names the quarantine entry a
// replayed message comes from, for whoever inspects the topic.
const MetadataEntry = router.MetadataReplayOf

// maxDetail caps the discard reason kept in the timeline.
const maxDetail = 500

// Filter selects quarantine entries. Empty fields do not filter, except
// State, whose default is open.
type Filter struct {
	Source string
	// Sources, when not nil, keeps only the entries of these sources (an
	// empty slice keeps none): how an operator's view is limited to its
	// own province.
	Sources   []string
	DossierID string
	Field     string
	// Reason keeps the entries whose reason contains it, ignoring case.
	Reason string
	// State is open (the default), replayed, discarded or StateAll.
	State string
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	// Limit is the most entries List returns: <= 0 means DefaultLimit, more
	// than MaxLimit is refused. For ReplayAll, <= 0 means every match.
	Limit, Offset int
	// Sort is the order of List and Export (store.QuarantineFilter.Sort):
	// by ID, oldest first, when empty. ReplayAll takes none: it replays
	// in the order records were quarantined.
	Sort string
}

// Item is a quarantine entry as listed: everything but the payload, which
// is only counted.
type Item struct {
	ID          int64     `json:"id"`
	Source      string    `json:"source"`
	DossierID   string    `json:"dossier_id"`
	Version     int64     `json:"version"`
	Field       string    `json:"field"`
	Reason      string    `json:"reason"`
	Format      string    `json:"format"`
	At          time.Time `json:"at"`
	State       string    `json:"state"`
	PayloadSize int       `json:"payload_size"`
}

// ItemOf is e without its payload.
func ItemOf(e store.QuarantineEntry) Item {
	return Item{ID: e.ID, Source: e.Source, DossierID: e.DossierID, Version: e.Version, Field: e.Field,
		Reason: e.Reason, Format: e.Format, At: e.At, State: e.State, PayloadSize: len(e.Payload)}
}

// Service runs the quarantine operations.
type Service struct {
	st       Store
	pub      message.Publisher
	topics   router.Topics
	instance string
	pageSize int // entries read from the store at a time while filtering

	// mu makes a replay or discard read, act on and mark an entry without
	// another one of this Service acting on it in between. The store has no
	// compare-and-set of states, so two processes replaying the same entry
	// at the same moment may both publish it: harmless, as every stage
	// downstream takes a record twice (at-least-once delivery).
	mu sync.Mutex
}

// New returns a Service over st. pub publishes replayed records (it may be
// nil when only List, Show and Discard are used); topics names the hub's
// topics; instance names this hub (or tool) in the timeline.
func New(st Store, pub message.Publisher, topics router.Topics, instance string) *Service {
	return &Service{st: st, pub: pub, topics: topics, instance: instance, pageSize: 100}
}

// storeFilter is what the store can filter of f.
func (f Filter) storeFilter() (store.QuarantineFilter, error) {
	sf := store.QuarantineFilter{Source: f.Source, Sources: f.Sources, DossierID: f.DossierID, Field: f.Field,
		Since: f.Since, Until: f.Until, Sort: f.Sort}
	if _, _, err := store.ParseQuarantineSort(f.Sort); err != nil {
		return sf, err
	}
	switch f.State {
	case "":
		sf.State = store.QuarantineOpen
	case StateAll:
	default:
		if !store.ValidQuarantineState(f.State) {
			return sf, fmt.Errorf("state %q (want open, replayed, discarded or all): %w", f.State, store.ErrInvalid)
		}
		sf.State = f.State
	}
	if f.Offset < 0 {
		return sf, fmt.Errorf("offset %d: %w", f.Offset, store.ErrInvalid)
	}
	return sf, nil
}

// each calls fn with the entries f selects, in f.Sort's order, from Offset
// on, until fn returns false. It reads the store a page at a time, so that a
// reason filter matching few of many entries (each with its payload) does
// not hold them all in memory.
func (s *Service) each(ctx context.Context, f Filter, fn func(store.QuarantineEntry) bool) error {
	sf, err := f.storeFilter()
	if err != nil {
		return err
	}
	reason := strings.ToLower(f.Reason)
	skip := f.Offset
	if reason == "" {
		sf.Offset, skip = f.Offset, 0 // the store skips
	}
	for {
		sf.Limit = s.pageSize
		page, err := s.st.ListQuarantine(ctx, sf)
		if err != nil {
			return err
		}
		for _, e := range page {
			if reason != "" && !strings.Contains(strings.ToLower(e.Reason), reason) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if !fn(e) {
				return nil
			}
		}
		if len(page) < s.pageSize {
			return nil
		}
		sf.Offset += len(page)
	}
}

// List returns the entries f selects, in f.Sort's order (oldest first by
// default), without payloads.
func (s *Service) List(ctx context.Context, f Filter) ([]Item, error) {
	return s.list(ctx, f, DefaultLimit, MaxLimit)
}

// Count returns how many entries f selects, whatever its Limit and Offset:
// the total a page of List is out of. With a reason it reads every entry
// the other filters select, as List does to fill a page (the store cannot
// match a reason ignoring the case of Vietnamese letters alike on both
// engines); without one the store counts.
func (s *Service) Count(ctx context.Context, f Filter) (int, error) {
	f.Limit, f.Offset = 0, 0
	sf, err := f.storeFilter()
	n := 0
	switch {
	case err != nil:
	case f.Reason == "":
		n, err = s.st.CountQuarantineMatching(ctx, sf)
	default:
		err = s.each(ctx, f, func(store.QuarantineEntry) bool { n++; return true })
	}
	if err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// Export is List for an export (CSV): Limit <= 0 means maxLimit, and up
// to maxLimit is allowed.
func (s *Service) Export(ctx context.Context, f Filter, maxLimit int) ([]Item, error) {
	return s.list(ctx, f, maxLimit, maxLimit)
}

func (s *Service) list(ctx context.Context, f Filter, defLimit, maxLimit int) ([]Item, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defLimit
	}
	if limit > maxLimit {
		return nil, fmt.Errorf("list quarantine: limit %d over %d: %w", limit, maxLimit, store.ErrInvalid)
	}
	out := []Item{}
	err := s.each(ctx, f, func(e store.QuarantineEntry) bool {
		out = append(out, ItemOf(e))
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// Show returns one entry with its payload, in clear. The payload holds
// personal data: callers show it only to the operator who asked for it.
func (s *Service) Show(ctx context.Context, id int64) (store.QuarantineEntry, error) {
	return s.st.GetQuarantine(ctx, id)
}

// Replay puts an open entry's payload back through the normal path (see the
// package documentation), then marks the entry replayed and notes it in the
// dossier's timeline. An entry already replayed or discarded is refused
// with ErrNotOpen.
func (s *Service) Replay(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.st.GetQuarantine(ctx, id)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if e.State != store.QuarantineOpen {
		return fmt.Errorf("replay entry %d: it is %s: %w", id, e.State, ErrNotOpen)
	}
	if e.Format == schemas.FormatSettlement {
		return s.reopen(ctx, e)
	}
	if s.pub == nil {
		return fmt.Errorf("replay entry %d: no publisher", id)
	}
	topic, msg, err := s.message(e)
	if err != nil {
		return fmt.Errorf("replay entry %d: %w", id, err)
	}
	msg.SetContext(ctx)
	// The replay is timed when it is handed over: the normaliser may
	// record the record's next step before the event below is written.
	at := time.Now()
	if err := s.pub.Publish(topic, msg); err != nil {
		return fmt.Errorf("replay entry %d: publish to %s: %w", id, topic, err)
	}
	// Published: from here on a failure leaves the entry open, and replaying
	// it again hands the record over twice, which every stage takes.
	if err := s.st.SetQuarantineState(ctx, id, store.QuarantineReplayed); err != nil {
		return fmt.Errorf("replay entry %d: published to %s but not marked replayed: %w", id, topic, err)
	}
	if err := s.event(ctx, e, at, EventReplayed, "entry "+strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("replay entry %d: replayed, but %w", id, err)
	}
	return nil
}

// reopen replays a held writeback: its settlement is reopened for a new
// round, which the flow's next pass writes back. A settlement no longer
// held (reopened by an earlier replay that died before marking the entry)
// is left as it is; the entry is marked replayed all the same.
func (s *Service) reopen(ctx context.Context, e store.QuarantineEntry) error {
	var p settlement.Payload
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.Kind == "" || p.Ref == "" {
		return fmt.Errorf("replay entry %d: payload names no settlement: %w", e.ID, ErrUnreplayable)
	}
	st, _, err := s.st.ReopenSettlement(ctx, p.Kind, p.Ref)
	if errors.Is(err, store.ErrNotFound) { // the entry is there: it is its payload that leads nowhere
		return fmt.Errorf("replay entry %d: payload names %s settlement %s, which the store does not hold: %w", e.ID, p.Kind, p.Ref, ErrUnreplayable)
	}
	if err != nil {
		return fmt.Errorf("replay entry %d: reopen %s settlement %s: %w", e.ID, p.Kind, p.Ref, err)
	}
	if err := s.st.SetQuarantineState(ctx, e.ID, store.QuarantineReplayed); err != nil {
		return fmt.Errorf("replay entry %d: settlement reopened but entry not marked replayed: %w", e.ID, err)
	}
	detail := fmt.Sprintf("entry %d: %s settlement %s reopened, round %d", e.ID, p.Kind, p.Ref, st.Round)
	if err := s.event(ctx, e, time.Now(), EventReplayed, detail); err != nil {
		return fmt.Errorf("replay entry %d: replayed, but %w", e.ID, err)
	}
	return nil
}

// message is what replaying e publishes, and where.
func (s *Service) message(e store.QuarantineEntry) (string, *message.Message, error) {
	if e.Source == "" {
		return "", nil, fmt.Errorf("no source to replay to: %w", ErrUnreplayable)
	}
	var (
		topic string
		msg   *message.Message
	)
	switch e.Format {
	case schemas.FormatJSON, schemas.FormatXML:
		// A source's record that the normaliser refused: back onto its raw
		// topic, as the poller publishes it. The store keeps neither the
		// record's op nor the source's update time, so it goes back as an
		// upsert pulled now. (The normaliser refuses a delete only when
		// neither the record nor its payload names the dossier; such an
		// entry has no dossier ID and is better discarded than replayed.)
		rec := schemas.RawRecord{Source: e.Source, ID: e.DossierID, Version: e.Version, Op: schemas.OpUpsert,
			Format: e.Format, Payload: e.Payload, Pulled: time.Now()}
		m, err := ingest.RawMessage(&rec)
		if err != nil {
			return "", nil, err
		}
		topic, msg = s.topics.Raw(e.Source), m
	case schemas.FormatCanonical:
		// Already the canonical dossier JSON: as router.CanonicalMessage
		// would publish it, without decoding and encoding it again.
		topic, msg = s.topics.Canonical(), keyed(e.Payload, e.DossierID, e.Source)
	case schemas.FormatRawMessage:
		// Not a raw record: as it came, with the key it came with.
		topic, msg = s.topics.Raw(e.Source), keyed(e.Payload, e.DossierID, e.Source)
	case schemas.FormatNotice:
		topic, msg = s.topics.Notices(), keyed(e.Payload, e.DossierID, e.Source)
	default:
		return "", nil, fmt.Errorf("format %q: %w", e.Format, ErrUnreplayable)
	}
	msg.Metadata.Set(MetadataEntry, strconv.FormatInt(e.ID, 10))
	// The lag of a replayed record counts from the replay, not from when
	// it was first pulled.
	msg.Metadata.Set(router.MetadataPulled, time.Now().UTC().Format(time.RFC3339Nano))
	return topic, msg, nil
}

// keyed is a message of body keyed by key (when there is one: otherwise
// the publisher keys it by its UUID), from source.
func keyed(body []byte, key, source string) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), body)
	if key != "" {
		m.Metadata.Set(kafka.PartitionKeyMetadata, key)
	}
	m.Metadata.Set(schemas.MetadataSource, source)
	return m
}

// ReplayAll replays every open entry f selects, oldest first, and returns
// how many it replayed. The entries are chosen before the first is
// replayed, so a record quarantined again meanwhile is not replayed again
// in the same call. Entries replayed or discarded by someone else meanwhile
// are passed over; any other failure stops the replay there.
func (s *Service) ReplayAll(ctx context.Context, f Filter) (int, error) {
	if f.State != "" && f.State != store.QuarantineOpen {
		return 0, fmt.Errorf("replay: only open entries are replayed, not %q: %w", f.State, store.ErrInvalid)
	}
	if f.Sort != "" {
		return 0, fmt.Errorf("replay: entries are replayed oldest first, not by %q: %w", f.Sort, store.ErrInvalid)
	}
	f.State = store.QuarantineOpen
	// Only the IDs are kept: a few bytes each, where the entries carry
	// their payloads.
	var ids []int64
	err := s.each(ctx, f, func(e store.QuarantineEntry) bool {
		ids = append(ids, e.ID)
		return f.Limit <= 0 || len(ids) < f.Limit
	})
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		err := s.Replay(ctx, id)
		switch {
		case errors.Is(err, ErrNotOpen):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

// Discard marks an open entry discarded, giving why in the dossier's
// timeline. why is stored in clear: it must not quote personal data.
func (s *Service) Discard(ctx context.Context, id int64, why string) error {
	why = strings.Join(strings.Fields(why), " ")
	if why == "" {
		return fmt.Errorf("discard entry %d: a reason is required: %w", id, store.ErrInvalid)
	}
	if utf8.RuneCountInString(why) > maxDetail {
		why = string([]rune(why)[:maxDetail]) + "…"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.st.GetQuarantine(ctx, id)
	if err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	if e.State != store.QuarantineOpen {
		return fmt.Errorf("discard entry %d: it is %s: %w", id, e.State, ErrNotOpen)
	}
	if err := s.st.SetQuarantineState(ctx, id, store.QuarantineDiscarded); err != nil {
		return fmt.Errorf("discard entry %d: %w", id, err)
	}
	if err := s.event(ctx, e, time.Now(), EventDiscarded, fmt.Sprintf("entry %d: %s", id, why)); err != nil {
		return fmt.Errorf("discard entry %d: discarded, but %w", id, err)
	}
	return nil
}

// event notes an operation in the timeline of e's dossier. An entry with no
// dossier ID has no timeline (the normaliser notes none either).
func (s *Service) event(ctx context.Context, e store.QuarantineEntry, at time.Time, kind, detail string) error {
	if e.DossierID == "" {
		return nil
	}
	err := s.st.AppendEvents(ctx, []store.Event{{DossierID: e.DossierID, Source: e.Source, Version: e.Version,
		Kind: kind, Detail: detail, At: at, Instance: s.instance}})
	if err != nil {
		return fmt.Errorf("timeline event not recorded: %w", err)
	}
	return nil
}

// ParseTime reads a time filter: RFC 3339 (2026-11-21T08:00:00+07:00), or a
// duration (90m, 24h) meaning that long before now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-21T08:00:00+07:00) or a duration ago (24h): %w", s, store.ErrInvalid)
}
