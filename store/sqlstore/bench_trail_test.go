package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// BenchmarkAppendEvents measures provenance events appended in batches (as
// the normaliser and the sink record them: a few events per dossier), one
// op being one event.
func BenchmarkAppendEvents(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := e.fresh(b).open(ctx, store.WithoutEncryption())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for _, batch := range []int{100, 500} {
				for _, writers := range []int{1, 4} {
					b.Run(fmt.Sprintf("batch=%d/writers=%d", batch, writers), func(b *testing.B) {
						var next atomic.Int64
						b.ResetTimer()
						start := time.Now()
						var wg sync.WaitGroup
						for range writers {
							wg.Add(1)
							go func() {
								defer wg.Done()
								es := make([]store.Event, 0, batch)
								for {
									hi := next.Add(int64(batch))
									lo := hi - int64(batch)
									if lo >= int64(b.N) {
										return
									}
									es = es[:0]
									for n := lo; n < min(hi, int64(b.N)); n++ {
										// Three events per dossier, as a dossier's stages record.
										es = append(es, store.Event{DossierID: fmt.Sprintf("H14.01-%06d", (n/3)%20000), Source: "sonla",
											Version: n, Kind: "normalised", Detail: "ok", Instance: "bench"})
									}
									if err := s.AppendEvents(ctx, es); err != nil {
										b.Error(err)
										return
									}
								}
							}()
						}
						wg.Wait()
						b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
					})
				}
			}
		})
	}
}
