package auth

import (
	"context"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// AuditStore is what Audit needs of the hub's store (store/sqlstore).
type AuditStore interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// Actions written to the audit log.
const (
	ActionReplay      = "quarantine.replay"
	ActionReplayAll   = "quarantine.replay_all"
	ActionDiscard     = "quarantine.discard"
	ActionResync      = "reconcile.resync"
	ActionResyncAll   = "reconcile.resync_all"
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
)

// Outcomes of an audited action.
const (
	OutcomeOK      = "ok"      // done
	OutcomeRefused = "refused" // not allowed: role, province, or state of the target
	OutcomeFailed  = "failed"  // allowed, and failed
)

// Audit records that p asked for action on target, with its outcome. The
// entry is stored in clear: detail (and target) must not hold personal
// data — name fields and IDs, never their values.
func Audit(ctx context.Context, st AuditStore, p Principal, action, target, detail, outcome string) error {
	if _, err := st.AppendAudit(ctx, store.AuditEntry{
		TokenID:  p.TokenID,
		Role:     p.Role,
		Province: p.Province,
		Action:   action,
		Target:   target,
		Detail:   detail,
		Outcome:  outcome,
	}); err != nil {
		return fmt.Errorf("audit %s %s: %w", action, target, err)
	}
	return nil
}
