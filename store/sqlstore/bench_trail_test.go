package sqlstore

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/trail"
)

// eachEngineStore runs bench on a fresh store of each engine.
func eachEngineStore(b *testing.B, bench func(b *testing.B, ctx context.Context, s *Store)) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := e.fresh(b).open(ctx, store.WithoutEncryption())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			bench(b, ctx, s)
		})
	}
}

// BenchmarkAppendEvents measures provenance events appended in batches (as
// the normaliser and the sink record them: a few events per dossier), one
// op being one event.
func BenchmarkAppendEvents(b *testing.B) {
	eachEngineStore(b, func(b *testing.B, ctx context.Context, s *Store) {
		for _, batch := range []int{100, 500} {
			for _, writers := range []int{1, 4} {
				b.Run(fmt.Sprintf("batch=%d/writers=%d", batch, writers), func(b *testing.B) {
					inBatches(b, batch, writers, "events/s", func(lo, hi int64) error {
						es := make([]store.Event, 0, hi-lo)
						for n := lo; n < hi; n++ {
							// Three events per dossier, as a dossier's stages record.
							es = append(es, store.Event{DossierID: fmt.Sprintf("H14.01-%06d", (n/3)%20000), Source: "sonla",
								Version: n, Kind: "normalised", Detail: "ok", Instance: "bench"})
						}
						return s.AppendEvents(ctx, es)
					})
				})
			}
		}
	})
}

// BenchmarkSignTrailHead measures a signed head over 20,000 dossiers'
// chains when 1,000 of them moved (three events each) since the last: one
// op is one head.
func BenchmarkSignTrailHead(b *testing.B) {
	eachEngineStore(b, func(b *testing.B, ctx context.Context, s *Store) {
		_, key, _ := ed25519.GenerateKey(nil)
		sg := trail.Signer{Key: key, Retention: 180 * 24 * time.Hour}
		appendMoved := func(from, n int) {
			es := make([]store.Event, 0, 3*n)
			for d := from; d < from+n; d++ {
				for range 3 {
					es = append(es, store.Event{DossierID: fmt.Sprintf("H14.01-%06d", d%20000), Source: "sonla",
						Kind: "normalised", Detail: "ok", Instance: "bench"})
				}
			}
			if err := s.AppendEvents(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		for d := 0; d < 20000; d += 1000 {
			appendMoved(d, 1000)
		}
		if _, err := s.SignTrailHead(ctx, sg); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			appendMoved(i*1000, 1000)
			b.StartTimer()
			if h, err := s.SignTrailHead(ctx, sg); err != nil || h.Chains != 20000 {
				b.Fatalf("%+v, %v", h, err)
			}
		}
	})
}
