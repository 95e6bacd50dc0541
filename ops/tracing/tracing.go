// Package tracing follows a dossier's way through the hub with
// OpenTelemetry: spans exported over OTLP/HTTP, and the W3C trace context
// (traceparent, tracestate) carried in the Kafka headers of every message,
// so that a trace goes on across topics and hub instances.
//
// Tracing is off unless an exporter endpoint is configured. Off, New
// returns a nil *Provider, whose methods do nothing: the router gets no
// middleware, Start and Inject only look the context up, and nothing is
// allocated per message.
//
// Spans carry sources, dossier codes (MaHoSo), versions, statuses, answer
// codes and references, never an applicant's name, identity number, phone,
// email or address.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of the hub's spans.
const Scope = "github.com/lienthong/lienthong"

// DefaultServiceName is service.name when none is configured.
const DefaultServiceName = "lienthong-hub"

// TracesPath is where an OTLP/HTTP receiver takes spans, below its base URL.
const TracesPath = "/v1/traces"

// Attribute keys of the hub's own (semantic conventions name the rest).
const (
	AttrSource  = attribute.Key("lienthong.source")
	AttrDossier = attribute.Key("lienthong.dossier") // MaHoSo: not personal data
	AttrVersion = attribute.Key("lienthong.version")
	AttrHandler = attribute.Key("lienthong.handler")
)

// Config configures the exporter.
type Config struct {
	// Endpoint is the OTLP/HTTP receiver: a base URL ("http://collector:4318",
	// spans go to its /v1/traces; a URL whose path already ends in
	// /v1/traces is taken as it is), or host:port (HTTPS unless Insecure).
	// Empty: tracing is off.
	Endpoint string
	// Insecure sends over plain HTTP to a host:port endpoint (a URL's
	// scheme says so itself).
	Insecure bool
	// Headers go with every export (an API key, a tenant).
	Headers map[string]string
	// SampleRatio is the share of new traces recorded (0 to 1); a trace
	// continued from a message keeps the decision of where it started.
	SampleRatio float64
	// ServiceName is service.name (default DefaultServiceName).
	ServiceName string
	// Instance is service.instance.id: which hub instance made the span.
	Instance string
	// Log gets export failures (at most one line a minute).
	Log *slog.Logger
}

// Validate reports what is wrong with a Config that has an Endpoint.
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return nil
	}
	var errs []error
	if _, _, err := c.target(); err != nil {
		errs = append(errs, err)
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("sample_ratio %v: between 0 and 1", c.SampleRatio))
	}
	return errors.Join(errs...)
}

// target is the full URL spans are posted to, and whether it is plain HTTP.
func (c Config) target() (string, bool, error) {
	raw := c.Endpoint
	if !strings.Contains(raw, "://") {
		scheme := "https://"
		if c.Insecure {
			scheme = "http://"
		}
		raw = scheme + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("otlp_endpoint %q: %w", c.Endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("otlp_endpoint %q: scheme must be http or https", c.Endpoint)
	case u.Hostname() == "":
		return "", false, fmt.Errorf("otlp_endpoint %q: no host", c.Endpoint)
	case u.Scheme == "https" && c.Insecure && strings.Contains(c.Endpoint, "://"):
		return "", false, fmt.Errorf("otlp_endpoint %q: insecure (plain HTTP) contradicts https", c.Endpoint)
	}
	if !strings.HasSuffix(u.Path, TracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + TracesPath
	}
	return u.String(), u.Scheme == "http", nil
}

// Provider makes and exports the hub's spans. A nil *Provider is tracing
// off: every method is safe to call and does nothing.
type Provider struct {
	sdk    *sdktrace.TracerProvider
	tracer trace.Tracer
}

// New returns a provider exporting over OTLP/HTTP in batches, or nil (off)
// when cfg has no Endpoint. Nothing is dialled until the first export.
func New(cfg Config) (*Provider, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	target, _, _ := cfg.target()
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(target), otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(name), semconv.ServiceInstanceID(cfg.Instance)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	if cfg.Log != nil {
		otel.SetErrorHandler(&errorLog{log: cfg.Log})
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return NewWith(tp), nil
}

// NewWith returns a provider over an SDK provider set up elsewhere (tests
// record spans in memory with it).
func NewWith(tp *sdktrace.TracerProvider) *Provider {
	return &Provider{sdk: tp, tracer: tp.Tracer(Scope)}
}

// Shutdown exports the spans still buffered and stops; call it once
// nothing makes spans any more. It waits at most 5 seconds.
func (p *Provider) Shutdown() error {
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.sdk.Shutdown(ctx)
}

// Tracer is the provider's tracer, nil when off.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tracer
}

// errorLog logs the SDK's errors (failed exports), at most one line a
// minute, as the hub's JSON lines rather than the SDK's plain text.
type errorLog struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (e *errorLog) Handle(err error) {
	e.mu.Lock()
	now := time.Now()
	if now.Sub(e.last) < time.Minute {
		e.suppressed++
		e.mu.Unlock()
		return
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	e.mu.Unlock()
	e.log.Warn("tracing: span export failed", "error", err.Error(), "failures_not_logged", n)
}

type providerKey struct{}

// WithProvider returns ctx carrying p, so that work under it with no span
// yet (a poller, a background loop) starts its own traces. A nil p leaves
// ctx as it is.
func WithProvider(ctx context.Context, p *Provider) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, providerKey{}, p)
}

// Tracer returns the tracer to start spans under ctx with: the provider ctx
// carries, else that of ctx's recording span; nil when tracing is off (no
// allocation then).
func Tracer(ctx context.Context) trace.Tracer {
	if p, _ := ctx.Value(providerKey{}).(*Provider); p != nil {
		return p.tracer
	}
	if s := trace.SpanFromContext(ctx); s.IsRecording() {
		return s.TracerProvider().Tracer(Scope)
	}
	return nil
}

// Start starts a span named name of the given kind: a child of ctx's span,
// or the root of a new trace under a provider ctx carries. With tracing off
// it returns ctx and a span that does nothing, allocating nothing. Set
// attributes on the span when span.IsRecording().
func Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	t := Tracer(ctx)
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.Start(ctx, name, trace.WithSpanKind(kind))
}

// End ends span, marking it failed with err if err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Adopt returns ctx (its deadline and values) with from's span, so that
// spans started under it are children of from's: for work done for a
// message on a context of its own (a batch). Without a recording span in
// from it returns ctx.
func Adopt(ctx, from context.Context) context.Context {
	s := trace.SpanFromContext(from)
	if !s.IsRecording() {
		return ctx
	}
	return trace.ContextWithSpan(ctx, s)
}

// Link is a link to ctx's span, if it has one.
func Link(ctx context.Context) (trace.Link, bool) {
	sc := trace.SpanContextFromContext(ctx)
	return trace.Link{SpanContext: sc}, sc.IsValid()
}

var propagator = propagation.TraceContext{}

// StartFor starts a span of work for one dossier (a call to an external
// system, a settlement), with its source and dossier code; see Start.
func StartFor(ctx context.Context, name string, kind trace.SpanKind, source, dossier string) (context.Context, trace.Span) {
	ctx, span := Start(ctx, name, kind)
	if span.IsRecording() {
		span.SetAttributes(AttrSource.String(source), AttrDossier.String(dossier))
	}
	return ctx, span
}
