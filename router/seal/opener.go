package seal

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Store keeps the messages that cannot be opened.
type Store interface {
	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
	AppendEvents(ctx context.Context, events []store.Event) error
}

// Opener is a router middleware that opens sealed payloads before the
// handler runs. A message that cannot be opened (sealed under a key that is
// not configured, altered, truncated) never holds up the messages behind
// it: it is acknowledged without reaching the handler, after the handler
// that owns its topic quarantined it.
type Opener struct {
	Keys Keys
	// Store keeps what cannot be opened, with the payload as it came.
	Store Store
	// QuarantineBy names the handlers that quarantine the messages they
	// cannot open, each with the Format its entries get (the one a replay
	// puts back on that handler's topic). Take one per topic: a topic read
	// by several consumer groups then has each such message quarantined
	// once. The other handlers log it and skip it.
	QuarantineBy map[string]string
	// Quarantined, when set, is told of each message quarantined, by
	// source.
	Quarantined func(source string)
	// Instance names this hub in the dossier's timeline.
	Instance string
	Log      *slog.Logger
}

// Middleware is the message.HandlerMiddleware. Add it to the router before
// any middleware that reads payloads (the Duplicator included), so each
// delivery is opened once.
func (o *Opener) Middleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if !IsSealed(msg.Payload) {
			return next(msg)
		}
		plain, err := Open(o.Keys, msg)
		if err != nil {
			return nil, o.unopenable(msg, err)
		}
		// This delivery's message only: a redelivery is a fresh copy that
		// still holds the sealed bytes, which OpenCopy left as they were.
		msg.Payload = plain
		return next(msg)
	}
}

// unopenable quarantines msg, or skips it when another handler of its
// topic does. If the store fails, the message is not acknowledged and
// comes back once the store answers.
func (o *Opener) unopenable(msg *message.Message, cause error) error {
	ctx := msg.Context()
	handler := message.HandlerNameFromCtx(ctx)
	info, ok := kafka.MessageInfoFromCtx(ctx)
	if !ok {
		info.Topic = message.SubscribeTopicFromCtx(ctx)
	}
	source := msg.Metadata.Get(schemas.MetadataSource)
	dossier := msg.Metadata.Get(kafka.PartitionKeyMetadata)
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	attrs := []any{"handler", handler, "topic", info.Topic, "partition", info.Partition, "offset", info.Offset,
		"uuid", msg.UUID, "source", source, "dossier", dossier, "error", cause.Error()}
	format, keep := o.QuarantineBy[handler]
	if !keep || o.Store == nil {
		log.Warn("sealed message cannot be opened; skipped (the topic's quarantining handler keeps it)", attrs...)
		return nil
	}
	reason := fmt.Sprintf("message %s on %s (partition %d, offset %d) cannot be opened: sealed under a key that is neither store.encryption_key nor in store.old_encryption_keys, or altered: %v",
		msg.UUID, info.Topic, info.Partition, info.Offset, cause)
	now := time.Now()
	err := o.Store.AddQuarantine(ctx, []store.QuarantineEntry{{
		Source: source, DossierID: dossier, Field: "message", Reason: reason,
		Format: format, Payload: msg.Payload, At: now, State: store.QuarantineOpen,
	}})
	if err != nil {
		return fmt.Errorf("quarantine unopenable message %s on %s: %w", msg.UUID, info.Topic, err)
	}
	log.Warn("sealed message cannot be opened; quarantined", attrs...)
	if o.Quarantined != nil {
		o.Quarantined(source)
	}
	if dossier == "" {
		return nil
	}
	err = o.Store.AppendEvents(ctx, []store.Event{{DossierID: dossier, Source: source, Kind: "quarantined",
		Detail: reason, At: now, Instance: o.Instance}})
	if err != nil {
		return fmt.Errorf("provenance of %s dossier %s: %w", source, dossier, err)
	}
	return nil
}
