package router_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

type fixedMapper struct{ d schemas.Dossier }

func (m fixedMapper) Normalize(schemas.RawRecord) (*schemas.Dossier, error) {
	d := m.d
	return &d, nil
}

type nopStore struct{}

func (nopStore) AddQuarantine(context.Context, []store.QuarantineEntry) error { return nil }
func (nopStore) AppendEvents(context.Context, []store.Event) error            { return nil }

// BenchmarkNormaliseHandler is the normaliser's handler path (the mapping
// stubbed, the store a no-op) as the router runs it: with tracing off (no
// middleware, the default) and on (the middleware's span, exported in
// batches to nowhere). One record's extraction, span and injection is what
// "on" adds.
func BenchmarkNormaliseHandler(b *testing.B) {
	raw, _ := json.Marshal(schemas.RawRecord{Source: "sonla", ID: "000.00.14.H52-261121-0001", Version: 3, Pulled: time.Now()})
	run := func(b *testing.B, p *tracing.Provider) {
		n := router.NewNormaliser(fixedMapper{schemas.Dossier{ID: "000.00.14.H52-261121-0001", Source: "sonla", SourceVersion: 3, Status: 2}},
			nopStore{}, progress.New(), nil, "bench")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go n.Run(ctx)
		h := p.Middleware(n.Handle)
		var traceparent string
		if p != nil {
			pctx, span := p.Tracer().Start(ctx, "pull sonla")
			md := message.Metadata{}
			tracing.Inject(pctx, md)
			traceparent = md[tracing.MetadataTraceParent]
			span.End()
		}
		b.ReportAllocs()
		// As many at once as the subscriber's window holds: the store's
		// batches fill instead of waiting out their linger.
		b.SetParallelism(64)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				msg := message.NewMessage("m", raw)
				msg.Metadata.Set("partition_key", "000.00.14.H52-261121-0001")
				msg.Metadata.Set(schemas.MetadataSource, "sonla")
				if traceparent != "" {
					msg.Metadata.Set(tracing.MetadataTraceParent, traceparent)
				}
				if _, err := h(msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		run(b, tracing.NewWith(tp))
	})
}
