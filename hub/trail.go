package hub

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/lienthong/lienthong/store/trail"
)

// trailSignInterval is how often the leader signs the audit trail's head.
const trailSignInterval = time.Minute

// trailSigner is a store whose audit trail's head can be signed.
type trailSigner interface {
	SignTrailHead(ctx context.Context, key ed25519.PrivateKey) (trail.Head, error)
}

// signTrail signs the audit chain's head now and then every interval, when
// it has moved (docs/audit-trail.md).
func signTrail(ctx context.Context, st trailSigner, key ed25519.PrivateKey, every time.Duration, log *slog.Logger) error {
	for {
		if h, err := st.SignTrailHead(ctx, key); err != nil && ctx.Err() == nil {
			// Retried next time: a head signed a minute later covers the same.
			log.Warn("signing the audit trail's head failed", "error", err.Error())
		} else if h.ID != 0 {
			log.Debug("audit trail head signed", "head", h.ID, "audit_id", h.AuditID)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// trailLoop is the signing loop, when a signing key is configured and the
// store keeps a trail.
func (h *Hub) trailLoop() func(ctx context.Context) error {
	keys, err := h.cfg.Store.Keys()
	st, ok := h.store.(trailSigner)
	key := keys.SigningKey()
	if err != nil || key == nil || !ok {
		return nil
	}
	return func(ctx context.Context) error { return signTrail(ctx, st, key, trailSignInterval, h.log) }
}
