package gen

import (
	"bytes"
	"encoding/gob"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestStateRoundTrip: a dossier saved half-way through its lifecycle and
// restored (through gob, as the simulators save it) finishes exactly as the
// original does.
func TestStateRoundTrip(t *testing.T) {
	g, gRef := New(HaTinh()), New(HaTinh())
	for i := range 40 {
		orig := g.Generate(5, i, t0)
		ref := gRef.Dossier(gRef.Rand(5, i), t0)
		if !reflect.DeepEqual(orig.Clone(), ref.Clone()) {
			t.Fatalf("%d: Generate differs from Dossier(Rand)", i)
		}
		now := t0
		g.Advance(orig, now)
		st, err := orig.State()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			t.Fatal(err)
		}
		var back DossierState
		if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
			t.Fatal(err)
		}
		back2, err := back.Restore()
		if err != nil {
			t.Fatal(err)
		}
		for {
			now = now.Add(time.Second)
			a, b := g.Advance(orig, now), g.Advance(back2, now)
			if a != b {
				t.Fatalf("%d: advance %v vs %v", i, a, b)
			}
			if !a {
				break
			}
		}
		if !reflect.DeepEqual(orig.Clone(), back2.Clone()) {
			t.Errorf("%d: restored dossier ended differently\n%+v\n%+v", i, orig.Clone(), back2.Clone())
		}
	}
	// A dossier whose stream is not known cannot be saved mid-lifecycle.
	d := g.Dossier(rand.New(rand.NewPCG(1, 2)), t0)
	if _, err := d.State(); err == nil {
		t.Error("State of a dossier with an unknown stream succeeded")
	}
}
