package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router/batch"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Quarantine keeps records that cannot go on, with their payload and reason,
// for an operator to inspect and replay.
type Quarantine interface {
	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
}

// Provenance appends to each dossier's timeline.
type Provenance interface {
	AppendEvents(ctx context.Context, events []store.Event) error
}

// NormaliserStore is what the normaliser records.
type NormaliserStore interface {
	Quarantine
	Provenance
}

// Normaliser maps raw records to canonical dossiers. A record that cannot be
// mapped is quarantined and acknowledged, so it never holds up the records
// behind it. Its store writes are gathered across concurrent handler calls
// into one round trip per batch.
type Normaliser struct {
	// Resolved, when set, is told of each record that goes no further (it
	// is quarantined), with when it was pulled, for the lag gauge.
	Resolved func(source string, pulled time.Time)

	mapper     Mapper
	counters   *progress.Counters
	log        *slog.Logger
	instance   string
	events     *batch.Gatherer[store.Event]
	quarantine *batch.Gatherer[store.QuarantineEntry]
}

// Mapper maps a raw record of a configured source to its canonical dossier
// (mapping.Mapper); a failure is a *mapping.FieldError.
type Mapper interface {
	Normalize(rec schemas.RawRecord) (*schemas.Dossier, error)
}

// NewNormaliser returns a normaliser mapping with mp and writing to st; call
// Run before Handle.
func NewNormaliser(mp Mapper, st NormaliserStore, counters *progress.Counters, log *slog.Logger, instance string) *Normaliser {
	if log == nil {
		log = slog.Default()
	}
	return &Normaliser{
		mapper: mp, counters: counters, log: log, instance: instance,
		events:     batch.New(st.AppendEvents, 5*time.Millisecond, 1000),
		quarantine: batch.New(st.AddQuarantine, 5*time.Millisecond, 200),
	}
}

// Run writes gathered batches until ctx ends.
func (n *Normaliser) Run(ctx context.Context) {
	go n.quarantine.Run(ctx)
	n.events.Run(ctx)
}

// Handle is a Watermill handler: raw topic in, canonical topic out.
func (n *Normaliser) Handle(msg *message.Message) ([]*message.Message, error) {
	var rec schemas.RawRecord
	if err := json.Unmarshal(msg.Payload, &rec); err != nil {
		// Only our own pollers write raw topics; an unreadable message is a
		// bug to inspect, not a reason to stop the partition.
		return nil, n.addQuarantine(msg.Context(), store.QuarantineEntry{
			Source: msg.Metadata.Get(schemas.MetadataSource), DossierID: msg.Metadata.Get(kafka.PartitionKeyMetadata), Field: "message",
			Reason: fmt.Sprintf("raw message %s is not a raw record: %v", msg.UUID, err),
			Format: schemas.FormatRawMessage, Payload: msg.Payload,
		})
	}
	d, err := n.mapper.Normalize(rec)
	if err != nil {
		field := ""
		var fe *mapping.FieldError
		if errors.As(err, &fe) {
			field = fe.Field
		}
		n.log.WarnContext(msg.Context(), "record quarantined", "source", rec.Source, "dossier", rec.ID, "version", rec.Version, "field", field, "reason", err.Error())
		if span := trace.SpanFromContext(msg.Context()); span.IsRecording() {
			span.SetAttributes(attrOutcome.String("quarantined"), attribute.String("lienthong.field", field))
		}
		if err := n.addQuarantine(msg.Context(), store.QuarantineEntry{
			Source: rec.Source, DossierID: rec.ID, Version: rec.Version, Field: field,
			Reason: err.Error(), Format: rec.Format, Payload: rec.Payload,
		}); err != nil {
			return nil, err
		}
		n.counters.Add(rec.Source, progress.Quarantined, 1)
		if n.Resolved != nil && msg.Metadata.Get(MetadataReplayOf) == "" {
			n.Resolved(rec.Source, rec.Pulled)
		}
		return nil, nil
	}
	out, err := CanonicalMessage(d)
	if err != nil {
		return nil, err
	}
	if !rec.Pulled.IsZero() {
		out.Metadata.Set(MetadataPulled, rec.Pulled.UTC().Format(time.RFC3339Nano))
	}
	if err := n.events.Do(msg.Context(), store.Event{DossierID: d.ID, Source: d.Source, Version: d.SourceVersion,
		Kind: "normalised", Detail: fmt.Sprintf("status %d", d.Status), At: time.Now(), Instance: n.instance}); err != nil {
		return nil, fmt.Errorf("provenance of %s dossier %s: %w", d.Source, d.ID, err)
	}
	if e := msg.Metadata.Get(MetadataReplayOf); e != "" {
		out.Metadata.Set(MetadataReplayOf, e)
	}
	n.counters.Add(rec.Source, progress.Normalised, 1)
	if span := trace.SpanFromContext(msg.Context()); span.IsRecording() {
		span.SetAttributes(attrOutcome.String("normalised"), tracing.AttrVersion.Int64(d.SourceVersion), attrStatus.Int(d.Status))
	}
	return []*message.Message{out}, nil
}

// Span attributes of the router's stages.
const (
	attrOutcome = attribute.Key("lienthong.outcome")
	attrStatus  = attribute.Key("lienthong.status") // the national status code, 1-10
)

// MetadataPulled is the canonical message metadata key that carries when
// the dossier's record was pulled from the source (RFC 3339, nanoseconds),
// set by the normaliser when the raw record has that time. The national sink
// measures the lag from it.
const MetadataPulled = "pulled"

// MetadataReplayOf names the quarantine entry a replayed message comes from
// (dlq.MetadataEntry); the normaliser carries it to the canonical message.
const MetadataReplayOf = "quarantine_entry"

// MetadataResync marks a canonical message the hub published again itself
// (its value says why: "effects"), not one pulled from the source: the
// national sink resolves no pull by it.
const MetadataResync = "resync"

// CanonicalMessage wraps d for the canonical topic, keyed by dossier. It
// sets no MetadataPulled: the caller adds it when it knows the time.
func CanonicalMessage(d *schemas.Dossier) (*message.Message, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode canonical dossier %s: %w", d.ID, err)
	}
	out := message.NewMessage(watermill.NewUUID(), body)
	out.Metadata.Set(kafka.PartitionKeyMetadata, d.ID)
	out.Metadata.Set(schemas.MetadataSource, d.Source)
	out.Metadata.Set(schemas.MetadataStatus, strconv.Itoa(d.Status))
	out.Metadata.Set(schemas.MetadataVersion, strconv.FormatInt(d.SourceVersion, 10))
	return out, nil
}

// addQuarantine keeps a record that cannot go on, and notes it in the
// dossier's timeline. If the store fails, the record is not acknowledged and
// comes back once the store answers.
func (n *Normaliser) addQuarantine(ctx context.Context, e store.QuarantineEntry) error {
	e.At = time.Now()
	e.State = store.QuarantineOpen
	if err := n.quarantine.Do(ctx, e); err != nil {
		return fmt.Errorf("quarantine %s dossier %s: %w", e.Source, e.DossierID, err)
	}
	if e.DossierID == "" {
		return nil
	}
	if err := n.events.Do(ctx, store.Event{DossierID: e.DossierID, Source: e.Source, Version: e.Version,
		Kind: "quarantined", Detail: e.Reason, At: e.At, Instance: n.instance}); err != nil {
		return fmt.Errorf("provenance of %s dossier %s: %w", e.Source, e.DossierID, err)
	}
	return nil
}
