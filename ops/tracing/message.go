package tracing

import (
	"context"
	"net/http"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
)

// The W3C trace context's metadata keys (Kafka headers).
const (
	MetadataTraceParent = "traceparent"
	MetadataTraceState  = "tracestate"
)

// Carrier reads and writes the trace context in a message's metadata,
// which the Kafka publisher and subscriber carry as record headers. Sealing
// leaves headers readable: they hold only the trace and span ids and the
// sampling flag.
type Carrier message.Metadata

// Get returns the value of key.
func (c Carrier) Get(key string) string { return c[key] }

// Set sets key to value.
func (c Carrier) Set(key, value string) { c[key] = value }

// Keys lists the keys the carrier holds.
func (c Carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// Inject writes ctx's span context into md, replacing any there, so that
// whoever handles the message continues the trace. Without a span in ctx
// it leaves md as it is, allocating nothing.
func Inject(ctx context.Context, md message.Metadata) {
	if md == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	delete(md, MetadataTraceState)
	propagator.Inject(ctx, Carrier(md))
}

// InjectAll writes ctx's span context into every message of msgs (the
// context is encoded once).
func InjectAll(ctx context.Context, msgs []*message.Message) {
	if len(msgs) == 0 || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h := Carrier{}
	propagator.Inject(ctx, h)
	for _, m := range msgs {
		if m.Metadata == nil {
			m.Metadata = message.Metadata{}
		}
		delete(m.Metadata, MetadataTraceState)
		for k, v := range h {
			m.Metadata[k] = v
		}
	}
}

// Extract returns ctx with the remote span context md carries, if any.
func Extract(ctx context.Context, md message.Metadata) context.Context {
	if md[MetadataTraceParent] == "" {
		return ctx
	}
	return propagator.Extract(ctx, Carrier(md))
}

// Middleware is a Watermill router middleware: each message is handled in
// a span named after its handler (a consumer span), the child of the span
// context its metadata carries or the root of a new trace, and the handler
// gets it through msg.Context(). The messages the handler returns carry
// the span on (the next stage's spans are its children). Add it before the
// other middleware, so the span covers them (retries, the opening of sealed
// payloads) and records a recovered panic as the handler's error. With p
// nil it returns next: no cost per message.
func (p *Provider) Middleware(next message.HandlerFunc) message.HandlerFunc {
	if p == nil {
		return next
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := Extract(msg.Context(), msg.Metadata)
		name := message.HandlerNameFromCtx(ctx)
		if name == "" {
			name = "handle"
		}
		ctx, span := p.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(messageAttributes(ctx, name, msg)...))
		msg.SetContext(ctx)
		out, err := next(msg)
		InjectAll(ctx, out)
		End(span, err)
		return out, err
	}
}

// messageAttributes describe a consumed message: where it came from, its
// dossier and version; never its payload.
func messageAttributes(ctx context.Context, handler string, msg *message.Message) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs, semconv.MessagingSystemKafka, semconv.MessagingOperationTypeProcess,
		semconv.MessagingMessageID(msg.UUID), AttrHandler.String(handler))
	if info, ok := kafka.MessageInfoFromCtx(ctx); ok {
		attrs = append(attrs, semconv.MessagingDestinationName(info.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(info.Partition)), semconv.MessagingKafkaOffset(int(info.Offset)))
	} else if topic := message.SubscribeTopicFromCtx(ctx); topic != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(topic))
	}
	if v := msg.Metadata.Get(schemas.MetadataSource); v != "" {
		attrs = append(attrs, AttrSource.String(v))
	}
	if v := msg.Metadata.Get(kafka.PartitionKeyMetadata); v != "" {
		attrs = append(attrs, AttrDossier.String(v))
	}
	if v, err := strconv.ParseInt(msg.Metadata.Get(schemas.MetadataVersion), 10, 64); err == nil {
		attrs = append(attrs, AttrVersion.Int64(v))
	}
	return attrs
}

// Handler returns h with p in each request's context, so that what a
// request sets off (a payment notification's settlement and writeback)
// is traced. With p nil it returns h.
func (p *Provider) Handler(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithProvider(r.Context(), p)))
	})
}
