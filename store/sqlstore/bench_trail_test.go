package sqlstore

import (
	"context"
	"fmt"
	"testing"

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
}
