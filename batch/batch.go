// Package batch gathers items from concurrent callers into batches, so that
// handlers that each hold one message can share one round trip to a store or
// a remote system.
package batch

import (
	"context"
	"errors"
	"time"
)

// ErrStopped is returned to callers whose item was not flushed because the
// gatherer stopped.
var ErrStopped = errors.New("batch: gatherer stopped")

// Gatherer hands items to Flush in batches of at most Max, waiting up to
// Linger after the first item of a batch for more. One batch is flushed at a
// time, in arrival order, and every caller waits for its batch's result.
type Gatherer[T any] struct {
	flush  func(ctx context.Context, items []T) error
	linger time.Duration
	max    int
	in     chan request[T]
}

type request[T any] struct {
	item T
	done chan error
}

// New returns a gatherer; call Run before Do.
func New[T any](flush func(ctx context.Context, items []T) error, linger time.Duration, max int) *Gatherer[T] {
	if max <= 0 {
		max = 500
	}
	return &Gatherer[T]{flush: flush, linger: linger, max: max, in: make(chan request[T])}
}

// Do adds item to the next batch and returns that batch's result. If ctx
// ends first it returns ctx's error; the item may still be flushed.
func (g *Gatherer[T]) Do(ctx context.Context, item T) error {
	r := request[T]{item: item, done: make(chan error, 1)}
	select {
	case g.in <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run flushes batches until ctx ends.
func (g *Gatherer[T]) Run(ctx context.Context) {
	for {
		var batch []request[T]
		select {
		case <-ctx.Done():
			return
		case r := <-g.in:
			batch = append(batch, r)
		}
		timer := time.NewTimer(g.linger)
	gather:
		for len(batch) < g.max {
			select {
			case r := <-g.in:
				batch = append(batch, r)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		items := make([]T, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		err := g.flush(ctx, items)
		if err == nil && ctx.Err() != nil {
			err = nil // flushed before the stop: the callers' work is done
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}
