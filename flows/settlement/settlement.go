// Package settlement carries out the effects the hub owes after a level-4
// event it has recorded — a payment paid, a result delivered by VNPost, its
// cash on delivery collected: the writeback to the province, and the hub's
// own effects (the dossier republished to the national sink, the applicant
// told).
//
// Each event's effects are a store.Settlement, opened before the event's
// source moves on (the IPN answered, the tracking cursor stored), so a crash
// loses none. A pass carries them out and leaves whatever is still owed for
// a later pass, with a backoff: an effect that must wait (the national sink
// has not got the dossier into the ledger yet) holds up nothing else. The
// province's permanent refusals of the writeback (Sơn La's 404, a
// soap:Client fault, a non-zero KETQUA) are counted in the store, so a
// restart does not reset the count; after MaxAttempts the writeback is held:
// quarantined with the reason, in the same transaction, and no longer tried
// until an operator replays the entry (dlq, format settlement), which starts
// a new round under a reference of its own.
package settlement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Store is the durable state of settlements and the dossier timeline.
type Store interface {
	OpenSettlement(ctx context.Context, s store.Settlement) (store.Settlement, bool, error)
	GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error)
	UpdateSettlement(ctx context.Context, kind, ref string, u store.SettlementUpdate) (store.Settlement, bool, error)
	ListSettlements(ctx context.Context, f store.SettlementFilter) ([]store.Settlement, error)
	AppendEvents(ctx context.Context, events []store.Event) error
}

// Writeback tells the province (flows/writeback).
type Writeback interface {
	Send(ctx context.Context, source string, ev httpx.Event) error
}

// Plan is what one settlement owes.
type Plan struct {
	// Writeback goes to the settlement's source until it is done or held.
	// Its Reference is the first round's; later rounds add "/r<round>".
	Writeback httpx.Event
	// Effects are the hub's own effects, idempotent, run on every pass
	// until they succeed, whatever the writeback's fate. An error wrapping
	// ErrWait means "not yet" and is not reported; any other is reported,
	// and retried all the same.
	Effects func(ctx context.Context) error
	// Settled, when set, runs last, once the writeback is done and the
	// effects succeeded (the payment marked settled).
	Settled func(ctx context.Context) error
}

// Planner builds a settlement's plan from what the store holds of its
// event.
type Planner func(ctx context.Context, s store.Settlement) (Plan, error)

// ErrWait is wrapped by an effect that cannot happen yet and will later,
// such as a notice for a dossier the ledger does not hold yet.
var ErrWait = errors.New("waiting")

// Defaults of Config.
const (
	DefaultMaxAttempts = 5
	DefaultRetry       = 5 * time.Second
	// maxBackoff caps the doubling delay at 64 times Retry.
	maxBackoff = 6
)

// Config wires a Runner.
type Config struct {
	Store     Store
	Writeback Writeback
	Plan      Planner
	// MaxAttempts is how many permanent refusals of a writeback the runner
	// takes before it holds it; default DefaultMaxAttempts.
	MaxAttempts int
	// Retry is the delay after the first pass that leaves a settlement
	// open; it doubles with each further one, up to 64 times. Default
	// DefaultRetry; the loops set it to their interval (SetRetry).
	Retry    time.Duration
	Now      func() time.Time // default time.Now
	Instance string
	Log      *slog.Logger
}

// Runner opens settlements and carries them out.
type Runner struct {
	cfg   Config
	retry atomic.Int64
	locks keyedMutex
}

// New returns a runner.
func New(cfg Config) *Runner {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Runner{cfg: cfg}
	r.retry.Store(int64(cfg.Retry))
	return r
}

// SetRetry sets the first retry's delay; the loops that run the passes
// call it with their interval, so a settlement is retried on their rhythm.
func (r *Runner) SetRetry(d time.Duration) {
	if d > 0 {
		r.retry.Store(int64(d))
	}
}

// Reference is the writeback reference of a round: the first round's is
// base itself. A replay needs a new one because the portals answer a
// repeated reference with their first answer (§1–§3); none of the earlier
// round's attempts took effect, so the new one cannot double it.
func Reference(base string, round int) string {
	if round == 0 {
		return base
	}
	return base + "/r" + strconv.Itoa(round)
}

// Open records that s's effects are owed, unless they already are, and
// returns the settlement as stored.
func (r *Runner) Open(ctx context.Context, s store.Settlement) (store.Settlement, error) {
	if s.NextAt.IsZero() {
		s.NextAt = r.cfg.Now() // due at once, on the runner's clock
	}
	st, _, err := r.cfg.Store.OpenSettlement(ctx, s)
	if err != nil {
		return store.Settlement{}, fmt.Errorf("open %s settlement %s of %s dossier %s: %w", s.Kind, s.Ref, s.Source, s.DossierID, err)
	}
	return st, nil
}

// RunDue makes a pass over the open settlements of these kinds whose time
// has come, at most limit of them, the longest due first. After trying each
// it reports how many failed and the first failure (one line for the log
// however many a down province fails).
func (r *Runner) RunDue(ctx context.Context, kinds []string, limit int) error {
	due, err := r.cfg.Store.ListSettlements(ctx, store.SettlementFilter{
		Kinds: kinds, States: []string{store.SettlementOpen}, DueBy: r.cfg.Now(), Limit: limit,
	})
	if err != nil {
		return fmt.Errorf("list settlements due: %w", err)
	}
	var (
		first  error
		failed int
	)
	for _, s := range due {
		if ctx.Err() != nil {
			break
		}
		if err := r.Run(ctx, s); err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d settlements due left owed; first: %w", failed, len(due), first)
}

// Run makes one pass over s: the writeback when it is due, the effects,
// then Settled; it closes s when nothing is owed any more, and otherwise
// schedules the next pass. It returns what went wrong, waits aside; a
// closed settlement is nil.
func (r *Runner) Run(ctx context.Context, s store.Settlement) (err error) {
	ctx, span := tracing.StartFor(ctx, "settle "+s.Kind, trace.SpanKindInternal, s.Source, s.DossierID)
	defer func() { tracing.End(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("settlement.kind", s.Kind), attribute.String("settlement.reference", s.Ref))
	}
	unlock := r.locks.lock(s.Kind + "/" + s.Ref)
	defer unlock()
	// Under the lock, as it is now: another pass of this instance may have
	// just run it.
	cur, err := r.cfg.Store.GetSettlement(ctx, s.Kind, s.Ref)
	if err != nil {
		return fmt.Errorf("settle %s %s of %s dossier %s: %w", s.Kind, s.Ref, s.Source, s.DossierID, err)
	}
	s = cur
	if s.State != store.SettlementOpen {
		return nil
	}
	plan, err := r.cfg.Plan(ctx, s)
	if err != nil {
		return r.leaveOpen(ctx, s, []error{err})
	}
	var owed []error
	if s.Writeback == store.WritebackDue {
		if s, err = r.writeback(ctx, s, plan.Writeback); err != nil {
			owed = append(owed, err)
		}
	}
	if plan.Effects != nil {
		if err := plan.Effects(ctx); err != nil {
			owed = append(owed, err)
		}
	}
	if len(owed) == 0 && s.Writeback == store.WritebackDone && plan.Settled != nil {
		if err := plan.Settled(ctx); err != nil {
			owed = append(owed, err)
		}
	}
	if len(owed) > 0 {
		return r.leaveOpen(ctx, s, owed)
	}
	// A writeback held stays held, in the quarantine; the rest is done.
	if _, _, err := r.cfg.Store.UpdateSettlement(ctx, s.Kind, s.Ref, store.SettlementUpdate{Round: s.Round, State: store.SettlementClosed}); err != nil {
		return fmt.Errorf("close %s settlement %s of %s dossier %s: %w", s.Kind, s.Ref, s.Source, s.DossierID, err)
	}
	return nil
}

// writeback sends the round's writeback and records its outcome; it
// returns the settlement as it stands after, and an error while the
// writeback is still due.
func (r *Runner) writeback(ctx context.Context, s store.Settlement, ev httpx.Event) (store.Settlement, error) {
	ev.Reference = Reference(ev.Reference, s.Round)
	err := r.cfg.Writeback.Send(ctx, s.Source, ev)
	if err == nil {
		st, _, uerr := r.cfg.Store.UpdateSettlement(ctx, s.Kind, s.Ref, store.SettlementUpdate{
			Round: s.Round, FromWriteback: []string{store.WritebackDue}, Writeback: store.WritebackDone,
		})
		if uerr != nil {
			// Written back, not recorded: the next pass sends it again, which
			// the portal takes as the repeat it is.
			return s, fmt.Errorf("record writeback %s of %s dossier %s: %w", ev.Reference, s.Source, s.DossierID, uerr)
		}
		return st, nil
	}
	if !refusal(err) {
		return s, err
	}
	max := r.cfg.MaxAttempts
	st, changed, uerr := r.cfg.Store.UpdateSettlement(ctx, s.Kind, s.Ref, store.SettlementUpdate{
		Round: s.Round, FromWriteback: []string{store.WritebackDue}, Refused: true, HoldAt: max,
		Hold: r.entry(s, ev, err), LastError: clip(err.Error()),
	})
	if uerr != nil {
		return s, errors.Join(err, fmt.Errorf("count refusal of writeback %s of %s dossier %s: %w", ev.Reference, s.Source, s.DossierID, uerr))
	}
	if !changed {
		return st, err // replayed or recorded meanwhile: the next pass sees which
	}
	if st.Writeback == store.WritebackHeld {
		r.cfg.Log.WarnContext(ctx, "writeback refused too often; quarantined for an operator", "source", s.Source, "dossier", s.DossierID,
			"kind", ev.Kind, "reference", ev.Reference, "attempts", st.Attempts, "error", err.Error())
		r.event(ctx, s, "writeback.held", fmt.Sprintf("%s reference %s refused %d times: quarantined", ev.Kind, ev.Reference, st.Attempts))
		return st, nil
	}
	r.cfg.Log.WarnContext(ctx, "writeback refused; tried again later", "source", s.Source, "dossier", s.DossierID,
		"kind", ev.Kind, "reference", ev.Reference, "attempt", st.Attempts, "of", max, "error", err.Error())
	r.event(ctx, s, "writeback.refused", fmt.Sprintf("%s reference %s attempt %d of %d: %s", ev.Kind, ev.Reference, st.Attempts, max, clip(err.Error())))
	return st, err
}

// entry is the quarantine entry of s's writeback once held. Its payload
// names the settlement, which is what a replay reopens.
func (r *Runner) entry(s store.Settlement, ev httpx.Event, err error) *store.QuarantineEntry {
	payload, _ := json.Marshal(Payload{Kind: s.Kind, Ref: s.Ref, Reference: ev.Reference}) // strings always marshal
	return &store.QuarantineEntry{
		Source: s.Source, DossierID: s.DossierID, Field: "writeback:" + ev.Kind, Format: schemas.FormatSettlement,
		Reason: fmt.Sprintf("%s: dossier %s: writeback %s (%s %s, reference %s) refused %d times, last: %s; not tried again until replayed",
			s.Source, s.DossierID, ev.Kind, s.Kind, s.Ref, ev.Reference, r.cfg.MaxAttempts, clip(err.Error())),
		Payload: payload, State: store.QuarantineOpen,
	}
}

// Payload is the quarantined payload of a held writeback (format
// settlement): the settlement to reopen, and the reference refused.
type Payload struct {
	Kind      string `json:"kind"`
	Ref       string `json:"ref"`
	Reference string `json:"reference"`
}

// leaveOpen records why s stays open and when to try it next, and returns
// what to report: every error but waits.
func (r *Runner) leaveOpen(ctx context.Context, s store.Settlement, owed []error) error {
	tries := s.Tries + 1
	delay := time.Duration(r.retry.Load()) << min(tries-1, maxBackoff)
	var report []error
	texts := make([]string, 0, len(owed))
	for _, err := range owed {
		texts = append(texts, err.Error())
		if !errors.Is(err, ErrWait) {
			report = append(report, err)
		}
	}
	if _, _, err := r.cfg.Store.UpdateSettlement(ctx, s.Kind, s.Ref, store.SettlementUpdate{
		Round: s.Round, Tried: true, LastError: clip(strings.Join(texts, "; ")), NextAt: r.cfg.Now().Add(delay),
	}); err != nil {
		report = append(report, fmt.Errorf("schedule %s settlement %s of %s dossier %s: %w", s.Kind, s.Ref, s.Source, s.DossierID, err))
	}
	if len(report) == 0 {
		r.cfg.Log.DebugContext(ctx, "settlement waits", "kind", s.Kind, "ref", s.Ref, "dossier", s.DossierID, "tries", tries)
		return nil
	}
	return errors.Join(report...)
}

func (r *Runner) event(ctx context.Context, s store.Settlement, kind, detail string) {
	if err := r.cfg.Store.AppendEvents(ctx, []store.Event{{
		DossierID: s.DossierID, Source: s.Source, Kind: kind, Detail: detail, At: time.Now(), Instance: r.cfg.Instance,
	}}); err != nil {
		r.cfg.Log.WarnContext(ctx, "settlement event not recorded", "dossier", s.DossierID, "kind", kind, "error", err.Error())
	}
}

// refusal reports whether err is the province refusing the writeback for
// good. Rejected credentials are the hub's configuration, not the
// dossier's, and a cancellation is the hub stopping: neither is counted.
func refusal(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, httpx.ErrAuth) {
		return false
	}
	return httpx.IsPermanent(err)
}

// clip keeps error texts stored in clear short.
func clip(s string) string { return httpx.Clip(s, 500) }

// keyedMutex serialises passes over one settlement within this instance
// (a notification handled while the background pass reaches it).
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	n int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*refMutex{}
	}
	r := k.m[key]
	if r == nil {
		r = &refMutex{}
		k.m[key] = r
	}
	r.n++
	k.mu.Unlock()
	r.Lock()
	return func() {
		r.Unlock()
		k.mu.Lock()
		if r.n--; r.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
