package store

import (
	"context"
	"time"
)

// Leaser is the lease part of a store.
type Leaser interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Lead runs fn while holder holds lease name, so that of all instances
// calling Lead with the same name one at a time runs fn (a poller per
// source, say). It tries for the lease every ttl/3, and renews it as often
// while fn runs. When the lease is lost — another holder took it, or renewal
// has failed for so long that the lease may expire — fn's context is
// cancelled, Lead waits for fn to return and goes back to trying. fn must
// stop promptly when its context is done.
//
// Lead returns fn's result when fn returns on its own, or ctx.Err() when ctx
// is done; either way it releases the lease, so another instance can take
// over at once. An instance that dies without releasing is replaced at most
// ttl (plus one try interval) later.
func Lead(ctx context.Context, l Leaser, name, holder string, ttl time.Duration, fn func(ctx context.Context) error) error {
	every := ttl / 3
	for {
		// Wait for the lease.
		var validUntil time.Time
		for {
			start := time.Now()
			ok, err := l.AcquireLease(ctx, name, holder, ttl)
			if err == nil && ok {
				validUntil = start.Add(ttl)
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(every):
			}
		}

		lost, err := lead(ctx, l, name, holder, ttl, every, validUntil, fn)
		if !lost {
			return err
		}
	}
}

// lead runs fn under a held lease until fn returns, ctx is done (lost is
// false: the lease is released) or the lease is lost (lost is true).
func lead(ctx context.Context, l Leaser, name, holder string, ttl, every time.Duration, validUntil time.Time,
	fn func(ctx context.Context) error) (lost bool, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(runCtx) }()

	release := func() {
		// The caller's ctx may be done; releasing must still be tried.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		_ = l.ReleaseLease(rctx, name, holder)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			release()
			return false, err
		case <-ctx.Done():
			cancel()
			<-done
			release()
			return false, ctx.Err()
		case <-tick.C:
			start := time.Now()
			ok, err := l.RenewLease(ctx, name, holder, ttl)
			switch {
			case err == nil && ok:
				validUntil = start.Add(ttl)
				continue
			case err == nil && !ok:
				// Taken over: stop at once.
			case time.Until(validUntil) > every:
				continue // transient failure; the lease is still ours for a while
			}
			if ctx.Err() != nil {
				continue // shutting down: handled by the ctx.Done case
			}
			cancel()
			<-done
			return true, nil
		}
	}
}
