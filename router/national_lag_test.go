package router

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
)

// The normaliser notes when a record was pulled; the national sink tells
// Track of the dossier in flight from then, and releases it once the
// message is handled (the portal holds the dossier by then).
func TestSinkTracksLagFromPull(t *testing.T) {
	e := newSinkEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	type call struct {
		source    string
		since     time.Time
		done      int
		heldAtEnd bool
	}
	var (
		mu    sync.Mutex
		calls []*call
	)
	const id = "000.00.14.H52-261121-0001" // spec_example.json's
	sink := NewNationalSink(NationalSinkConfig{
		Units: map[string]national.Unit{"sonla": unit}, Linger: 5 * time.Millisecond, Instance: "test",
		Track: func(source string, since time.Time) func() {
			c := &call{source: source, since: since}
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
			return func() {
				_, held := e.sim.Dossier(id)
				mu.Lock()
				defer mu.Unlock()
				c.done++
				c.heldAtEnd = held
			}
		},
	}, e.client, e.store, nil, slog.New(slog.DiscardHandler))
	go sink.Run(ctx)
	mapper, err := mapping.New(mapping.Source{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14"})
	if err != nil {
		t.Fatal(err)
	}
	norm := NewNormaliser(mapper, e.store, nil, slog.New(slog.DiscardHandler), "test")
	go norm.Run(ctx)

	payload, err := os.ReadFile(filepath.Join("..", "mapping", "restjson", "testdata", "spec_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	pulled := time.Date(2026, 11, 21, 1, 20, 0, 123456789, time.UTC)
	raw, err := json.Marshal(schemas.RawRecord{Source: "sonla", ID: id, Version: 3, Op: schemas.OpUpsert,
		Format: schemas.FormatJSON, Payload: payload, Pulled: pulled})
	if err != nil {
		t.Fatal(err)
	}
	out, err := norm.Handle(message.NewMessage(watermill.NewUUID(), raw))
	if err != nil || len(out) != 1 {
		t.Fatalf("normalise: %d messages, %v", len(out), err)
	}
	canonical := out[0]
	if got := canonical.Metadata.Get(MetadataPulled); got != pulled.Format(time.RFC3339Nano) {
		t.Fatalf("metadata %s = %q, want %q", MetadataPulled, got, pulled.Format(time.RFC3339Nano))
	}

	if err := sink.Handle(canonical); err != nil {
		t.Fatal(err)
	}
	// Without the metadata (a replay): from the source's update time.
	replay := message.NewMessage(watermill.NewUUID(), canonical.Payload)
	if err := sink.Handle(replay); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	updated := time.Date(2026, 11, 21, 8, 15, 2, 0, time.FixedZone("ICT", 7*3600)) // ngayCapNhat
	if len(calls) != 2 {
		t.Fatalf("Track called %d times, want 2", len(calls))
	}
	for i, want := range []time.Time{pulled, updated} {
		c := calls[i]
		if c.source != "sonla" || !c.since.Equal(want) {
			t.Errorf("Track #%d (%s, %v), want (%s, %v)", i+1, c.source, c.since, "sonla", want)
		}
		if c.done != 1 || !c.heldAtEnd {
			t.Errorf("Track #%d: done called %d times (want 1), portal held the dossier then: %v", i+1, c.done, c.heldAtEnd)
		}
	}
}
