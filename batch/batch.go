// Package batch gathers items from concurrent callers into batches, so that
// handlers that each hold one message can share one round trip to a store or
// a remote system.
package batch

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrStopped is returned to callers whose item was not flushed because the
// gatherer stopped.
var ErrStopped = errors.New("batch: gatherer stopped")

// Gatherer hands items to Flush in batches of at most Max, waiting up to
// Linger after the first item of a batch for more. By default one batch is
// flushed at a time, in arrival order; with SetConcurrency(n) up to n
// batches are flushed at once (the next one gathers while others flush).
// Every caller waits for its batch's result.
type Gatherer[T any] struct {
	flush  func(ctx context.Context, items []T) error
	linger time.Duration
	max    int
	slots  chan struct{} // one per batch that may flush at once
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
	return &Gatherer[T]{flush: flush, linger: linger, max: max, slots: make(chan struct{}, 1), in: make(chan request[T])}
}

// SetConcurrency lets up to n batches flush at once (n < 1 is 1). Only for
// callers whose concurrent batches never hold items that must be flushed
// in order. Call it before Run.
func (g *Gatherer[T]) SetConcurrency(n int) {
	g.slots = make(chan struct{}, max(n, 1))
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

// Run flushes batches until ctx ends, then waits for those still flushing.
func (g *Gatherer[T]) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// A batch starts gathering once it has a slot to flush in, so no
		// more batches wait than may flush.
		select {
		case <-ctx.Done():
			return
		case g.slots <- struct{}{}:
		}
		var batch []request[T]
		select {
		case <-ctx.Done():
			<-g.slots
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-g.slots }()
			err := g.flush(ctx, items)
			if err == nil && ctx.Err() != nil {
				err = nil // flushed before the stop: the callers' work is done
			}
			for _, r := range batch {
				r.done <- err
			}
		}()
	}
}
