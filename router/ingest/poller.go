// Package ingest runs the pull loop of each provincial connector: pull a page
// of changes, hand it to Kafka, and only then store the cursor, so a crash
// at any point re-pulls rather than loses.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Page is what one pull returns: records not yet handed off and the cursor
// to store once they are.
type Page = httpx.Page

// PullFunc pulls the changes after cursor (nil: from the beginning).
type PullFunc func(ctx context.Context, cursor []byte) (Page, error)

// Cursors stores each poller's position durably.
type Cursors interface {
	GetCursor(ctx context.Context, name string) ([]byte, error)
	PutCursor(ctx context.Context, name string, value []byte) error
}

// Provenance appends to each dossier's timeline.
type Provenance interface {
	AppendEvents(ctx context.Context, events []store.Event) error
}

// Poller pulls one source into its raw topic.
type Poller struct {
	Source    string
	Pull      PullFunc
	Topic     string
	Publisher message.Publisher
	Cursors   Cursors
	// Events, when set, records a "pulled" step per record, one round trip
	// per page.
	Events Provenance
	// Instance names this hub in provenance.
	Instance string
	// Interval is the pause after a pull that found nothing more.
	Interval time.Duration
	// MaxBackoff caps the pause after failures.
	MaxBackoff time.Duration
	Counters   *progress.Counters
	Logger     *slog.Logger
	// Wait, when set, blocks before each pull while the portal is known to
	// be down (its circuit breaker is open): the poller waits instead of
	// hammering it.
	Wait func(ctx context.Context) error
	// Retried, when set, is told of each retry after a failed pull.
	Retried func()
	// Published, when set, is told after each published page when its
	// records were pulled (the earliest of their pull times): the lag gauge
	// counts from then until the sink resolves them.
	Published func(pulled time.Time)
	// Changed, when set, is told after each page that had records, once
	// its cursor is stored, how many records it had: each is a new or
	// changed version at the source (the connectors drop the ones they
	// already handed off). A page pulled again because publishing or
	// storing its cursor failed is told once, when it goes through; an
	// empty pull is never told.
	Changed func(n int)
}

// CursorName is the store key of source's cursor.
func CursorName(source string) string { return "source:" + source }

// Run polls until ctx ends, then returns nil. Failures are logged and
// retried with backoff; they never move the cursor.
func (p *Poller) Run(ctx context.Context) error {
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	interval := p.Interval
	if interval <= 0 {
		interval = time.Second
	}
	maxBackoff := p.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	backoff := 200 * time.Millisecond
	cursor, err := p.Cursors.GetCursor(ctx, CursorName(p.Source))
	for err != nil {
		// A store that does not answer now may later: wait, never give
		// up the poller (and with it the hub) for a transient failure.
		wait := backoff/2 + rand.N(backoff)
		backoff = min(backoff*2, maxBackoff)
		log.Warn("read cursor failed; retrying", "source", p.Source, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		cursor, err = p.Cursors.GetCursor(ctx, CursorName(p.Source))
	}
	backoff = 200 * time.Millisecond
	for {
		if p.Wait != nil {
			if err := p.Wait(ctx); err != nil {
				return nil // ctx ended
			}
		}
		next, more, err := p.once(ctx, cursor, log)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait = backoff/2 + rand.N(backoff)
			backoff = min(backoff*2, maxBackoff)
			log.Warn("pull failed; retrying", "source", p.Source, "wait", wait.String(), "error", err.Error())
			if p.Retried != nil {
				p.Retried()
			}
		default:
			backoff = 200 * time.Millisecond
			cursor = next
			if more {
				wait = 0
			}
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// once pulls one page, publishes it and stores the new cursor.
func (p *Poller) once(ctx context.Context, cursor []byte, log *slog.Logger) (_ []byte, _ bool, err error) {
	start := time.Now()
	page, err := p.Pull(ctx, cursor)
	if err != nil {
		err = fmt.Errorf("pull: %w", err)
		_, span := p.startSpan(ctx, start, page)
		tracing.End(span, err)
		return nil, false, err
	}
	if len(page.Records) > 0 {
		// A page's span is the parent of its records' traces: each message
		// carries it on to the normaliser.
		var span trace.Span
		ctx, span = p.startSpan(ctx, start, page)
		defer func() { tracing.End(span, err) }()
		msgs := make([]*message.Message, 0, len(page.Records))
		for i := range page.Records {
			m, err := RawMessage(&page.Records[i])
			if err != nil {
				return nil, false, err
			}
			msgs = append(msgs, m)
		}
		tracing.InjectAll(ctx, msgs)
		// Publish returns once the broker has every record: only then may
		// the cursor move past them.
		if err := p.Publisher.Publish(p.Topic, msgs...); err != nil {
			return nil, false, fmt.Errorf("publish %d records: %w", len(msgs), err)
		}
		if err := p.recordPulled(ctx, page.Records); err != nil {
			return nil, false, err
		}
		p.Counters.Add(p.Source, progress.Pulled, int64(len(msgs)))
		if p.Published != nil {
			earliest := page.Records[0].Pulled
			for _, r := range page.Records {
				if r.Pulled.Before(earliest) {
					earliest = r.Pulled
				}
			}
			p.Published(earliest)
		}
		log.InfoContext(ctx, "pulled", "source", p.Source, "records", len(msgs), "more", page.More)
	}
	if page.Cursor != nil && string(page.Cursor) != string(cursor) {
		if err := p.Cursors.PutCursor(ctx, CursorName(p.Source), page.Cursor); err != nil {
			return nil, false, fmt.Errorf("store cursor: %w", err)
		}
	} else if page.Cursor == nil {
		page.Cursor = cursor
	}
	if len(page.Records) > 0 && p.Changed != nil {
		p.Changed(len(page.Records))
	}
	return page.Cursor, page.More, nil
}

// startSpan starts the span of a pull that began at start, under the
// provider ctx carries: a pull that found nothing has none, so an idle
// source makes no traces. With tracing off it returns ctx and a span that
// does nothing.
func (p *Poller) startSpan(ctx context.Context, start time.Time, page Page) (context.Context, trace.Span) {
	t := tracing.Tracer(ctx)
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.Start(ctx, "pull "+p.Source, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(tracing.AttrSource.String(p.Source), attribute.Int("lienthong.records", len(page.Records)),
			attribute.Bool("lienthong.more", page.More)))
}

func (p *Poller) recordPulled(ctx context.Context, recs []schemas.RawRecord) error {
	if p.Events == nil {
		return nil
	}
	now := time.Now()
	events := make([]store.Event, 0, len(recs))
	for _, r := range recs {
		if r.ID == "" {
			continue
		}
		detail := "upsert"
		if r.Op == schemas.OpDelete {
			detail = "delete"
		}
		at := r.Pulled // the step happened at the pull, before the publish
		if at.IsZero() {
			at = now
		}
		events = append(events, store.Event{DossierID: r.ID, Source: r.Source, Version: r.Version, Kind: "pulled", Detail: detail, At: at, Instance: p.Instance})
	}
	if err := p.Events.AppendEvents(ctx, events); err != nil {
		// The records are published but the cursor stays: the next pull
		// hands them over again, which the ledger makes harmless.
		return fmt.Errorf("record pulled records: %w", err)
	}
	return nil
}

// RawMessage wraps rec for its raw topic, keyed by dossier so every change of
// one dossier lands in one partition, in pull order.
func RawMessage(rec *schemas.RawRecord) (*message.Message, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode raw record %s/%s: %w", rec.Source, rec.ID, err)
	}
	m := message.NewMessage(watermill.NewUUID(), body)
	key := rec.ID
	if key == "" {
		// Unreadable id: any partition will do, the record goes to quarantine.
		key = rec.Source + "#" + strconv.FormatInt(rec.Version, 10)
	}
	m.Metadata.Set(kafka.PartitionKeyMetadata, key)
	m.Metadata.Set(schemas.MetadataSource, rec.Source)
	return m, nil
}
