package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestGathersConcurrentCallersIntoBatches(t *testing.T) {
	var calls, items atomic.Int64
	var maxSeen atomic.Int64
	g := New(func(ctx context.Context, batch []int) error {
		calls.Add(1)
		items.Add(int64(len(batch)))
		if n := int64(len(batch)); n > maxSeen.Load() {
			maxSeen.Store(n)
		}
		return nil
	}, 20*time.Millisecond, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)

	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Do(ctx, i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if items.Load() != 50 {
		t.Fatalf("flushed %d items, want 50", items.Load())
	}
	if maxSeen.Load() > 10 {
		t.Fatalf("a batch held %d items, more than Max 10", maxSeen.Load())
	}
	if calls.Load() >= 50 {
		t.Fatalf("%d flushes for 50 concurrent items: nothing was gathered", calls.Load())
	}
}

func TestEveryCallerGetsItsBatchError(t *testing.T) {
	boom := errors.New("boom")
	g := New(func(ctx context.Context, batch []string) error { return boom }, time.Millisecond, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	if err := g.Do(ctx, "x"); !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want the flush error", err)
	}
}

func TestDoReturnsWhenCallerGivesUp(t *testing.T) {
	g := New(func(ctx context.Context, batch []int) error { return nil }, time.Millisecond, 0)
	// Run is not started: nobody takes the item.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want the caller's deadline", err)
	}
}

// With SetConcurrency(2) a second batch flushes while the first is still
// flushing; with the default, never.
func TestConcurrentFlushes(t *testing.T) {
	for _, n := range []int{1, 2} {
		var running, most atomic.Int32
		release := make(chan struct{})
		g := New(func(ctx context.Context, items []int) error {
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			select {
			case <-release:
			case <-time.After(300 * time.Millisecond):
			}
			running.Add(-1)
			return nil
		}, time.Millisecond, 1)
		g.SetConcurrency(n)
		ctx, cancel := context.WithCancel(context.Background())
		go g.Run(ctx)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := g.Do(context.Background(), i); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		close(release)
		cancel()
		if got := most.Load(); got != int32(n) {
			t.Errorf("concurrency %d: at most %d batches flushed at once, want %d", n, got, n)
		}
	}
}

// TestCarry: items a flush hands back come first in the next batch, their
// callers wait for that batch, and waiting counts what a batch left behind.
func TestCarry(t *testing.T) {
	// In a bubble, time stands still until every goroutine blocks: the
	// first batch's flush waits (synctest.Wait) until the callers left out
	// of it have queued, so it sees them waiting however the goroutines
	// were scheduled.
	synctest.Test(t, testCarry)
}

func testCarry(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]int
		fulls   []bool
		carried = map[int]bool{}
	)
	var first sync.Once
	g := NewCarrying(func(ctx context.Context, items []int, waiting func() int) ([]int, error) {
		first.Do(synctest.Wait)
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, append([]int(nil), items...))
		fulls = append(fulls, waiting() > 0)
		var back []int
		for i, v := range items {
			if v%2 == 1 && !carried[v] {
				carried[v] = true
				back = append(back, i)
			}
		}
		return back, nil
	}, 50*time.Millisecond, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	var wg sync.WaitGroup
	for v := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Do(ctx, v); err != nil {
				t.Errorf("Do(%d) = %v", v, err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// 6 items in batches of 4: the first leaves 2 waiting; the odd ones
	// of each batch are carried once, first into the next batch.
	if len(batches) < 2 || len(batches[0]) != 4 || !fulls[0] {
		t.Fatalf("batches %v (something waiting: %v), want a first batch of 4 with items waiting", batches, fulls)
	}
	odd := 0
	for _, v := range batches[0] {
		odd += v % 2
	}
	for _, v := range batches[1][:odd] {
		if v%2 != 1 {
			t.Fatalf("second batch %v does not start with the %d carried items", batches[1], odd)
		}
	}
	last := batches[len(batches)-1]
	if fulls[len(fulls)-1] && len(last) > 0 {
		t.Fatalf("last batch %v saw items waiting", last)
	}
}

// TestCarriedStoppedWithRun: a carried item whose gatherer stops gets
// ErrStopped rather than waiting for ever.
func TestCarriedStoppedWithRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := NewCarrying(func(ctx context.Context, items []int, _ func() int) ([]int, error) {
		cancel() // stop the gatherer while the item is handed back
		return []int{0}, nil
	}, time.Millisecond, 10)
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	err := g.Do(context.Background(), 1)
	<-done
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("Do = %v, want ErrStopped", err)
	}
}

// With SetKey, a second item of a key waits while a flush still holds the
// first, even after the first's caller gave up; other keys go on.
func TestKeyedItemWaitsForItsPredecessor(t *testing.T) {
	entered := make(chan string, 10)
	release := make(chan struct{})
	g := New(func(ctx context.Context, items []string) error {
		for _, it := range items {
			entered <- it
		}
		if items[0] == "a1" {
			<-release
		}
		return nil
	}, time.Millisecond, 10)
	g.SetKey(func(s string) string { return s[:1] })
	g.SetConcurrency(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)

	first, giveUp := context.WithCancel(ctx)
	firstDone := make(chan error, 1)
	go func() { firstDone <- g.Do(first, "a1") }()
	if got := <-entered; got != "a1" {
		t.Fatalf("flushed %q first, want a1", got)
	}
	giveUp()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do(a1) = %v after its caller gave up, want context.Canceled", err)
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- g.Do(ctx, "a2") }()
	if err := g.Do(ctx, "b1"); err != nil { // another key is not held up
		t.Fatal(err)
	}
	if got := <-entered; got != "b1" {
		t.Fatalf("flushed %q while a1 was still flushing, want b1", got)
	}
	select {
	case got := <-entered:
		t.Fatalf("flushed %q while a1 was still flushing", got)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	if got := <-entered; got != "a2" {
		t.Fatalf("flushed %q, want a2 after a1", got)
	}
}

// An item handed back for the next batch whose caller gave up in between
// is dropped, not flushed, and frees its key.
func TestGivenUpCarriedItemIsDropped(t *testing.T) {
	var flushed []string
	var mu sync.Mutex
	first, giveUp := context.WithCancel(context.Background())
	carriedOnce := false
	g := NewCarrying(func(ctx context.Context, items []string, _ func() int) ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !carriedOnce {
			carriedOnce = true
			giveUp() // the caller gives up while its item waits for the next batch
			return []int{0}, nil
		}
		flushed = append(flushed, items...)
		return nil, nil
	}, time.Millisecond, 10)
	g.SetKey(func(s string) string { return s[:1] })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	if err := g.Do(first, "a1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do(a1) = %v, want context.Canceled", err)
	}
	if err := g.Do(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(flushed) != 1 || flushed[0] != "a2" {
		t.Fatalf("flushed %v, want only a2", flushed)
	}
}

// With SetLingerMax, a batch keeps gathering while items keep coming
// (each within Linger of the last), up to LingerMax; without, it closes
// Linger after its first item. In a synctest bubble: time is virtual.
func TestLingerMaxGathersWhileItemsCome(t *testing.T) {
	for _, tc := range []struct {
		lingerMax time.Duration
		batches   int
	}{
		{0, 5},                     // 20 items 5ms apart, batches closing 20ms after their first
		{time.Second, 1},           // all 20 in one
		{40 * time.Millisecond, 3}, // at most 40ms per batch
	} {
		synctest.Test(t, func(t *testing.T) {
			var sizes []int
			var mu sync.Mutex
			g := New(func(ctx context.Context, items []int) error {
				mu.Lock()
				sizes = append(sizes, len(items))
				mu.Unlock()
				return nil
			}, 20*time.Millisecond, 100)
			g.SetLingerMax(tc.lingerMax)
			ctx, cancel := context.WithCancel(context.Background())
			go g.Run(ctx)
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := g.Do(ctx, i); err != nil {
						t.Error(err)
					}
				}()
				time.Sleep(5 * time.Millisecond)
			}
			wg.Wait()
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if len(sizes) != tc.batches {
				t.Errorf("lingerMax %v: batches %v, want %d", tc.lingerMax, sizes, tc.batches)
			}
		})
	}
}
