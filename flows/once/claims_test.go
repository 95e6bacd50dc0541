package once_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lienthong/lienthong/flows/once"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
)

// keyState says what st holds under key, as Do claiming it for effect would
// find it, and leaves it as it was: "free", "claimed" (unconfirmed: an
// attempt in flight or dead), "confirmed:<result>", or "other" (held for
// another effect).
func keyState(t *testing.T, st *sqlstore.Store, key, effect string) string {
	t.Helper()
	ctx := context.Background()
	already, result, err := st.ClaimIdempotency(ctx, key, effect)
	switch {
	case errors.Is(err, store.ErrKeyConflict):
		return "other"
	case err != nil:
		t.Fatal(err)
	case !already:
		if err := st.ReleaseIdempotency(ctx, key); err != nil {
			t.Fatal(err)
		}
		return "free"
	case result == nil:
		return "claimed"
	}
	return "confirmed:" + string(result)
}

// Do by what the store holds under the key when it is called: a claim is
// taken, confirmed with the effect's result, released when the effect
// fails; a confirmed key returns its result without running the effect;
// a claim left unconfirmed (the attempt died between claim and confirm) is
// run again; a key held for another effect is a caller's bug and runs
// nothing.
func TestDoByStateOfKey(t *testing.T) {
	const key, effect = "notify/sms/D-1/received/s1", "notify sms"
	boom := errors.New("gateway down")
	tests := []struct {
		name   string
		before func(ctx context.Context, st *sqlstore.Store) error
		fails  bool   // the effect fails with boom
		result []byte // the effect's result when it succeeds
		// want
		ran        bool
		done       bool
		wantResult string
		wantErr    error
		after      string
	}{{
		name: "free key: the effect runs and is confirmed with its result",
		ran:  true, result: []byte("msg-1"), wantResult: "msg-1", after: "confirmed:msg-1",
	}, {
		name: "free key, the effect fails: the claim is released for a retry",
		ran:  true, fails: true, wantErr: boom, after: "free",
	}, {
		name: "an effect without a result is confirmed all the same",
		ran:  true, result: nil, wantResult: "", after: "confirmed:",
	}, {
		name:   "claimed and never confirmed (a crash between claim and confirm): the effect runs again",
		before: claim(key, effect),
		ran:    true, result: []byte("msg-1"), wantResult: "msg-1", after: "confirmed:msg-1",
	}, {
		// The dead attempt's claim goes with the failed retry's: neither
		// effect is taken to have happened.
		name:   "claimed and never confirmed, the retry fails: released",
		before: claim(key, effect),
		ran:    true, fails: true, wantErr: boom, after: "free",
	}, {
		name:   "confirmed: the effect does not run; the first result is returned",
		before: confirm(key, effect, []byte("msg-0")),
		done:   true, result: []byte("msg-1"), wantResult: "msg-0", after: "confirmed:msg-0",
	}, {
		name:   "confirmed without a result: done all the same",
		before: confirm(key, effect, nil),
		done:   true, result: []byte("msg-1"), wantResult: "", after: "confirmed:",
	}, {
		name:   "claimed for another effect: a key conflict, nothing runs, the other claim stays",
		before: claim(key, "writeback THANH_TOAN"),
		result: []byte("msg-1"), wantErr: store.ErrKeyConflict, after: "other",
	}, {
		name:   "confirmed for another effect: a key conflict, nothing runs, the other result stays",
		before: confirm(key, "writeback THANH_TOAN", []byte("ok")),
		result: []byte("msg-1"), wantErr: store.ErrKeyConflict, after: "other",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			ctx := context.Background()
			if tc.before != nil {
				if err := tc.before(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			ran := false
			res, done, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
				ran = true
				if tc.fails {
					return nil, boom
				}
				return tc.result, nil
			})
			if ran != tc.ran || done != tc.done || string(res) != tc.wantResult || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Do = %q, done %v, err %v, ran %v; want %q, done %v, err %v, ran %v",
					res, done, err, ran, tc.wantResult, tc.done, tc.wantErr, tc.ran)
			}
			// A done call's result is never nil, even when empty: nil is
			// what an unconfirmed claim reads as.
			if done && res == nil {
				t.Error("done with a nil result")
			}
			if got := keyState(t, st, key, effect); got != tc.after {
				t.Errorf("key afterwards %s; want %s", got, tc.after)
			}
		})
	}
}

func claim(key, effect string) func(context.Context, *sqlstore.Store) error {
	return func(ctx context.Context, st *sqlstore.Store) error {
		_, _, err := st.ClaimIdempotency(ctx, key, effect)
		return err
	}
}

func confirm(key, effect string, result []byte) func(context.Context, *sqlstore.Store) error {
	return func(ctx context.Context, st *sqlstore.Store) error {
		if err := claim(key, effect)(ctx, st); err != nil {
			return err
		}
		return st.ConfirmIdempotency(ctx, key, result)
	}
}

// target is an outside system that deduplicates by the hub's key, as every
// one the hub calls through Do does (payment MaThamChieu, VNPost
// orderNumber, province reference, SMS requestId): a repeated key is
// answered with the first answer and has no second effect.
type target struct {
	mu      sync.Mutex
	effects map[string]string // key → its answer
	calls   int
}

func (g *target) call(key string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.effects == nil {
		g.effects = map[string]string{}
	}
	if _, ok := g.effects[key]; !ok {
		g.effects[key] = fmt.Sprintf("msg-%d", len(g.effects)+1)
	}
	return []byte(g.effects[key])
}

// Many instances calling Do for one key at once (a redelivered message
// handled twice, a rebalance): every caller succeeds with the one answer,
// the target has the effect once, and the key ends confirmed.
func TestDoConcurrentCallsHaveOneEffect(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	const key, effect = "writeback/sonla/KQ-1/delivered", "writeback BUU_CHINH"
	g := &target{}
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			res, _, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) { return g.call(key), nil })
			if err != nil {
				t.Error(err)
			}
			results[i] = string(res)
		})
	}
	wg.Wait()
	if len(g.effects) != 1 {
		t.Errorf("the target has %d effects; want 1", len(g.effects))
	}
	for i, r := range results {
		if r != "msg-1" {
			t.Errorf("caller %d got %q; want the one answer, msg-1", i, r)
		}
	}
	if got := keyState(t, st, key, effect); got != "confirmed:msg-1" {
		t.Errorf("key %s; want confirmed:msg-1", got)
	}
	t.Logf("the target was called %d times for 8 callers", g.calls)
}

// A call that comes while another is inside the effect finds the claim
// unconfirmed, which Do cannot tell from an attempt that died there: it runs
// the effect again (the documented trade: losing an effect was judged worse
// than repeating it to a target that deduplicates by the key). So it is the
// target's key, not the claim, that keeps overlapping calls to one effect.
func TestDoOverlappingCallRunsTheEffectAgain(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	const key, effect = "notify/sms/D-1/received/s1", "notify sms"
	g := &target{}
	inside, leave := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, _, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
			close(inside)
			<-leave // still sending when the second call comes
			return g.call(key), nil
		})
		first <- err
	}()
	<-inside
	res, done, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) { return g.call(key), nil })
	if err != nil || done || string(res) != "msg-1" {
		t.Fatalf("overlapping Do = %q, done %v, err %v; want the effect run again, and the target's one answer", res, done, err)
	}
	close(leave)
	if err := <-first; err != nil {
		t.Fatalf("first Do: %v", err)
	}
	if g.calls != 2 || len(g.effects) != 1 {
		t.Errorf("target called %d times with %d effects; want 2 calls, 1 effect", g.calls, len(g.effects))
	}
	if _, done, _ := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
		t.Error("ran after both confirmed")
		return nil, nil
	}); !done {
		t.Error("not done after both calls confirmed")
	}
}

// An overlapping call that fails releases the claim while the first is
// still inside the effect; the first then succeeds. Its effect happened, so
// it is recorded all the same (claimed again, then confirmed), not reported
// as a failure, which would have the effect run once more on the retry.
func TestDoOverlappingFailureReleasesMidEffect(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	const key, effect = "notify/email/D-1/received/s1", "notify email"
	inside, leave := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, _, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
			close(inside)
			<-leave
			return []byte("sent"), nil
		})
		first <- err
	}()
	<-inside
	if _, _, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
		return nil, errors.New("relay down")
	}); err == nil {
		t.Fatal("the failing overlapping call returned no error")
	}
	close(leave)
	if err := <-first; err != nil {
		t.Fatalf("first Do, whose effect happened, after the overlapping call released the claim: %v", err)
	}
	res, done, err := once.Do(ctx, st, key, effect, func(context.Context) ([]byte, error) {
		t.Error("ran again after the first call's effect happened")
		return nil, nil
	})
	if err != nil || !done || string(res) != "sent" {
		t.Errorf("Do after both = %q, done %v, err %v; want the first call's result, done", res, done, err)
	}
}

// Do's bookkeeping is done whatever became of the caller's context while
// the effect ran: an effect that happened is confirmed, one that failed
// because the caller gave up is released.
func TestDoBookkeepingOutlivesCancellation(t *testing.T) {
	const key, effect = "k", "e"
	tests := []struct {
		name   string
		effect func(ctx context.Context) ([]byte, error)
		after  string
	}{{
		name:   "the effect happened, then the caller gave up: confirmed",
		effect: func(ctx context.Context) ([]byte, error) { return []byte("250"), nil },
		after:  "confirmed:250",
	}, {
		name:   "the effect was cut short by the caller: released",
		effect: func(ctx context.Context) ([]byte, error) { return nil, ctx.Err() },
		after:  "free",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			_, _, err := once.Do(ctx, st, key, effect, func(ctx context.Context) ([]byte, error) {
				cancel()
				return tc.effect(ctx)
			})
			if (tc.after == "free") != errors.Is(err, context.Canceled) {
				t.Errorf("err %v", err)
			}
			if got := keyState(t, st, key, effect); got != tc.after {
				t.Errorf("key %s; want %s", got, tc.after)
			}
		})
	}
}

// faultyKeys is the store failing one idempotency call, once.
type faultyKeys struct {
	once.Keys
	claim, confirm, release error
}

func (k *faultyKeys) ClaimIdempotency(ctx context.Context, key, effect string) (bool, []byte, error) {
	if err := k.claim; err != nil {
		k.claim = nil
		return false, nil, err
	}
	return k.Keys.ClaimIdempotency(ctx, key, effect)
}

func (k *faultyKeys) ConfirmIdempotency(ctx context.Context, key string, result []byte) error {
	if err := k.confirm; err != nil {
		k.confirm = nil
		return err
	}
	return k.Keys.ConfirmIdempotency(ctx, key, result)
}

func (k *faultyKeys) ReleaseIdempotency(ctx context.Context, key string) error {
	if err := k.release; err != nil {
		k.release = nil
		return err
	}
	return k.Keys.ReleaseIdempotency(ctx, key)
}

// When the store fails Do, the key is left so that the effect is not lost:
// a claim that cannot be taken runs nothing; an effect whose confirmation
// or release cannot be written leaves the key claimed, the state a crash
// there would leave, so the next attempt runs it again (to a target that
// deduplicates by the key).
func TestDoStoreFailures(t *testing.T) {
	const key, effect = "k", "e"
	down := errors.New("connection reset by peer")
	boom := errors.New("gateway down")
	tests := []struct {
		name    string
		keys    faultyKeys
		fails   bool
		ran     bool
		wantErr []error  // all wrapped
		texts   []string // all in the message
		after   string
	}{{
		name: "the claim fails: nothing runs",
		keys: faultyKeys{claim: down}, wantErr: []error{down}, after: "free",
	}, {
		name: "the confirmation fails: reported, and the key stays claimed for the next attempt",
		keys: faultyKeys{confirm: down}, ran: true, wantErr: []error{down}, texts: []string{"confirm k"}, after: "claimed",
	}, {
		name: "the effect fails and so does the release: both reported, the key stays claimed",
		keys: faultyKeys{release: down}, fails: true, ran: true, wantErr: []error{boom},
		texts: []string{boom.Error(), "releasing key k", down.Error()}, after: "claimed",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			keys := tc.keys
			keys.Keys = st
			ran := false
			_, _, err := once.Do(context.Background(), &keys, key, effect, func(context.Context) ([]byte, error) {
				ran = true
				if tc.fails {
					return nil, boom
				}
				return []byte("msg-1"), nil
			})
			if ran != tc.ran || err == nil {
				t.Fatalf("ran %v, err %v; want ran %v and an error", ran, err, tc.ran)
			}
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err %v; want it to wrap %v", err, want)
				}
			}
			for _, text := range tc.texts {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("err %q; want it to say %q", err, text)
				}
			}
			if got := keyState(t, st, key, effect); got != tc.after {
				t.Errorf("key %s; want %s", got, tc.after)
			}
		})
	}
}
