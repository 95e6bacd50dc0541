package hub

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lienthong/lienthong/ops/tracing"
)

// TracingConfig exports OpenTelemetry traces over OTLP/HTTP. Without an
// endpoint (the default) the hub makes no spans and exports nothing.
type TracingConfig struct {
	// OTLPEndpoint is the collector's OTLP/HTTP base URL, e.g.
	// "http://collector:4318" (spans go to its /v1/traces), or host:port
	// (HTTPS unless insecure).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of traces recorded, 0 to 1 (default 1: all).
	// A trace started on one instance is recorded or not on all of them.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName is the spans' service.name (default "lienthong-hub");
	// service.instance.id is the hub's instance name.
	ServiceName string `yaml:"service_name"`
	// Insecure sends to a host:port endpoint over plain HTTP; a URL's
	// scheme says so itself.
	Insecure bool `yaml:"insecure"`
	// Headers go with every export (an API key: use ${VAR}).
	Headers map[string]string `yaml:"headers"`
}

// Enabled reports whether the hub traces.
func (c TracingConfig) Enabled() bool { return c.OTLPEndpoint != "" }

// Validate reports what is wrong with the section.
func (c TracingConfig) Validate() error {
	if err := c.settings("", nil).Validate(); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	return nil
}

func (c TracingConfig) settings(instance string, log *slog.Logger) tracing.Config {
	ratio := 1.0
	if c.SampleRatio != nil {
		ratio = *c.SampleRatio
	}
	return tracing.Config{Endpoint: c.OTLPEndpoint, Insecure: c.Insecure, Headers: c.Headers, SampleRatio: ratio,
		ServiceName: c.ServiceName, Instance: instance, Log: log}
}

// startTracing sets up the span exporter (nil when tracing is off); close
// flushes it.
func (h *Hub) startTracing(p *parts) (err error) {
	p.tracer, err = tracing.New(h.cfg.Tracing.settings(h.cfg.Instance, h.log))
	if err == nil && p.tracer != nil {
		h.log.Info("tracing: exporting spans", "endpoint", h.cfg.Tracing.OTLPEndpoint)
	}
	return err
}

// tracedLogger adds trace_id and span_id to the lines logged under a span,
// when the hub traces.
func tracedLogger(cfg Config, log *slog.Logger) *slog.Logger {
	if !cfg.Tracing.Enabled() {
		return log
	}
	return tracing.Logger(log)
}

// traced returns ctx carrying the span provider, for the pollers and the
// background loops to start traces under.
func (p *parts) traced(ctx context.Context) context.Context {
	return tracing.WithProvider(ctx, p.tracer)
}
