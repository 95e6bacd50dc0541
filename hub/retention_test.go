package hub

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// The retention loop prunes events past their age at start and keeps the
// rest, the ledger and the quarantine.
func TestEventRetention(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	var evs []store.Event
	for i := range 3 {
		evs = append(evs, store.Event{DossierID: "D", Source: "sonla", Version: int64(i + 1), Kind: "pulled", At: now.Add(-200 * 24 * time.Hour), Instance: "t"})
	}
	evs = append(evs, store.Event{DossierID: "D", Source: "sonla", Version: 4, Kind: "pulled", At: now.Add(-time.Hour), Instance: "t"})
	if err := st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutLedger(ctx, []store.LedgerEntry{{DossierID: "D", Source: "sonla", Version: 4}}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- pruneEvents(runCtx, st, defaultEventRetention, time.Hour, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tl, err := st.Timeline(ctx, "D")
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) == 1 && tl[0].Version == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events after retention: %+v; want only the recent one", tl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("retention loop: %v", err)
	}
	if l, err := st.GetLedger(ctx, []string{"D"}); err != nil || len(l) != 1 {
		t.Fatalf("ledger after retention: %v, %v", l, err)
	}
}
