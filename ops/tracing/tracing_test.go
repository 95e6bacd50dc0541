package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/ops/tracing/tracingtest"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
)

// recording is a provider that keeps its spans in memory.
func recording(t testing.TB) (*tracing.Provider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.NewWith(tp), rec
}

func TestCarrierRoundTrip(t *testing.T) {
	p, _ := recording(t)
	ctx, span := p.Tracer().Start(context.Background(), "producer")
	defer span.End()
	md := message.Metadata{"tracestate": "stale=1", schemas.MetadataSource: "sonla"}
	tracing.Inject(ctx, md)
	if got := md[tracing.MetadataTraceParent]; !strings.HasPrefix(got, "00-"+span.SpanContext().TraceID().String()+"-"+span.SpanContext().SpanID().String()) {
		t.Fatalf("traceparent %q does not name the span %v", got, span.SpanContext())
	}
	if _, ok := md[tracing.MetadataTraceState]; ok {
		t.Errorf("a stale tracestate was kept: %v", md)
	}
	if md[schemas.MetadataSource] != "sonla" {
		t.Errorf("other metadata changed: %v", md)
	}
	// Through the Kafka marshaler: metadata are record headers.
	km, err := kafka.DefaultMarshaler{}.Marshal("raw.sonla", &message.Message{UUID: "u1", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	back, err := kafka.DefaultMarshaler{}.Unmarshal(km)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), back.Metadata))
	if !sc.IsRemote() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() || !sc.IsSampled() {
		t.Errorf("extracted %v; want the remote, sampled %v", sc, span.SpanContext())
	}
	if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), message.Metadata{})); sc.IsValid() {
		t.Errorf("extracted %v from no metadata", sc)
	}
	// InjectAll: the same context in every message.
	msgs := []*message.Message{message.NewMessage("a", nil), message.NewMessage("b", nil)}
	tracing.InjectAll(ctx, msgs)
	if msgs[0].Metadata[tracing.MetadataTraceParent] != md[tracing.MetadataTraceParent] || msgs[1].Metadata[tracing.MetadataTraceParent] != md[tracing.MetadataTraceParent] {
		t.Errorf("InjectAll: %v %v; want %s", msgs[0].Metadata, msgs[1].Metadata, md[tracing.MetadataTraceParent])
	}
}

// Off (no provider, no span), the hot path allocates nothing.
func TestOffAllocatesNothing(t *testing.T) {
	var off *tracing.Provider
	ctx := tracing.WithProvider(context.Background(), off)
	md := message.Metadata{kafka.PartitionKeyMetadata: "D1"}
	msgs := []*message.Message{message.NewMessage("a", nil)}
	handler := off.Middleware(func(msg *message.Message) ([]*message.Message, error) { return nil, nil })
	msg := message.NewMessage("m", nil)
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tracing.Start(ctx, "x", trace.SpanKindInternal)
		if span.IsRecording() {
			t.Fatal("a span records with tracing off")
		}
		tracing.Inject(c, md)
		tracing.InjectAll(c, msgs)
		_ = tracing.Adopt(c, ctx)
		_ = tracing.Extract(c, md)
		if tracing.Tracer(c) != nil {
			t.Fatal("a tracer with tracing off")
		}
		tracing.End(span, nil)
		_, _ = handler(msg)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message with tracing off; want 0", allocs)
	}
	if len(md) != 1 || len(msgs[0].Metadata) != 0 {
		t.Errorf("metadata changed with tracing off: %v %v", md, msgs[0].Metadata)
	}
}

// TestMiddlewareAcrossPubSub: a message published under a span is handled
// in a child span named after the handler, the handler sees it in
// msg.Context(), the message it returns carries that span on, and the next
// handler's span is its child; a handler's error marks its span.
func TestMiddlewareAcrossPubSub(t *testing.T) {
	p, rec := recording(t)
	logger := watermill.NopLogger{}
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, logger)
	r, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	r.AddMiddleware(p.Middleware)
	seen := make(chan trace.SpanContext, 2)
	r.AddHandler("normalise-sonla", "raw.sonla", ps, "canonical", ps, func(msg *message.Message) ([]*message.Message, error) {
		seen <- trace.SpanContextFromContext(msg.Context())
		out := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
		out.Metadata.Set(kafka.PartitionKeyMetadata, "D1")
		return []*message.Message{out}, nil
	})
	r.AddConsumerHandler("national", "canonical", ps, func(msg *message.Message) error {
		seen <- trace.SpanContextFromContext(msg.Context())
		return errors.New("portal down")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	<-r.Running()

	pctx, pull := p.Tracer().Start(context.Background(), "pull sonla")
	in := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
	in.Metadata.Set(kafka.PartitionKeyMetadata, "D1")
	in.Metadata.Set(schemas.MetadataSource, "sonla")
	in.Metadata.Set(schemas.MetadataVersion, "7")
	tracing.Inject(pctx, in.Metadata)
	pull.End()
	if err := ps.Publish("raw.sonla", in); err != nil {
		t.Fatal(err)
	}
	var ctxs []trace.SpanContext
	for len(ctxs) < 2 {
		select {
		case sc := <-seen:
			ctxs = append(ctxs, sc)
		case <-time.After(10 * time.Second):
			t.Fatalf("handlers saw %d messages", len(ctxs))
		}
	}
	cancel()
	<-r.Running() // closed already; wait for the router's handlers below
	deadline := time.Now().Add(5 * time.Second)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for len(byName) < 3 && time.Now().Before(deadline) {
		// The first of each name: the national handler's error has its
		// message redelivered, so later national spans may follow.
		for _, s := range rec.Ended() {
			if byName[s.Name()] == nil {
				byName[s.Name()] = s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	norm, nat := byName["normalise-sonla"], byName["national"]
	if norm == nil || nat == nil {
		t.Fatalf("spans ended: %v", byName)
	}
	if norm.Parent().SpanID() != pull.SpanContext().SpanID() || !norm.Parent().IsRemote() {
		t.Errorf("normalise span's parent %v; want the remote pull span %v", norm.Parent(), pull.SpanContext())
	}
	if nat.Parent().SpanID() != norm.SpanContext().SpanID() || nat.SpanContext().TraceID() != pull.SpanContext().TraceID() {
		t.Errorf("national span's parent %v; want the normalise span %v in trace %v", nat.Parent(), norm.SpanContext(), pull.SpanContext().TraceID())
	}
	if ctxs[0].SpanID() != norm.SpanContext().SpanID() || ctxs[1].SpanID() != nat.SpanContext().SpanID() {
		t.Errorf("handlers saw %v; want their own spans", ctxs)
	}
	if norm.SpanKind() != trace.SpanKindConsumer || norm.Status().Code != 0 {
		t.Errorf("normalise span: kind %v status %v", norm.SpanKind(), norm.Status())
	}
	if nat.Status().Description != "portal down" {
		t.Errorf("national span status %v; want the handler's error", nat.Status())
	}
	attrs := map[string]string{}
	for _, kv := range norm.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, want := range map[string]string{"lienthong.source": "sonla", "lienthong.dossier": "D1", "lienthong.version": "7",
		"lienthong.handler": "normalise-sonla", "messaging.system": "kafka", "messaging.destination.name": "raw.sonla", "messaging.message.id": in.UUID} {
		if attrs[k] != want {
			t.Errorf("normalise span attribute %s = %q; want %q (all: %v)", k, attrs[k], want, attrs)
		}
	}
}

func TestStartRootChildAndAdopt(t *testing.T) {
	p, rec := recording(t)
	if _, span := tracing.Start(context.Background(), "nothing", trace.SpanKindInternal); span.IsRecording() {
		t.Error("a span without a provider or a parent")
	}
	ctx := tracing.WithProvider(context.Background(), p)
	ctx, root := tracing.Start(ctx, "root", trace.SpanKindInternal)
	_, child := tracing.Start(trace.ContextWithSpan(context.Background(), root), "child", trace.SpanKindClient)
	tracing.End(child, errors.New("refused"))
	// Adopt: a batch's context with a message's span.
	batch, cancelBatch := context.WithCancel(context.Background())
	adopted := tracing.Adopt(batch, ctx)
	_, lookup := tracing.Start(adopted, "lookup", trace.SpanKindClient)
	lookup.End()
	cancelBatch()
	if adopted.Err() == nil {
		t.Error("Adopt lost the batch context's cancellation")
	}
	root.End()
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	if spans["root"].Parent().IsValid() {
		t.Errorf("root has a parent %v", spans["root"].Parent())
	}
	for _, name := range []string{"child", "lookup"} {
		if spans[name].Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s's parent is %v; want root", name, spans[name].Parent())
		}
	}
	if spans["child"].Status().Description != "refused" || spans["child"].SpanKind() != trace.SpanKindClient {
		t.Errorf("child: %v %v", spans["child"].Status(), spans["child"].SpanKind())
	}
}

func TestLogHandler(t *testing.T) {
	p, _ := recording(t)
	var buf bytes.Buffer
	log := tracing.Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if tracing.Logger(log) != log {
		t.Error("wrapped twice")
	}
	ctx, span := p.Tracer().Start(context.Background(), "x")
	log.With("a", 1).WithGroup("g").InfoContext(ctx, "with span", "b", 2)
	log.InfoContext(context.Background(), "without")
	unsampled := trace.ContextWithSpanContext(context.Background(), trace.SpanContextFromContext(ctx).WithTraceFlags(0))
	log.InfoContext(unsampled, "not sampled")
	log.Info("plain")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("log: %q", buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	g, _ := first["g"].(map[string]any)
	if g["trace_id"] != span.SpanContext().TraceID().String() || g["span_id"] != span.SpanContext().SpanID().String() || first["a"] != 1.0 {
		t.Errorf("line under a span: %s", lines[0])
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "trace_id") {
			t.Errorf("line without a span has a trace_id: %s", l)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		cfg tracing.Config
		bad string
	}{
		{tracing.Config{}, ""},
		{tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 1}, ""},
		{tracing.Config{Endpoint: "https://otel.example/base/v1/traces", SampleRatio: 0.1}, ""},
		{tracing.Config{Endpoint: "collector:4318", Insecure: true}, ""},
		{tracing.Config{Endpoint: "ftp://collector"}, "scheme"},
		{tracing.Config{Endpoint: "https://collector:4318", Insecure: true}, "contradicts"},
		{tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 1.5}, "sample_ratio"},
		{tracing.Config{Endpoint: "http://:4318"}, "no host"},
	} {
		err := c.cfg.Validate()
		if (err == nil) != (c.bad == "") || (err != nil && !strings.Contains(err.Error(), c.bad)) {
			t.Errorf("%+v: %v; want %q", c.cfg, err, c.bad)
		}
	}
	if p, err := tracing.New(tracing.Config{}); p != nil || err != nil {
		t.Errorf("no endpoint: %v %v; want off", p, err)
	}
}

// TestExport: spans go over OTLP/HTTP (gzipped, with the configured
// headers) to the endpoint's /v1/traces, with service.name and
// service.instance.id, when the provider shuts down at the latest.
func TestExport(t *testing.T) {
	recv := tracingtest.NewReceiver()
	defer recv.Close()
	for _, endpoint := range []string{recv.URL(), strings.TrimPrefix(recv.URL(), "http://")} {
		before := len(recv.Spans())
		p, err := tracing.New(tracing.Config{Endpoint: endpoint, Insecure: true, SampleRatio: 1, Instance: "hub-a",
			Headers: map[string]string{"X-Tenant": "lienthong"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, parent := tracing.Start(tracing.WithProvider(context.Background(), p), "pull sonla", trace.SpanKindInternal)
		_, child := tracing.Start(ctx, "national", trace.SpanKindConsumer)
		child.End()
		parent.End()
		if err := p.Shutdown(); err != nil {
			t.Fatal(err)
		}
		spans := recv.Spans()[before:]
		if len(spans) != 2 {
			t.Fatalf("%s: received %d spans", endpoint, len(spans))
		}
		for _, s := range spans {
			if s.Instance() != "hub-a" || s.Resource["service.name"] != tracing.DefaultServiceName {
				t.Errorf("span %s: resource %v", s.Name, s.Resource)
			}
		}
		if spans[0].Name != "national" || spans[0].ParentID != spans[1].SpanID || spans[0].TraceID != spans[1].TraceID {
			t.Errorf("spans %+v", spans)
		}
	}
	n, headers := recv.Requests()
	if n != 2 || headers[0].Get("X-Tenant") != "lienthong" || headers[0].Get("Content-Encoding") != "gzip" {
		t.Errorf("%d exports, headers %v", n, headers)
	}
	// Sampled out: nothing recorded, nothing exported.
	p, err := tracing.New(tracing.Config{Endpoint: recv.URL(), SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.Start(tracing.WithProvider(context.Background(), p), "x", trace.SpanKindInternal)
	if span.IsRecording() {
		t.Error("sample_ratio 0 records")
	}
	span.End()
	_ = p.Shutdown()
}

// The cost per message of the router middleware: off (the default) it is
// not there at all; on, one consumer span exported in batches.
func BenchmarkMiddleware(b *testing.B) {
	handler := func(msg *message.Message) ([]*message.Message, error) {
		out := message.NewMessage("out", nil)
		return []*message.Message{out}, nil
	}
	md := message.Metadata{kafka.PartitionKeyMetadata: "000.00.14.H52-261121-0001", schemas.MetadataSource: "sonla", schemas.MetadataVersion: "3"}
	run := func(b *testing.B, p *tracing.Provider) {
		h := p.Middleware(handler)
		b.ReportAllocs()
		for b.Loop() {
			msg := message.NewMessage("m", nil)
			msg.Metadata = md
			_, _ = h(msg)
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil) })
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ctx, parent := tp.Tracer("b").Start(context.Background(), "pull")
		tracing.Inject(ctx, md)
		parent.End()
		run(b, tracing.NewWith(tp))
	})
}
