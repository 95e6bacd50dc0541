package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memLeases is an in-memory Leaser; dead holders fail every call, as an
// instance cut off from the database would.
type memLeases struct {
	mu      sync.Mutex
	holder  map[string]string
	expires map[string]time.Time
	dead    map[string]bool
}

func newMemLeases() *memLeases {
	return &memLeases{holder: map[string]string{}, expires: map[string]time.Time{}, dead: map[string]bool{}}
}

var errDead = errors.New("connection lost")

func (m *memLeases) kill(h string) { m.mu.Lock(); m.dead[h] = true; m.mu.Unlock() }

func (m *memLeases) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead[holder] {
		return false, errDead
	}
	if h, ok := m.holder[name]; ok && h != holder && time.Now().Before(m.expires[name]) {
		return false, nil
	}
	m.holder[name], m.expires[name] = holder, time.Now().Add(ttl)
	return true, nil
}

func (m *memLeases) RenewLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead[holder] {
		return false, errDead
	}
	if m.holder[name] != holder {
		return false, nil
	}
	m.expires[name] = time.Now().Add(ttl)
	return true, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead[holder] {
		return errDead
	}
	if m.holder[name] == holder {
		delete(m.holder, name)
	}
	return nil
}

func TestLead(t *testing.T) {
	const ttl = 300 * time.Millisecond
	l := newMemLeases()
	var (
		active, overlap atomic.Int32
		mu              sync.Mutex
		ran             []string
	)
	leader := func(h string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if active.Add(1) > 1 {
				overlap.Add(1)
			}
			mu.Lock()
			ran = append(ran, h)
			mu.Unlock()
			<-ctx.Done()
			active.Add(-1)
			return nil
		}
	}
	waitFor := func(h string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			last := ""
			if len(ran) > 0 {
				last = ran[len(ran)-1]
			}
			mu.Unlock()
			if last == h && active.Load() == 1 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s did not take over; ran %v", h, ran)
	}

	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	ctxC, stopC := context.WithCancel(context.Background())
	defer stopB()
	defer stopC()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := func(ctx context.Context, h string) {
		defer wg.Done()
		errs <- Lead(ctx, l, "poll:sonla", h, ttl, leader(h))
	}
	wg.Add(1)
	go run(ctxA, "A")
	waitFor("A")
	wg.Add(2)
	go run(ctxB, "B")
	go run(ctxC, "C")
	time.Sleep(ttl) // B and C keep trying while A leads

	// Graceful stop: A releases, another takes over well within ttl.
	stopped := time.Now()
	stopA()
	deadline := time.Now().Add(3 * time.Second)
	var next string
	for next == "" && time.Now().Before(deadline) {
		mu.Lock()
		if r := ran[len(ran)-1]; r != "A" {
			next = r
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	if next == "" {
		t.Fatal("nobody took over after A stopped")
	}
	if took := time.Since(stopped); took > ttl {
		t.Errorf("handover after a release took %v", took)
	}

	// The leader dies (its database calls fail, it cannot release): it must
	// stop leading before the lease expires, and the other takes over.
	other := map[string]string{"B": "C", "C": "B"}[next]
	died := time.Now()
	l.kill(next)
	waitFor(other)
	if took := time.Since(died); took > ttl+ttl/3+200*time.Millisecond {
		t.Errorf("takeover after death took %v with ttl %v", took, ttl)
	}
	if n := overlap.Load(); n != 0 {
		t.Fatalf("%d times two leaders ran at once", n)
	}
	stopB()
	stopC()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Lead returned %v, want context.Canceled", err)
		}
	}
}

func TestLeadReturnsFnResult(t *testing.T) {
	l := newMemLeases()
	want := errors.New("poller failed")
	err := Lead(context.Background(), l, "x", "A", time.Second, func(context.Context) error { return want })
	if !errors.Is(err, want) {
		t.Fatalf("Lead = %v, want %v", err, want)
	}
	if ok, _ := l.AcquireLease(context.Background(), "x", "B", time.Second); !ok {
		t.Fatal("lease not released after fn returned")
	}
}
