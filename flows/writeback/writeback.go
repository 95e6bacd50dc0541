// Package writeback writes level-4 events (payment received, result
// delivered by post) back to the dossier's provincial portal.
package writeback

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/flows/once"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/store"
)

// Portal is a provincial portal's writeback call. Each portal deduplicates
// by ev.Reference, so a repeat after an unknown outcome is harmless.
type Portal interface {
	Writeback(ctx context.Context, ev httpx.Event) error
}

// Store keeps the idempotency keys and the dossier timeline.
type Store interface {
	once.Keys
	AppendEvents(ctx context.Context, events []store.Event) error
}

// Writer sends writebacks to the portal of each source.
type Writer struct {
	portals  map[string]Portal
	store    Store
	instance string
}

// New returns a writer over the configured portals, keyed by source.
func New(portals map[string]Portal, st Store, instance string) *Writer {
	return &Writer{portals: portals, store: st, instance: instance}
}

// Send writes ev back to source's portal once per ev.Reference and notes it
// in the dossier's timeline. A source without a configured portal is an
// error: the hub pulled the dossier from it, so it must be configured.
func (w *Writer) Send(ctx context.Context, source string, ev httpx.Event) (err error) {
	ctx, span := tracing.StartFor(ctx, "writeback", trace.SpanKindClient, source, ev.DossierID)
	defer func() { tracing.End(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("writeback.kind", ev.Kind), attribute.String("writeback.reference", ev.Reference))
	}
	p, ok := w.portals[source]
	if !ok {
		return fmt.Errorf("writeback %s for %s dossier %s: no portal configured for source", ev.Kind, source, ev.DossierID)
	}
	key := "writeback/" + source + "/" + ev.Reference
	_, done, err := once.Do(ctx, w.store, key, "writeback "+ev.Kind, func(ctx context.Context) ([]byte, error) {
		return nil, p.Writeback(ctx, ev)
	})
	if err != nil {
		return fmt.Errorf("writeback %s for %s dossier %s: %w", ev.Kind, source, ev.DossierID, err)
	}
	if done {
		if span.IsRecording() {
			span.SetAttributes(attribute.Bool("lienthong.already_done", true))
		}
		return nil
	}
	return w.store.AppendEvents(ctx, []store.Event{{
		DossierID: ev.DossierID, Source: source, Kind: "writeback." + ev.Kind,
		Detail: "reference " + ev.Reference, At: time.Now(), Instance: w.instance,
	}})
}
