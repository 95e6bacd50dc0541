package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/progress"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Quarantine keeps records that cannot go on, with their payload and reason,
// for an operator to inspect and replay.
type Quarantine interface {
	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
}

// Normaliser maps raw records to canonical dossiers. A record that cannot be
// mapped is quarantined and acknowledged, so it never holds up the records
// behind it.
type Normaliser struct {
	Quarantine Quarantine
	Counters   *progress.Counters
	Logger     *slog.Logger
}

// Handle is a Watermill handler: raw topic in, canonical topic out.
func (n *Normaliser) Handle(msg *message.Message) ([]*message.Message, error) {
	var rec schemas.RawRecord
	if err := json.Unmarshal(msg.Payload, &rec); err != nil {
		// Only our own pollers write raw topics; an unreadable message is a
		// bug to inspect, not a reason to stop the partition.
		return nil, n.quarantine(msg.Context(), store.QuarantineEntry{
			Source: msg.Metadata.Get("source"), DossierID: msg.Metadata.Get(kafka.PartitionKeyMetadata), Field: "message",
			Reason: fmt.Sprintf("raw message %s is not a raw record: %v", msg.UUID, err),
			Format: schemas.FormatJSON, Payload: msg.Payload,
		})
	}
	d, err := mapping.Normalize(rec)
	if err != nil {
		field := ""
		var fe *mapping.FieldError
		if errors.As(err, &fe) {
			field = fe.Field
		}
		n.Counters.Add(rec.Source, progress.Quarantined, 1)
		n.logger().Warn("record quarantined", "source", rec.Source, "dossier", rec.ID, "version", rec.Version, "field", field, "reason", err.Error())
		return nil, n.quarantine(msg.Context(), store.QuarantineEntry{
			Source: rec.Source, DossierID: rec.ID, Version: rec.Version, Field: field,
			Reason: err.Error(), Format: rec.Format, Payload: rec.Payload,
		})
	}
	n.Counters.Add(rec.Source, progress.Normalised, 1)
	out, err := CanonicalMessage(d)
	if err != nil {
		return nil, err
	}
	return []*message.Message{out}, nil
}

// CanonicalMessage wraps d for the canonical topic, keyed by dossier.
func CanonicalMessage(d *schemas.Dossier) (*message.Message, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode canonical dossier %s: %w", d.ID, err)
	}
	out := message.NewMessage(watermill.NewUUID(), body)
	out.Metadata.Set(kafka.PartitionKeyMetadata, d.ID)
	out.Metadata.Set("source", d.Source)
	return out, nil
}

func (n *Normaliser) quarantine(ctx context.Context, e store.QuarantineEntry) error {
	e.At = time.Now()
	e.State = "open"
	if err := n.Quarantine.AddQuarantine(ctx, []store.QuarantineEntry{e}); err != nil {
		// Not acknowledged: the record is redelivered once the store answers.
		return fmt.Errorf("quarantine %s dossier %s: %w", e.Source, e.DossierID, err)
	}
	return nil
}

func (n *Normaliser) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.Default()
	}
	return n.Logger
}
