// Package once runs an outbound effect at most once per idempotency key, as
// far as the hub can tell: the key is claimed in the store before the
// effect and confirmed after it.
package once

import (
	"context"
	"fmt"
)

// Keys is the store's idempotency table.
type Keys interface {
	ClaimIdempotency(ctx context.Context, key, effect string) (already bool, result []byte, err error)
	ConfirmIdempotency(ctx context.Context, key string, result []byte) error
	ReleaseIdempotency(ctx context.Context, key string) error
}

// Do runs fn unless key was confirmed before, and confirms it with fn's
// result. done reports that an earlier call had already confirmed it (fn
// did not run); result is then the earlier result.
//
// A claim found unconfirmed means an earlier attempt died between the effect
// and its confirmation: fn runs again. Every target the hub calls
// deduplicates by the same key (payment MaThamChieu, VNPost orderNumber,
// province reference, SMS requestId), except SMTP, where a crash in that
// window can send one email twice; losing it was judged worse.
//
// When fn fails the claim is released, so a retry runs it again.
func Do(ctx context.Context, keys Keys, key, effect string, fn func(ctx context.Context) ([]byte, error)) (result []byte, done bool, err error) {
	already, result, err := keys.ClaimIdempotency(ctx, key, effect)
	if err != nil {
		return nil, false, err
	}
	if already && result != nil {
		return result, true, nil
	}
	result, err = fn(ctx)
	if err != nil {
		// Background: the claim must go even when ctx ended mid-effect.
		if rerr := keys.ReleaseIdempotency(context.WithoutCancel(ctx), key); rerr != nil {
			return nil, false, fmt.Errorf("%w (and releasing key %s: %v)", err, key, rerr)
		}
		return nil, false, err
	}
	if result == nil {
		result = []byte{}
	}
	if err := keys.ConfirmIdempotency(context.WithoutCancel(ctx), key, result); err != nil {
		return nil, false, fmt.Errorf("confirm %s: %w", key, err)
	}
	return result, false, nil
}
