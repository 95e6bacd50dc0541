package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/national"
	natmap "github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router/batch"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// NationalPortal is what the sink needs of the national portal connector.
type NationalPortal interface {
	Sync(ctx context.Context, u national.Unit, updating bool, items []national.HoSo) ([]national.ItemResult, error)
	Steps(ctx context.Context, u national.Unit, steps []national.Step) ([]national.ItemResult, error)
	Lookup(ctx context.Context, u national.Unit, maHoSo string) (json.RawMessage, error)
}

// Ledger is the durable per-dossier state the sink decides from.
type Ledger interface {
	Quarantine
	// GetLedgerStates reads the entries without their canonical dossiers:
	// the sink's writes keep those as stored or replace them.
	GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	PutLedger(ctx context.Context, entries []store.LedgerEntry) error
	AppendEvents(ctx context.Context, events []store.Event) error
	// IndexIdentities makes dossiers findable by CCCD or tax number (kept
	// only as a keyed hash).
	IndexIdentities(ctx context.Context, links []store.IdentityLink) error
	// Record writes quarantine entries, identity links, ledger rows and
	// events in one transaction.
	Record(ctx context.Context, w store.Write) error
}

// NationalSinkConfig tunes the sink.
type NationalSinkConfig struct {
	// Units maps a source to the national unit its dossiers are sent as.
	Units map[string]national.Unit
	// Linger is how long a batch waits for another dossier (default 5ms).
	Linger time.Duration
	// LingerMax is how long a batch may keep gathering while dossiers keep
	// coming, from its first (default 50ms; negative: Linger counts from
	// the first dossier).
	LingerMax time.Duration
	// MaxBatch caps the dossiers handled in one batch.
	MaxBatch int
	// Concurrency is how many batches may be sent at once (default 2).
	// Batches never share a dossier: the subscriber hands out one message
	// per dossier at a time.
	Concurrency int
	// Calls is how many calls one batch has in flight at once (default 1):
	// calls of one batch carry different dossiers, except that a dossier's
	// steps may span two calls of its unit, which go in order. A portal
	// that limits its request rate answers more of them 429.
	Calls int
	// Instance names this hub in provenance.
	Instance string
	// MaxBackoff caps the wait between retries of a transient failure.
	MaxBackoff time.Duration
	// Effects, when set, are laid over each dossier before it is sent
	// (payments taken, results delivered by the level-4 flows).
	Effects Effects
	// Wait, when set, blocks before each attempt while the portal is known
	// to be down (its circuit breaker is open): the batch, and the messages
	// behind it, wait in Kafka instead of failing.
	Wait func(ctx context.Context) error
	// Retried, when set, is told of each retry of a batch.
	Retried func()
	// Track, when set, is told of each dossier in flight from when its
	// record was pulled, for the lag gauge: the sink calls done once the
	// dossier's message is handled (acknowledged or not).
	Track func(source string, since time.Time) (done func())
	// Resolved, when set, is told of each dossier version the sink is done
	// with (sent, skipped, quarantined), with when its record was pulled.
	Resolved func(source string, pulled time.Time)
}

// NationalSink pushes canonical dossiers to the national portal. Handler
// calls from many partitions are gathered into batches, sent in calls of up
// to 100 items; up to Concurrency batches run at once, and together they
// hold at most one version per dossier (the subscriber hands out one
// message per key, MaHoSo, at a time), so each dossier's changes reach the
// portal in source order. The ledger decides create or update and skips
// versions the portal already has, so redeliveries send nothing twice.
type NationalSink struct {
	cfg      NationalSinkConfig
	portal   NationalPortal
	ledger   Ledger
	counters *progress.Counters
	log      *slog.Logger

	gather *batch.Gatherer[*pending]
}

type pending struct {
	ctx     context.Context // the handler's: ended when it gave up on the message
	d       *schemas.Dossier
	raw     []byte
	carried int // times handed back to the next batch to fill a call
}

// maxCarries bounds how often a dossier waits for a fuller call: after
// that it goes in a partial one.
const maxCarries = 2

// NewNationalSink returns a sink; call Run before handling messages.
func NewNationalSink(cfg NationalSinkConfig, portal NationalPortal, ledger Ledger, counters *progress.Counters, log *slog.Logger) *NationalSink {
	if cfg.Linger <= 0 {
		// Short: the subscribers' windows keep many dossiers waiting when
		// there is a backlog, and a lone change should not wait.
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.LingerMax == 0 {
		cfg.LingerMax = 50 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		// Room for a few full calls per unit and operation, and for the
		// dossiers carried over from the batch before.
		cfg.MaxBatch = 1000
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Calls <= 0 {
		cfg.Calls = 1
	}
	s := &NationalSink{cfg: cfg, portal: portal, ledger: ledger, counters: counters, log: log}
	s.gather = batch.NewCarrying(s.processWithRetry, cfg.Linger, cfg.MaxBatch)
	s.gather.SetConcurrency(cfg.Concurrency)
	// With a backlog, dossiers keep coming as the windows refill: gather
	// while they do, so the batch has enough of each unit to fill calls.
	s.gather.SetLingerMax(cfg.LingerMax)
	// One version of a dossier in the sink at a time, even when a handler
	// gave up on its message (a rebalance, a stop) while a batch still
	// holds it: its redelivery waits until that batch is done with it.
	s.gather.SetKey(func(p *pending) string { return p.d.ID })
	return s
}

// Handle is a Watermill no-publish handler for the canonical topic. It
// returns once the dossier's batch is done, so the message is acknowledged
// only after the portal and the ledger have it.
func (s *NationalSink) Handle(msg *message.Message) error {
	var d schemas.Dossier
	if err := json.Unmarshal(msg.Payload, &d); err != nil {
		return s.ledger.AddQuarantine(msg.Context(), []store.QuarantineEntry{{
			Source: msg.Metadata.Get(schemas.MetadataSource), Field: "message", At: time.Now(), State: store.QuarantineOpen,
			Reason: fmt.Sprintf("canonical message %s is unreadable: %v", msg.UUID, err),
			Format: schemas.FormatCanonical, Payload: msg.Payload,
		}})
	}
	since := pulledAt(msg, &d)
	if n, _ := strconv.Atoi(msg.Metadata.Get(kafka.MetadataSuperseded)); n > 0 {
		// Older versions this one replaced, never sent (their steps are
		// this version's too).
		s.counters.Add(d.Source, progress.Skipped, int64(n))
	}
	if s.cfg.Track != nil {
		done := s.cfg.Track(d.Source, since)
		defer done()
	}
	// Returns once the dossier's batch is done; if the message's context
	// ends first the batch may still finish, and the ledger makes the
	// redelivery harmless.
	err := s.gather.Do(msg.Context(), &pending{ctx: msg.Context(), d: &d, raw: msg.Payload})
	// A resync or a replay is not a pull: it resolves nothing pulled.
	if err == nil && s.cfg.Resolved != nil && msg.Metadata.Get(MetadataResync) == "" && msg.Metadata.Get(MetadataReplayOf) == "" {
		s.cfg.Resolved(d.Source, since)
	}
	return err
}

// pulledAt is when d's record was pulled from the source, as the
// normaliser noted it (MetadataPulled); for a message without it (a
// replay, an older normaliser) the source's update time, else now.
func pulledAt(msg *message.Message, d *schemas.Dossier) time.Time {
	if v := msg.Metadata.Get(MetadataPulled); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	if d.SourceUpdated != nil {
		return *d.SourceUpdated
	}
	return time.Now()
}

// Run gathers and processes batches until ctx ends.
func (s *NationalSink) Run(ctx context.Context) { s.gather.Run(ctx) }

// processWithRetry retries transient failures with exponential backoff and
// jitter. Every attempt starts from the ledger, so work already acknowledged
// is not sent again.
//
// While enough dossiers wait behind a batch to fill a call, the batch hands
// back those that would only fill part of one, for the next batch: so
// while there is a backlog every call carries MaxItems.
func (s *NationalSink) processWithRetry(ctx context.Context, batch []*pending, waiting func() int) ([]int, error) {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if s.cfg.Wait != nil {
			if err := s.cfg.Wait(ctx); err != nil {
				return nil, err
			}
		}
		// Dossiers whose handlers gave up while this batch waited are
		// handed back, and so dropped: their messages will come again.
		live, at, gone := liveOnly(batch)
		if len(live) == 0 {
			return gone, nil
		}
		carry, err := s.process(ctx, live, waiting)
		if err == nil || ctx.Err() != nil {
			for _, j := range carry {
				gone = append(gone, at[j])
			}
			return gone, err
		}
		wait := national.RetryAfter(err)
		if wait <= 0 {
			wait = backoff/2 + rand.N(backoff)
			backoff = min(backoff*2, s.cfg.MaxBackoff)
		}
		s.log.Warn("national sync failed; retrying", "attempt", attempt, "dossiers", len(batch), "wait", wait.String(), "error", err.Error())
		if s.cfg.Retried != nil {
			s.cfg.Retried()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// liveOnly splits batch into the dossiers whose handlers still wait (with
// at, each one's index in batch) and the indices of those whose handlers
// gave up.
func liveOnly(batch []*pending) (live []*pending, at, gone []int) {
	for i, p := range batch {
		if p.ctx != nil && p.ctx.Err() != nil {
			gone = append(gone, i)
			continue
		}
		live, at = append(live, p), append(at, i)
	}
	return live, at, gone
}

// work is one dossier's plan within a batch.
type work struct {
	p      *pending
	idx    int  // in the batch
	carry  bool // handed back to the next batch
	d      *schemas.Dossier
	raw    []byte
	seen   time.Time // when this batch read it
	unit   national.Unit
	entry  store.LedgerEntry
	before store.LedgerEntry // entry before push recorded its intent
	hoso   national.HoSo
	steps  []national.Step
	due    []int // indices of steps the portal has not acknowledged, in time order
	hash   string
	stored bool // a ledger write of this batch carries raw
}

// planSteps works out which of w's steps the portal lacks, from the keys of
// those it acknowledged. A row from before keys were kept counts steps; its
// count is read as the first steps in time order, as it was written.
func (w *work) planSteps() {
	if len(w.entry.NationalStepKeys) == 0 && w.entry.NationalSteps > 0 {
		w.entry.NationalStepKeys = natmap.LegacyStepKeys(w.d, w.entry.NationalSteps)
	}
	w.due = natmap.DueSteps(w.d, w.entry.NationalStepKeys)
}

// forgetSteps is for a portal that does not hold the dossier (23): it holds
// none of its steps either, so all are due once it is created again.
func (w *work) forgetSteps() {
	w.entry.NationalStepKeys, w.entry.NationalSteps = nil, 0
	w.due = natmap.DueSteps(w.d, nil)
}

func (s *NationalSink) process(ctx context.Context, batch []*pending, waiting func() int) ([]int, error) {
	ids := make([]string, 0, len(batch))
	for _, p := range batch {
		ids = append(ids, p.d.ID)
	}
	ledger, err := s.ledger.GetLedgerStates(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	effects, err := loadFacts(ctx, s.cfg.Effects, ids)
	if err != nil {
		return nil, err
	}
	var (
		creates, updates, stepsDue []*work
		resolved                   []store.LedgerEntry // pending creates looked up
		now                        = time.Now()
		// pre is written before the first call: quarantine, identities,
		// deletions and the create intents.
		pre = store.Write{Identities: identities(batch)}
	)
	for i, p := range batch {
		d := p.d
		e, ok := ledger[d.ID]
		if !ok {
			e = store.LedgerEntry{DossierID: d.ID}
		}
		if d.Deleted {
			// Created in error at the source: recorded, nothing new for the portal.
			if d.SourceVersion > e.Version || !e.Deleted {
				e.Deleted, e.Version, e.Source = true, d.SourceVersion, d.Source
				e.KeepCanonical = true // the last one before the deletion, if any
				pre.Ledger = append(pre.Ledger, e)
				pre.Events = append(pre.Events, s.event(d, "deleted", "deleted at the source", now))
				s.counters.Add(d.Source, progress.Deleted, 1)
			}
			outcome(p.ctx, "deleted")
			continue
		}
		unit, ok := s.cfg.Units[d.Source]
		if !ok {
			pre.Quarantine = append(pre.Quarantine, s.quarantineEntry(d, p.raw, "source", fmt.Sprintf("%s: dossier %s: no national unit configured for source", d.Source, d.ID)))
			outcome(p.ctx, "quarantined")
			continue
		}
		// The portal gets the dossier with the hub's own effects laid over
		// it; steps are the source's history as it is.
		exp := effects[d.ID].expect(d)
		w := &work{p: p, idx: i, d: d, raw: p.raw, seen: now, unit: unit, entry: e, hoso: exp.HoSo, steps: natmap.Steps(d), hash: exp.Hash}
		w.planSteps()
		if e.NationalState == store.NationalPending {
			// A create went out and its answer was lost (crash, timeout):
			// ask the portal rather than risk a duplicate create.
			held, err := s.lookup(tracing.Adopt(ctx, p.ctx), unit, d.ID)
			if err != nil {
				// Keep what was learnt, so the retry does not ask again.
				if perr := s.ledger.PutLedger(ctx, resolved); perr != nil {
					return nil, errors.Join(err, fmt.Errorf("write ledger: %w", perr))
				}
				return nil, err
			}
			if held != nil {
				w.entry.NationalState = store.NationalHeld
			} else {
				w.entry.NationalState = store.NationalNone
			}
			resolved = append(resolved, s.ledgerEntryAsIs(w))
		}
		switch {
		case w.entry.NationalState == store.NationalHeld && w.entry.NationalVersion > d.SourceVersion:
			// An older version after a newer: the portal has better.
			s.counters.Add(d.Source, progress.Skipped, 1)
			outcome(p.ctx, "skipped")
		case w.entry.NationalState == store.NationalHeld && w.entry.NationalVersion == d.SourceVersion && w.entry.ContentHash != w.hash:
			// The same version with new effects laid over it (a payment
			// taken, a result delivered): the portal must learn them.
			updates = append(updates, w)
		case w.entry.NationalState == store.NationalHeld && w.entry.NationalVersion == d.SourceVersion:
			// Already there (a redelivery): only steps may be missing.
			if len(w.due) > 0 {
				stepsDue = append(stepsDue, w)
			} else {
				s.counters.Add(d.Source, progress.Skipped, 1)
				outcome(p.ctx, "skipped")
			}
		case w.entry.NationalState == store.NationalHeld:
			if w.entry.ContentHash == w.hash {
				// Only the version moved: nothing new for the portal.
				w.entry.NationalVersion = d.SourceVersion
				w.entry.Version = d.SourceVersion
				stepsDue = append(stepsDue, w)
				continue
			}
			updates = append(updates, w)
		default:
			creates = append(creates, w)
		}
	}
	// Lookups answered are recorded with the rest, before any call.
	pre.Ledger = append(resolved, pre.Ledger...)
	// What would only fill part of a call waits for the next batch when
	// enough dossiers wait behind this one to fill it.
	fill := func(part int) bool { return waiting()+part >= national.MaxItems }
	var carried []*work
	creates, carried = carryRemainders(creates, carried, fill)
	updates, carried = carryRemainders(updates, carried, fill)

	// Creates first; a 22 means the portal has it after all: update instead.
	moreUpdates, err := s.push(ctx, creates, false, &pre)
	if err != nil {
		return nil, err
	}
	updates = append(updates, moreUpdates...)
	// A 23 on update means the portal lost it: create instead.
	moreCreates, err := s.push(ctx, updates, true, &pre)
	if err != nil {
		return nil, err
	}
	if _, err := s.push(ctx, moreCreates, false, &pre); err != nil {
		return nil, err
	}
	for _, w := range append(append(creates, updates...), moreCreates...) {
		if w.entry.NationalState == store.NationalHeld && w.entry.NationalVersion == w.d.SourceVersion {
			stepsDue = append(stepsDue, w)
		}
	}
	stepsCarried, err := s.pushSteps(ctx, stepsDue, fill, &pre)
	if err != nil {
		return nil, err
	}
	carried = append(carried, stepsCarried...)
	if err := s.record(ctx, &pre); err != nil {
		return nil, err
	}
	out := make([]int, 0, len(carried))
	for _, w := range carried {
		w.p.carried++
		out = append(out, w.idx)
	}
	return out, nil
}

// carryRemainders moves, per unit, the dossiers past the last full call of
// ws to carried, when fill says the next batch can fill the call and none
// of them has waited maxCarries times already.
func carryRemainders(ws, carried []*work, fill func(part int) bool) (send, carriedOut []*work) {
	if len(ws) == 0 {
		return ws, carried
	}
	for _, list := range byUnit(ws) {
		r := len(list) % national.MaxItems
		if r == 0 {
			continue
		}
		tail := list[len(list)-r:]
		if !fill(r) || !mayCarry(tail) {
			continue
		}
		for _, w := range tail {
			w.carry = true
			carried = append(carried, w)
		}
	}
	send = ws[:0:0]
	for _, w := range ws {
		if !w.carry {
			send = append(send, w)
		}
	}
	return send, carried
}

func mayCarry(ws []*work) bool {
	for _, w := range ws {
		if w.p.carried >= maxCarries {
			return false
		}
	}
	return true
}

// identities lists each dossier's identity number for the keyed-hash index,
// so operators can find a citizen's dossiers by CCCD.
func identities(batch []*pending) []store.IdentityLink {
	var links []store.IdentityLink
	for _, p := range batch {
		if p.d.Deleted || p.d.Applicant.IDNumber == "" {
			continue
		}
		links = append(links, store.IdentityLink{DossierID: p.d.ID, Source: p.d.Source, IDNumber: p.d.Applicant.IDNumber})
	}
	return links
}

// push sends DongBoHoSoMC for ws in chunks per unit and records each answer
// in the ledger. It returns the dossiers whose answer calls for the other
// operation (22 on create, 23 on update). pre is written before the first
// call, with the intents of the creates.
func (s *NationalSink) push(ctx context.Context, ws []*work, updating bool, pre *store.Write) ([]*work, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	chunks := chunksByUnit(ws)
	// Record the intent first. A create: if we crash before the answer is
	// recorded, the next attempt looks the dossier up instead of creating
	// it twice. An update: the portal may hold this version from then on,
	// so the ledger says so (with no content hash: whether it arrived is
	// unknown); an older version or the older content with new effects
	// laid over it must never be sent after it, and this version, whose
	// message was not acknowledged, comes again and is sent again.
	for _, w := range ws {
		w.before = w.entry
		if updating {
			w.entry.NationalVersion, w.entry.ContentHash = w.d.SourceVersion, ""
		} else {
			w.entry.NationalState = store.NationalPending
		}
		pre.Ledger = append(pre.Ledger, s.ledgerEntry(w))
	}
	if err := s.record(ctx, pre); err != nil {
		return nil, fmt.Errorf("record intent: %w", err)
	}
	// The calls go out together (up to Calls at once): their dossiers
	// differ, so their order does not matter.
	type outcome struct {
		redo            []*work
		sent            bool  // the call was made
		callErr, recErr error // the call failed; its answers were not recorded
	}
	out := make([]outcome, len(chunks))
	s.inParallel(len(chunks), func(i int) bool {
		o := &out[i]
		o.sent = true
		o.redo, o.callErr, o.recErr = s.pushChunk(ctx, chunks[i], updating)
		return o.callErr == nil && o.recErr == nil
	})
	var (
		redo []*work
		undo []store.LedgerEntry
		errs []error
	)
	for i, o := range out {
		// A call not made changed nothing at the portal; nor did one refused
		// before any item was looked at. Their intents are taken back (a
		// create's retry then needs no lookup).
		if !o.sent || (o.callErr != nil && (national.NotProcessed(o.callErr) || errors.Is(o.callErr, breaker.ErrOpen))) {
			for _, w := range chunks[i] {
				w.entry = w.before
				if !updating {
					w.entry.NationalState = store.NationalNone
				}
				undo = append(undo, s.ledgerEntry(w))
			}
		}
		switch {
		case o.callErr != nil:
			errs = append(errs, fmt.Errorf("DongBoHoSoMC (%d dossiers): %w", len(chunks[i]), o.callErr))
		case o.recErr != nil:
			errs = append(errs, o.recErr)
		default:
			redo = append(redo, o.redo...)
		}
	}
	if len(errs) > 0 {
		if len(undo) > 0 {
			if perr := s.ledger.PutLedger(ctx, undo); perr != nil {
				errs = append(errs, fmt.Errorf("write ledger: %w", perr))
			}
		}
		return nil, errors.Join(errs...)
	}
	return redo, nil
}

// pushChunk sends one DongBoHoSoMC call and records its answers. It returns
// the dossiers whose answer calls for the other operation, or why the call
// failed (callErr) or its answers could not be recorded (recErr).
func (s *NationalSink) pushChunk(ctx context.Context, chunk []*work, updating bool) (redo []*work, callErr, recErr error) {
	unit := chunk[0].unit
	items := make([]national.HoSo, len(chunk))
	for i, w := range chunk {
		items[i] = w.hoso
	}
	kind := "national.create"
	if updating {
		kind = "national.update"
	}
	ctx, call := s.startCall(ctx, "DongBoHoSoMC", unit, chunk, attrOperation.String(kind))
	defer func() { tracing.End(call, errors.Join(callErr, recErr)) }()
	res, err := s.portal.Sync(ctx, unit, updating, items)
	if err != nil {
		return nil, err, nil
	}
	var (
		rec = store.Write{}
		now = time.Now()
	)
	for i, w := range chunk {
		code := res[i].ErrorCode
		if span := trace.SpanFromContext(w.p.ctx); span.IsRecording() {
			// Each dossier's span says what the portal answered it, and
			// leads to the call that carried it.
			span.SetAttributes(attrOperation.String(kind), attrCode.String(code))
			span.AddLink(trace.Link{SpanContext: call.SpanContext()})
		}
		rec.Events = append(rec.Events, s.event(w.d, kind, "answer "+code+" "+res[i].Message, now))
		switch {
		case code == national.CodeOK:
			w.entry.NationalState = store.NationalHeld
			w.entry.NationalVersion = w.d.SourceVersion
			w.entry.NationalAt = now
			w.entry.ContentHash = w.hash
			s.counters.Add(w.d.Source, progress.Synced, 1)
		case code == national.CodeExists && !updating:
			w.entry.NationalState = store.NationalHeld
			redo = append(redo, w)
		case code == national.CodeNotExists && updating:
			w.entry.NationalState = store.NationalNone
			w.forgetSteps()
			redo = append(redo, w)
		default:
			// 21, 24 or a code we do not know: the portal refuses this
			// version (it keeps what it had); keep it for an operator
			// and go on with the rest.
			w.entry = w.before
			if !updating {
				w.entry.NationalState = store.NationalNone
			}
			s.counters.Add(w.d.Source, progress.Quarantined, 1)
			rec.Quarantine = append(rec.Quarantine, s.quarantineEntry(w.d, w.raw, "national:"+code,
				fmt.Sprintf("%s: dossier %s: national portal answered %s to %s: %s", w.d.Source, w.d.ID, code, kind, res[i].Message)))
			s.log.WarnContext(w.p.ctx, "national portal refused dossier", "source", w.d.Source, "dossier", w.d.ID, "version", w.d.SourceVersion, "code", code, "message", res[i].Message)
		}
		rec.Ledger = append(rec.Ledger, s.ledgerEntry(w))
	}
	if err := s.record(ctx, &rec); err != nil {
		return nil, nil, err
	}
	return redo, nil, nil
}

// inParallel runs fn for 0…n-1, up to Calls at once. Once one has failed
// (returned false), those not started yet are not started.
func (s *NationalSink) inParallel(n int, fn func(i int) bool) {
	if n == 1 || s.cfg.Calls == 1 {
		for i := range n {
			if !fn(i) {
				return
			}
		}
		return
	}
	var (
		sem    = make(chan struct{}, s.cfg.Calls)
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for i := range n {
		sem <- struct{}{}
		if failed.Load() {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if !fn(i) {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
}

// pushSteps sends the processing steps the portal has not had, each once and
// in time order per dossier, in chunks of up to 100 per unit. When fill
// says so, the dossiers whose steps would only fill part of a call are
// returned to be carried (steps before those go now: a dossier's steps may
// be split across calls, in order). pre gets the ledger rows of dossiers
// with no step due, for the caller to write; each call's answers are
// written as it returns.
func (s *NationalSink) pushSteps(ctx context.Context, ws []*work, fill func(part int) bool, pre *store.Write) ([]*work, error) {
	type stepRef struct {
		w *work
		i int
	}
	byUnit := map[national.Unit][]stepRef{}
	var units []national.Unit
	seen := make(map[*work]bool, len(ws))
	for _, w := range ws {
		// A create answered 22 is also an update: one dossier, one plan.
		if seen[w] {
			continue
		}
		seen[w] = true
		if len(w.due) == 0 {
			// Nothing to send, but the ledger must learn the new version.
			pre.Ledger = append(pre.Ledger, s.ledgerEntry(w))
			continue
		}
		if _, ok := byUnit[w.unit]; !ok {
			units = append(units, w.unit)
		}
		for _, i := range w.due {
			byUnit[w.unit] = append(byUnit[w.unit], stepRef{w, i})
		}
	}
	var (
		carried []*work
		sends   [][]stepRef // per unit
	)
	for _, u := range units {
		refs := byUnit[u]
		if r := len(refs) % national.MaxItems; r != 0 && fill(r) {
			var owners []*work
			for _, ref := range refs[len(refs)-r:] {
				if len(owners) == 0 || owners[len(owners)-1] != ref.w {
					owners = append(owners, ref.w)
				}
			}
			if mayCarry(owners) {
				refs = refs[:len(refs)-r]
				carried = append(carried, owners...)
			}
		}
		if len(refs) > 0 {
			sends = append(sends, refs)
		}
	}
	// Units go out together; within a unit the calls follow each other, as
	// a dossier's steps may span two of them.
	errs := make([]error, len(sends))
	s.inParallel(len(sends), func(k int) bool {
		refs := sends[k]
		for start := 0; start < len(refs); start += national.MaxItems {
			chunk := refs[start:min(start+national.MaxItems, len(refs))]
			steps := make([]national.Step, len(chunk))
			owners := make([]*work, 0, len(chunk))
			for i, r := range chunk {
				steps[i] = r.w.steps[r.i]
				if i == 0 || chunk[i-1].w != r.w {
					owners = append(owners, r.w)
				}
			}
			ctx, call := s.startCall(ctx, "CapNhatTienDoHoSoMC", chunk[0].w.unit, owners, attribute.Int("national.steps", len(chunk)))
			res, err := s.portal.Steps(ctx, chunk[0].w.unit, steps)
			if err != nil {
				errs[k] = fmt.Errorf("CapNhatTienDoHoSoMC (%d steps): %w", len(chunk), err)
				tracing.End(call, errs[k])
				return false
			}
			touched := map[*work]bool{}
			var (
				order []*work
				now   = time.Now()
				rec   store.Write
			)
			for i, r := range chunk {
				code := res[i].ErrorCode
				if code == national.CodeNotExists {
					// Our ledger thought the portal held it; it does not.
					// Create it again on the next version or replay.
					r.w.entry.NationalState = store.NationalNone
					r.w.entry.NationalVersion = 0
					r.w.forgetSteps()
				} else if code != national.CodeOK {
					rec.Quarantine = append(rec.Quarantine, s.quarantineEntry(r.w.d, r.w.raw, "national:"+code,
						fmt.Sprintf("%s: dossier %s: national portal answered %s to step %d: %s", r.w.d.Source, r.w.d.ID, code, r.i+1, res[i].Message)))
				}
				if r.w.entry.NationalState == store.NationalHeld {
					// A refused step is recorded and passed, so it does
					// not block the steps after it.
					r.w.entry.NationalStepKeys = append(r.w.entry.NationalStepKeys, natmap.StepKey(r.w.d.Steps[r.i]))
					r.w.entry.NationalSteps = len(r.w.entry.NationalStepKeys)
				}
				if !touched[r.w] {
					touched[r.w] = true
					order = append(order, r.w)
				}
			}
			for _, w := range order {
				rec.Ledger = append(rec.Ledger, s.ledgerEntry(w))
				rec.Events = append(rec.Events, s.event(w.d, "national.steps", fmt.Sprintf("steps acknowledged %d", w.entry.NationalSteps), now))
				if span := trace.SpanFromContext(w.p.ctx); span.IsRecording() {
					span.SetAttributes(attribute.Int("national.steps_acknowledged", w.entry.NationalSteps))
					span.AddLink(trace.Link{SpanContext: call.SpanContext()})
				}
			}
			err = s.record(ctx, &rec)
			tracing.End(call, err)
			if err != nil {
				errs[k] = err
				return false
			}
		}
		return true
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return carried, nil
}

// Span attributes of the national sink.
const (
	attrOperation = attribute.Key("national.operation") // national.create, national.update
	attrCode      = attribute.Key("national.code")      // the portal's answer to the dossier
)

// outcome notes on ctx's span what the sink did with its dossier, when it
// sent nothing.
func outcome(ctx context.Context, what string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrOutcome.String(what))
	}
}

// startCall starts the span of one call to the portal: the root of a trace
// of its own, as it carries many dossiers, linked to each one's span. With
// tracing off it returns ctx and a span that does nothing.
func (s *NationalSink) startCall(ctx context.Context, service string, unit national.Unit, ws []*work, attr attribute.KeyValue) (context.Context, trace.Span) {
	t := tracing.Tracer(ctx)
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	links := make([]trace.Link, 0, len(ws))
	for _, w := range ws {
		if l, ok := tracing.Link(w.p.ctx); ok {
			links = append(links, l)
		}
	}
	return t.Start(ctx, "national "+service, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("national.service", service), attribute.String("national.dstcode", unit.DstCode),
			attribute.Int("national.dossiers", len(ws)), attr))
}

// record writes w in one transaction, if it holds anything, and empties it.
func (s *NationalSink) record(ctx context.Context, w *store.Write) error {
	if w.Empty() {
		return nil
	}
	if err := s.ledger.Record(ctx, *w); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	*w = store.Write{}
	return nil
}

// lookup asks the portal whether it holds a dossier (TraCuuHoSo), trying a
// few times: a batch with many pending creates needs every lookup to pass,
// so one flaky answer must not fail them all.
func (s *NationalSink) lookup(ctx context.Context, unit national.Unit, id string) (_ json.RawMessage, err error) {
	ctx, span := tracing.Start(ctx, "national TraCuuHoSo", trace.SpanKindClient)
	defer func() { tracing.End(span, err) }()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		held, err := s.portal.Lookup(ctx, unit, id)
		if err == nil {
			return held, nil
		}
		if attempt == 3 || !national.IsTransient(err) || national.RetryAfter(err) > 0 || errors.Is(err, breaker.ErrOpen) {
			return nil, fmt.Errorf("look up dossier %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 3
	}
}

// ledgerEntryAsIs is the ledger row of w with only its national state
// changed: the version and content the ledger had stay.
func (s *NationalSink) ledgerEntryAsIs(w *work) store.LedgerEntry {
	e := w.entry
	e.DossierID = w.d.ID
	e.KeepCanonical = true
	return e
}

func (s *NationalSink) ledgerEntry(w *work) store.LedgerEntry {
	e := w.entry
	e.DossierID = w.d.ID
	e.Source = w.d.Source
	e.Province = w.d.ProvinceCode
	e.Procedure = w.d.Procedure.Code
	e.Agency = w.d.Agency.Code
	e.Status = w.d.Status
	e.Deleted = false
	// The dossier goes into the ledger with the batch's first write of it;
	// the writes after that one (answers, steps) keep it. An older version
	// leaves the newer one stored.
	e.KeepCanonical = true
	// The on-time report's columns: the first resolution any version
	// shows stays (a dossier reopened was still resolved then); the due
	// date is the newest version's (an extension moves it).
	e.ResolvedAt = earliest(e.ResolvedAt, resolvedAt(w.d, w.seen))
	if w.d.SourceVersion >= e.Version {
		e.DueAt = time.Time{}
		if w.d.DueAt != nil {
			e.DueAt = *w.d.DueAt
		}
		e.Version = w.d.SourceVersion
		if !w.stored {
			e.Canonical, e.KeepCanonical, w.stored = w.raw, false, true
		}
	}
	return e
}

func (s *NationalSink) event(d *schemas.Dossier, kind, detail string, at time.Time) store.Event {
	return store.Event{DossierID: d.ID, Source: d.Source, Version: d.SourceVersion, Kind: kind, Detail: detail, At: at, Instance: s.cfg.Instance}
}

func (s *NationalSink) quarantineEntry(d *schemas.Dossier, raw []byte, field, reason string) store.QuarantineEntry {
	return store.QuarantineEntry{Source: d.Source, DossierID: d.ID, Version: d.SourceVersion, Field: field, Reason: reason,
		Format: schemas.FormatCanonical, Payload: raw, At: time.Now(), State: store.QuarantineOpen}
}

// byUnit groups ws per unit, in order of first appearance, keeping the
// order within each unit.
func byUnit(ws []*work) [][]*work {
	index := map[national.Unit]int{}
	var out [][]*work
	for _, w := range ws {
		i, ok := index[w.unit]
		if !ok {
			i = len(out)
			index[w.unit] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], w)
	}
	return out
}

// chunksByUnit splits ws into calls of at most MaxItems, each for one unit,
// keeping the batch's order.
func chunksByUnit(ws []*work) [][]*work {
	var out [][]*work
	for _, list := range byUnit(ws) {
		for start := 0; start < len(list); start += national.MaxItems {
			out = append(out, list[start:min(start+national.MaxItems, len(list))])
		}
	}
	return out
}
