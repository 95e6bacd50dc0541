package sqlstore

import (
	"testing"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestRecordRollsBack: a statement the server refuses (a NUL in text)
// takes the pipelined batch's other statements with it.
func TestRecordRollsBack(t *testing.T) {
	ctx := ctxT(t)
	s, err := OpenPostgres(ctx, pgtest.Schema(t), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	err = s.Record(ctx, store.Write{
		Quarantine: []store.QuarantineEntry{{Source: "sonla", DossierID: "N1", Field: "x", Reason: "y"}},
		Ledger:     []store.LedgerEntry{{DossierID: "N1", Source: "sonla", Version: 1}},
		Events:     []store.Event{{DossierID: "N1", Source: "sonla", Kind: "bad\x00kind"}},
	})
	if err == nil {
		t.Fatal("a NUL in an event's kind was accepted")
	}
	got, err := s.GetLedger(ctx, []string{"N1"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.CountQuarantine(ctx, "sonla")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || n != 0 {
		t.Fatalf("the refused batch left ledger %v and %d quarantined", got, n)
	}
}
