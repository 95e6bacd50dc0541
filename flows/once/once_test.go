package once_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lienthong/lienthong/flows/once"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// claimed reports whether key is claimed, leaving the store as it was.
func claimed(t *testing.T, st *sqlstore.Store, key string) bool {
	t.Helper()
	ctx := context.Background()
	already, _, err := st.ClaimIdempotency(ctx, key, "probe")
	switch {
	case errors.Is(err, store.ErrKeyConflict): // claimed, for another effect than the probe's
		return true
	case err != nil:
		t.Fatal(err)
	case !already:
		if err := st.ReleaseIdempotency(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	return already
}

func TestDoRunsOnce(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	runs := 0
	fn := func(context.Context) ([]byte, error) { runs++; return []byte("msg-1"), nil }
	res, done, err := once.Do(ctx, st, "notify/sms/D-1/received/s1", "notify sms", fn)
	if err != nil || done || string(res) != "msg-1" {
		t.Fatalf("first Do = %q, %v, %v", res, done, err)
	}
	res, done, err = once.Do(ctx, st, "notify/sms/D-1/received/s1", "notify sms", fn)
	if err != nil || !done || string(res) != "msg-1" || runs != 1 {
		t.Fatalf("second Do = %q, %v, %v after %d runs; want the first result, not run again", res, done, err, runs)
	}
}

func TestDoFailureReleases(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	boom := errors.New("gateway down")
	if _, _, err := once.Do(ctx, st, "k", "e", func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	runs := 0
	if _, done, err := once.Do(ctx, st, "k", "e", func(context.Context) ([]byte, error) { runs++; return nil, nil }); err != nil || done || runs != 1 {
		t.Fatalf("retry after a failure: done %v, err %v, runs %d; want run", done, err, runs)
	}
}

// A claim found unconfirmed is an attempt that died mid-effect: the effect
// runs again (the targets that can deduplicate by the key do).
func TestDoUnconfirmedClaimRunsAgain(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	if _, _, err := st.ClaimIdempotency(ctx, "k", "e"); err != nil {
		t.Fatal(err)
	}
	runs := 0
	if _, done, err := once.Do(ctx, st, "k", "e", func(context.Context) ([]byte, error) { runs++; return nil, nil }); err != nil || done || runs != 1 {
		t.Fatalf("done %v, err %v, runs %d", done, err, runs)
	}
}

// Done confirms inside the effect, before it returns; whatever the effect
// returns afterwards, it counts as done.
func TestDoTrackedConfirmsAtDone(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	quit := errors.New("QUIT unanswered")
	res, done, err := once.DoTracked(ctx, st, "k", "notify email", func(ctx context.Context, p *once.Progress) ([]byte, error) {
		if err := p.Done(ctx, []byte("250")); err != nil {
			return nil, err
		}
		// Confirmed now: a concurrent or later attempt finds it done.
		if _, done, err := once.Do(ctx, st, "k", "notify email", func(context.Context) ([]byte, error) {
			t.Error("ran again after Done")
			return nil, nil
		}); err != nil || !done {
			t.Errorf("nested Do after Done: done %v, err %v", done, err)
		}
		return nil, quit
	})
	if err != nil || done || string(res) != "250" {
		t.Fatalf("DoTracked = %q, %v, %v; want the confirmed result, no error", res, done, err)
	}
}

// The marker Committing claims survives only a crash between it and the
// confirmation; the next attempt is told, and keeps telling until one
// succeeds.
func TestDoTrackedMarker(t *testing.T) {
	ctx := context.Background()
	commit := func(again *bool, fail error) func(ctx context.Context, p *once.Progress) ([]byte, error) {
		return func(ctx context.Context, p *once.Progress) ([]byte, error) {
			a, err := p.Committing(ctx)
			if err != nil {
				return nil, err
			}
			*again = a
			return nil, fail
		}
	}
	t.Run("finished", func(t *testing.T) {
		st := openStore(t)
		var again bool
		if _, _, err := once.DoTracked(ctx, st, "k", "e", commit(&again, nil)); err != nil || again {
			t.Fatalf("err %v, again %v", err, again)
		}
		if claimed(t, st, once.MarkerKey("k")) {
			t.Error("marker left after a finished attempt")
		}
	})
	t.Run("failed", func(t *testing.T) {
		st := openStore(t)
		var again bool
		refused := errors.New("451 after DATA")
		if _, _, err := once.DoTracked(ctx, st, "k", "e", commit(&again, refused)); !errors.Is(err, refused) {
			t.Fatalf("err %v", err)
		}
		if _, _, err := once.DoTracked(ctx, st, "k", "e", commit(&again, nil)); err != nil || again {
			t.Fatalf("after a failed attempt: err %v, again %v; want not again: a failure is not a crash", err, again)
		}
	})
	t.Run("uncertain", func(t *testing.T) {
		st := openStore(t)
		// The message went and the reply was lost: as good as a crash.
		if _, _, err := once.DoTracked(ctx, st, "k", "e", func(ctx context.Context, p *once.Progress) ([]byte, error) {
			if _, err := p.Committing(ctx); err != nil {
				return nil, err
			}
			p.Uncertain()
			return nil, errors.New("no reply to the final dot")
		}); err == nil {
			t.Fatal("an uncertain failure reported success")
		}
		var again bool
		if _, _, err := once.DoTracked(ctx, st, "k", "e", commit(&again, nil)); err != nil || !again {
			t.Fatalf("retry after an uncertain failure: err %v, again %v; want told", err, again)
		}
	})
	t.Run("crashed", func(t *testing.T) {
		st := openStore(t)
		// What a process killed after DATA and before the confirmation leaves.
		for _, k := range []struct{ key, effect string }{{"k", "e"}, {once.MarkerKey("k"), "e committing"}} {
			if _, _, err := st.ClaimIdempotency(ctx, k.key, k.effect); err != nil {
				t.Fatal(err)
			}
		}
		var again bool
		// A retry that fails keeps the earlier attempt's marker…
		if _, _, err := once.DoTracked(ctx, st, "k", "e", commit(&again, errors.New("connection reset"))); err == nil || !again {
			t.Fatalf("retry: err %v, again %v; want the failure and again", err, again)
		}
		// …so the one that succeeds is told too, and then it goes.
		if _, done, err := once.DoTracked(ctx, st, "k", "e", commit(&again, nil)); err != nil || done || !again {
			t.Fatalf("second retry: done %v, err %v, again %v", done, err, again)
		}
		if claimed(t, st, once.MarkerKey("k")) {
			t.Error("marker left after the successful retry")
		}
		if _, done, _ := once.DoTracked(ctx, st, "k", "e", commit(&again, nil)); !done {
			t.Error("confirmed key run again")
		}
	})
}
