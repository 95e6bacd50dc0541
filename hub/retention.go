package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retention defaults: provenance is what operators read to follow a
// dossier, so it is kept for half a year; pruning is a background chore.
const (
	defaultEventRetention = 180 * 24 * time.Hour
	defaultPruneInterval  = time.Hour
	pruneBatch            = 10000
)

// eventPruner is what retention needs of the store.
type eventPruner interface {
	PruneEvents(ctx context.Context, before time.Time, limit int) (int64, error)
}

// pruneEvents deletes provenance events older than keep, now and then every
// interval, until ctx ends. It deletes in batches so no statement holds the
// events table for long under load; the ledger and the quarantine are
// never pruned.
func pruneEvents(ctx context.Context, st eventPruner, keep, every time.Duration, log *slog.Logger) error {
	for {
		if _, err := pruneOnce(ctx, st, time.Now().Add(-keep), log); err != nil && ctx.Err() == nil {
			// A failed pass is retried next time: retention can wait.
			log.Warn("event retention failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// pruneOnce deletes every event older than before, a batch at a time.
func pruneOnce(ctx context.Context, st eventPruner, before time.Time, log *slog.Logger) (int64, error) {
	var total int64
	for {
		n, err := st.PruneEvents(ctx, before, pruneBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune events before %s: %w", before.Format(time.RFC3339), err)
		}
		if n < pruneBatch {
			if total > 0 {
				log.Info("events pruned", "count", total, "before", before.Format(time.RFC3339))
			}
			return total, nil
		}
	}
}
