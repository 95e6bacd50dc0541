// Package batch gathers items from concurrent callers into batches, so that
// handlers that each hold one message can share one round trip to a store or
// a remote system.
package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	flush     CarryingFlush[T]
	linger    time.Duration
	lingerMax time.Duration // 0: Linger counts from the batch's first item
	max       int
	slots     chan struct{} // one per batch that may flush at once
	in        chan request[T]

	queued  atomic.Int64 // callers in Do whose item no batch has taken yet
	mu      sync.Mutex
	carried []request[T]  // handed back by a flush, for the next batch
	carry   chan struct{} // signalled when carried gains items

	key    func(T) string           // nil: items are not keyed
	inside map[string]chan struct{} // keys of items not yet finished; closed when finished
}

// CarryingFlush flushes items. It may hand back some items, by index, for
// the next batch instead of flushing them: their callers keep waiting, and
// items handed back come first in the next batch. waiting tells how many
// items are waiting for a later batch right now (queued and handed back).
type CarryingFlush[T any] func(ctx context.Context, items []T, waiting func() int) (carry []int, err error)

type request[T any] struct {
	ctx  context.Context // the caller's: once it ends, a batch not yet flushing drops the item
	item T
	key  string
	done chan error
}

// New returns a gatherer; call Run before Do.
func New[T any](flush func(ctx context.Context, items []T) error, linger time.Duration, max int) *Gatherer[T] {
	return NewCarrying(func(ctx context.Context, items []T, _ func() int) ([]int, error) { return nil, flush(ctx, items) }, linger, max)
}

// NewCarrying returns a gatherer whose flush may hand items back for the
// next batch (to fill a remote call rather than send a part of one); call
// Run before Do.
func NewCarrying[T any](flush CarryingFlush[T], linger time.Duration, max int) *Gatherer[T] {
	if max <= 0 {
		max = 500
	}
	return &Gatherer[T]{flush: flush, linger: linger, max: max, slots: make(chan struct{}, 1), in: make(chan request[T]),
		carry: make(chan struct{}, 1)}
}

// waiting is how many items wait for a later batch.
func (g *Gatherer[T]) waiting() int {
	g.mu.Lock()
	n := len(g.carried)
	g.mu.Unlock()
	return n + int(g.queued.Load())
}

// takeCarried returns the items handed back so far and forgets them.
func (g *Gatherer[T]) takeCarried() []request[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.carried
	g.carried = nil
	return out
}

func (g *Gatherer[T]) putCarried(rs []request[T]) {
	g.mu.Lock()
	g.carried = append(g.carried, rs...)
	g.mu.Unlock()
	select {
	case g.carry <- struct{}{}:
	default:
	}
}

// SetLingerMax makes Linger a gap: a batch closes once no item came for
// Linger, or at the latest max after its first item (or when full). For
// batches that should fill while items keep coming (a backlog) without
// holding a lone item longer than Linger. Call it before Run.
func (g *Gatherer[T]) SetLingerMax(max time.Duration) { g.lingerMax = max }

// SetConcurrency lets up to n batches flush at once (n < 1 is 1). Only for
// callers whose concurrent batches never hold items that must be flushed
// in order. Call it before Run.
func (g *Gatherer[T]) SetConcurrency(n int) {
	g.slots = make(chan struct{}, max(n, 1))
}

// SetKey keys items: at most one item per key is in the gatherer at a
// time, and Do for a key already in it waits until that item is finished.
// So when a caller gives up on an item (its ctx ended) that a flush still
// holds, a second item of the key (a redelivery) is never flushed
// alongside it or before it. Call it before Run.
func (g *Gatherer[T]) SetKey(key func(T) string) {
	g.key = key
	g.inside = map[string]chan struct{}{}
}

// enter waits until no item of key is in the gatherer and claims key.
func (g *Gatherer[T]) enter(ctx context.Context, key string) error {
	for {
		g.mu.Lock()
		busy, ok := g.inside[key]
		if !ok {
			g.inside[key] = make(chan struct{})
			g.mu.Unlock()
			return nil
		}
		g.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave releases r's key.
func (g *Gatherer[T]) leave(r request[T]) {
	if g.key == nil {
		return
	}
	g.mu.Lock()
	if c, ok := g.inside[r.key]; ok {
		delete(g.inside, r.key)
		close(c)
	}
	g.mu.Unlock()
}

// finish hands r its result and releases its key.
func (g *Gatherer[T]) finish(r request[T], err error) {
	r.done <- err
	g.leave(r)
}

// Do adds item to the next batch and returns that batch's result. If ctx
// ends first it returns ctx's error: the item is then flushed only if a
// flush had already taken it (a batch still gathering, or one it was
// handed back to, drops it).
func (g *Gatherer[T]) Do(ctx context.Context, item T) error {
	r := request[T]{ctx: ctx, item: item, done: make(chan error, 1)}
	if g.key != nil {
		r.key = g.key(item)
		if err := g.enter(ctx, r.key); err != nil {
			return err
		}
	}
	g.queued.Add(1)
	select {
	case g.in <- r:
	case <-ctx.Done():
		g.queued.Add(-1)
		g.leave(r)
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// live drops, finishing them, the requests whose caller gave up.
func (g *Gatherer[T]) live(rs []request[T]) []request[T] {
	out := rs[:0]
	for _, r := range rs {
		if err := r.ctx.Err(); err != nil {
			g.finish(r, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Run flushes batches until ctx ends, then waits for those still flushing.
func (g *Gatherer[T]) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		for _, r := range g.takeCarried() {
			g.finish(r, ErrStopped)
		}
	}()
	for {
		// A batch starts gathering once it has a slot to flush in, so no
		// more batches wait than may flush.
		select {
		case <-ctx.Done():
			return
		case g.slots <- struct{}{}:
		}
		// Items handed back come on top of Max new ones: a batch must have
		// room for new items to fill a call with them.
		batch := g.live(g.takeCarried())
		limit := len(batch) + g.max
		for len(batch) == 0 {
			select {
			case <-ctx.Done():
				<-g.slots
				return
			case r := <-g.in:
				g.queued.Add(-1)
				batch = append(batch, r)
			case <-g.carry:
				batch = g.live(g.takeCarried())
				limit = len(batch) + g.max
			}
		}
		timer := time.NewTimer(g.linger)
		var (
			last     *time.Timer      // with lingerMax: the batch's last moment
			deadline <-chan time.Time // last's channel; nil waits forever
		)
		if g.lingerMax > 0 {
			last = time.NewTimer(g.lingerMax)
			deadline = last.C
		}
	gather:
		for len(batch) < limit {
			select {
			case r := <-g.in:
				g.queued.Add(-1)
				batch = append(batch, r)
				if deadline != nil {
					timer.Reset(g.linger) // items still coming: keep gathering
				}
			case <-timer.C:
				break gather
			case <-deadline:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		if last != nil {
			last.Stop()
		}
		if batch = g.live(batch); len(batch) == 0 {
			<-g.slots
			continue
		}
		items := make([]T, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-g.slots }()
			carry, err := g.flush(ctx, items, g.waiting)
			if err == nil && ctx.Err() != nil {
				err = nil // flushed before the stop: the callers' work is done
			}
			back := map[int]bool{}
			if err == nil {
				for _, i := range carry {
					back[i] = true
				}
			}
			var again []request[T]
			for i, r := range batch {
				if back[i] {
					again = append(again, r)
					continue
				}
				g.finish(r, err)
			}
			if len(again) > 0 {
				g.putCarried(again)
			}
		}()
	}
}
