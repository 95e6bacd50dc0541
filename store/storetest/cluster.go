package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// testInstances: each process's row is replaced by its next write, rows of
// other processes stay, and ListLeases shows who holds what until expiry.
func testInstances(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListInstances(ctx); err != nil || len(got) != 0 {
		t.Fatalf("instances of an empty store = %v, %v", got, err)
	}
	if err := s.PutInstance(ctx, store.Instance{Name: "hub"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("instance without id: err = %v", err)
	}
	started := time.Date(2026, 11, 21, 1, 2, 3, 456789000, time.UTC)
	before := store.Now()
	a := store.Instance{ID: "hub-a/1/x", Name: "hub-a", StartedAt: started, State: []byte(`{"n":1}`)}
	b := store.Instance{ID: "hub-b/2/y", Name: "hub-b", StartedAt: started.Add(time.Second), State: []byte(`{}`)}
	must(t, s.PutInstance(ctx, a))
	must(t, s.PutInstance(ctx, b))
	a.State = []byte(`{"n":2}`)
	must(t, s.PutInstance(ctx, a))
	got, err := s.ListInstances(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("instances = %+v, %v", got, err)
	}
	if got[0].ID != a.ID || got[0].Name != "hub-a" || !got[0].StartedAt.Equal(started) || string(got[0].State) != `{"n":2}` ||
		got[1].ID != b.ID || got[1].SeenAt.Before(before) {
		t.Fatalf("instances = %+v", got)
	}

	must(t, func() error { _, err := s.AcquireLease(ctx, "poller:sonla", a.ID, time.Minute); return err }())
	must(t, func() error { _, err := s.AcquireLease(ctx, "retention", b.ID, time.Millisecond); return err }())
	time.Sleep(5 * time.Millisecond) // the second one expires
	leases, err := s.ListLeases(ctx)
	if err != nil || len(leases) != 1 || leases[0].Name != "poller:sonla" || leases[0].Holder != a.ID ||
		!leases[0].ExpiresAt.After(time.Now()) {
		t.Fatalf("leases = %+v, %v", leases, err)
	}
}
