package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys of the span a line was logged under.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps a slog.Handler: a record logged with a context that
// holds a sampled span (logger.InfoContext(ctx, …)) gets trace_id and
// span_id, so a log line leads to its trace and back. A trace not sampled
// is never exported: its ids would lead nowhere.
type LogHandler struct{ slog.Handler }

// Logger returns l logging through a LogHandler (l itself if it already
// does).
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(LogHandler); ok {
		return l
	}
	return slog.New(LogHandler{l.Handler()})
}

// Handle adds the span's ids to r and hands it on.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper on the derived handler.
func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper on the derived handler.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}
