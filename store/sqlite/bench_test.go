package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// BenchmarkPutLedger measures ledger upserts on the embedded store, one op
// being one dossier update in batches of 500, over 20,000 existing rows.
func BenchmarkPutLedger(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "hub.db"), store.WithEncryptionKey([]byte("benchmark encryption key 32 byte")))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const dossiers, batch = 20_000, 500
	canon := []byte(`{"id":"x","summary":"` + strings.Repeat("Cấp giấy phép xây dựng ", 80) + `"}`) // ~2 KB
	mk := func(n int) store.LedgerEntry {
		return store.LedgerEntry{
			DossierID: fmt.Sprintf("H14.01-250301-%06d", n%dossiers), Source: "sonla", Province: "14",
			Procedure: "1.001234", Agency: "000.00.14.H01", Version: int64(n), ContentHash: "h", Status: 4,
			Canonical: canon, NationalState: store.NationalHeld, NationalAt: time.Now(),
		}
	}
	es := make([]store.LedgerEntry, 0, batch)
	flush := func() {
		if err := s.PutLedger(ctx, es); err != nil {
			b.Fatal(err)
		}
		es = es[:0]
	}
	for n := range dossiers {
		if es = append(es, mk(n)); len(es) == batch {
			flush()
		}
	}
	b.ResetTimer()
	start := time.Now()
	for n := range b.N {
		if es = append(es, mk(n)); len(es) == batch {
			flush()
		}
	}
	if len(es) > 0 {
		flush()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}
