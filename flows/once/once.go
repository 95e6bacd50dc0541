// Package once runs an outbound effect at most once per idempotency key, as
// far as the hub can tell: the key is claimed in the store before the
// effect and confirmed after it.
package once

import (
	"context"
	"errors"
	"fmt"

	"github.com/lienthong/lienthong/store"
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
// province reference, SMS requestId), except SMTP: there DoTracked narrows
// the window in which a crash sends one email twice to the relay's reply to
// the message; losing it was judged worse.
//
// When fn fails the claim is released, so a retry runs it again.
func Do(ctx context.Context, keys Keys, key, effect string, fn func(ctx context.Context) ([]byte, error)) (result []byte, done bool, err error) {
	return DoTracked(ctx, keys, key, effect, func(ctx context.Context, _ *Progress) ([]byte, error) { return fn(ctx) })
}

// Progress is what an effect run by DoTracked records of itself, for a
// target that keeps no idempotency key (SMTP): the moment past which it may
// have happened (Committing), and the moment it is known to have (Done).
// Between the two, and only there, a crash leaves the hub not knowing.
type Progress struct {
	keys      Keys
	key       string
	effect    string
	marked    bool // Committing claimed the marker
	inherited bool // …which an earlier attempt had left
	uncertain bool // the effect failed not knowing whether it happened
	confirmed bool
	result    []byte
}

// MarkerKey is the idempotency key Committing claims for key: it exists
// while an attempt is past the point of no return and unconfirmed, and
// survives only a crash there.
func MarkerKey(key string) string { return key + "#committing" }

// Committing records, just before the step after which the effect may have
// happened (for SMTP: DATA), that this attempt got there. again reports
// that an earlier attempt got there too and never finished: it may have
// happened already, and running it now may repeat it.
func (p *Progress) Committing(ctx context.Context) (again bool, err error) {
	already, _, err := p.keys.ClaimIdempotency(ctx, MarkerKey(p.key), p.effect+" committing")
	if err != nil {
		return false, fmt.Errorf("record %s committing: %w", p.key, err)
	}
	p.marked, p.inherited = true, already
	return already, nil
}

// Uncertain records that the effect is failing without knowing whether it
// happened (for SMTP: the message sent and no reply read). The marker then
// stays, as after a crash, so that the attempt that succeeds knows it may
// repeat it.
func (p *Progress) Uncertain() { p.uncertain = true }

// Done confirms the key at once, as soon as the effect is known to have
// happened, instead of when the effect's call returns. A failure is
// returned, and DoTracked confirms again when the call returns.
func (p *Progress) Done(ctx context.Context, result []byte) error {
	if result == nil {
		result = []byte{}
	}
	ctx = context.WithoutCancel(ctx)
	err := p.keys.ConfirmIdempotency(ctx, p.key, result)
	if errors.Is(err, store.ErrNotFound) {
		// An overlapping attempt failed and released the claim while this
		// one was inside the effect, which happened: claim it again to
		// record that, unless another attempt has confirmed it meanwhile.
		already, earlier, cerr := p.keys.ClaimIdempotency(ctx, p.key, p.effect)
		switch {
		case cerr != nil:
			err = cerr
		case already && earlier != nil:
			p.confirmed, p.result = true, earlier
			return nil
		default:
			err = p.keys.ConfirmIdempotency(ctx, p.key, result)
		}
	}
	if err != nil {
		return fmt.Errorf("confirm %s: %w", p.key, err)
	}
	p.confirmed, p.result = true, result
	return nil
}

// DoTracked is Do for an effect that records its own progress (Progress).
// Once the effect called Done it counts as done, whatever it returns
// afterwards (for SMTP, a QUIT that fails after the message was taken).
// When it fails before, the claim and its own marker are released: like
// Do, DoTracked takes a failed effect for one that did not happen.
func DoTracked(ctx context.Context, keys Keys, key, effect string, fn func(ctx context.Context, p *Progress) ([]byte, error)) (result []byte, done bool, err error) {
	already, result, err := keys.ClaimIdempotency(ctx, key, effect)
	if err != nil {
		return nil, false, err
	}
	if already && result != nil {
		return result, true, nil
	}
	p := &Progress{keys: keys, key: key, effect: effect}
	result, err = fn(ctx, p)
	// Background from here: the bookkeeping must happen even when ctx
	// ended mid-effect.
	bg := context.WithoutCancel(ctx)
	if p.confirmed {
		_ = p.unmark(bg) // a marker left over beside a confirmed key is never read
		return p.result, false, nil
	}
	if err != nil {
		rerr := keys.ReleaseIdempotency(bg, key)
		// A marker an earlier attempt left stays: that attempt's fate is
		// still unknown, and whichever attempt succeeds must know it; so
		// does this one's when its own fate is.
		if !p.inherited && !p.uncertain {
			if merr := p.unmark(bg); merr != nil {
				rerr = errors.Join(rerr, merr)
			}
		}
		if rerr != nil {
			return nil, false, fmt.Errorf("%w (and releasing key %s: %v)", err, key, rerr)
		}
		return nil, false, err
	}
	if err := p.Done(bg, result); err != nil {
		return nil, false, err
	}
	_ = p.unmark(bg)
	return p.result, false, nil
}

// unmark drops the marker once the attempt has finished either way: only
// a crash in between leaves it for the next attempt to find. (Released
// after a confirmation, it is only tidying: a confirmed key is never run
// again, so its marker is never read.)
func (p *Progress) unmark(ctx context.Context) error {
	if !p.marked {
		return nil
	}
	if err := p.keys.ReleaseIdempotency(ctx, MarkerKey(p.key)); err != nil {
		return fmt.Errorf("release %s: %w", MarkerKey(p.key), err)
	}
	return nil
}
