package hub

import (
	"context"
	"log/slog"
	"time"

	"github.com/lienthong/lienthong/store/trail"
)

// trailSignInterval is how often the leader signs the trail's head.
const trailSignInterval = time.Minute

// trailSigner is a store whose trail's head can be signed.
type trailSigner interface {
	SignTrailHead(ctx context.Context, sg trail.Signer) (trail.Head, error)
}

// signTrail signs the trail's head (the audit chain's and every event
// chain's) now and then every interval, when it has moved
// (docs/audit-trail.md).
func signTrail(ctx context.Context, st trailSigner, sg trail.Signer, every time.Duration, log *slog.Logger) error {
	for {
		if h, err := st.SignTrailHead(ctx, sg); err != nil && ctx.Err() == nil {
			// Retried next time: a head signed a minute later covers the
			// same. A kept state that does not verify fails every time,
			// until an operator has looked (hub audit verify).
			log.Warn("signing the trail's head failed", "error", err.Error())
		} else if h.ID != 0 {
			log.Debug("trail head signed", "head", h.ID, "audit_id", h.AuditID, "events_through", h.EventsThrough,
				"chains", h.Chains)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// trailLoop is the signing loop, when a signing key is configured and the
// store keeps a trail. Heads record the event retention, which may prune
// a chain's signed event once it is older.
func (h *Hub) trailLoop() func(ctx context.Context) error {
	keys, err := h.cfg.Store.Keys()
	st, ok := h.store.(trailSigner)
	key := keys.SigningKey()
	if err != nil || key == nil || !ok {
		return nil
	}
	sg := trail.Signer{Key: key, Previous: keys.PreviousTrailKeys()}
	if h.cfg.Retention.Events >= 0 {
		sg.Retention = durationOr(h.cfg.Retention.Events, defaultEventRetention)
	}
	return func(ctx context.Context) error { return signTrail(ctx, st, sg, trailSignInterval, h.log) }
}
