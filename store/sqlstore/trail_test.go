package sqlstore

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/trail"
)

// fillTrail appends audit entries and events (batches, several dossiers
// per batch, concurrent appends to one dossier) and returns the store.
func fillTrail(t *testing.T, db database) *Store {
	t.Helper()
	ctx := ctxT(t)
	s := mustOpen(t, db, store.WithoutEncryption())
	for i := range 6 {
		if _, err := s.AppendAudit(ctx, store.AuditEntry{TokenID: "t1", Role: "national", Action: "token.create",
			Target: fmt.Sprintf("tok%d", i), Detail: "d", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for b := range 5 {
				var es []store.Event
				for i := range 6 {
					es = append(es, store.Event{DossierID: fmt.Sprintf("D%d", i%3), Source: "sonla", Version: int64(b),
						Kind: "normalised", Detail: fmt.Sprintf("w%d b%d i%d", w, b, i), Instance: "i"})
				}
				var err error
				if w%2 == 0 {
					err = s.AppendEvents(ctx, es)
				} else {
					err = s.Record(ctx, store.Write{Events: es, Ledger: []store.LedgerEntry{{DossierID: "D0", Source: "sonla"}}})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return s
}

func verifyTrail(t *testing.T, s *Store, pub ed25519.PublicKey) trail.Report {
	t.Helper()
	r, err := s.VerifyTrail(ctxT(t), pub)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantProblem checks that r names entry id of chain with what.
func wantProblem(t *testing.T, r trail.Report, chain string, id int64, what string) {
	t.Helper()
	for _, p := range r.Problems {
		if p.Chain == chain && p.ID == id && strings.HasPrefix(p.What, what) {
			return
		}
	}
	t.Errorf("no %q for %s entry %d in %v", what, chain, id, r.Problems)
}

func TestTrail(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := fillTrail(t, db)
		_, key, _ := ed25519.GenerateKey(nil)
		pub := key.Public().(ed25519.PublicKey)
		if h, err := s.SignTrailHead(ctx, key); err != nil || h.AuditID != 6 {
			t.Fatalf("sign head: %+v, %v", h, err)
		}
		if h, err := s.SignTrailHead(ctx, key); err != nil || h.ID != 0 {
			t.Fatalf("sign head again: %+v, %v; want nothing new", h, err)
		}
		r := verifyTrail(t, s, pub)
		if !r.OK() || r.Audit.Checked != 6 || r.Events.Checked != 120 || r.Chains != 3 || r.Heads != 1 {
			t.Fatalf("clean trail: %s: %v", r.Summary(), r.Problems)
		}
		// A head signed with another key.
		_, other, _ := ed25519.GenerateKey(nil)
		if r := verifyTrail(t, s, other.Public().(ed25519.PublicKey)); len(r.Problems) != 1 {
			t.Errorf("other key: %v", r.Problems)
		}
		ids := func(dossier string) []int64 {
			rows, err := s.query(ctx, `SELECT id FROM events WHERE dossier_id = $1 ORDER BY id`, dossier)
			out, err := all(rows, err, func(r store.Scanner) (id int64, err error) { return id, r.Scan(&id) })
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}

		// Altered: an audit entry's detail, an event's detail.
		exec(`UPDATE audit_log SET detail = 'other' WHERE id = 3`)
		d0 := ids("D0")
		exec(`UPDATE events SET detail = 'other' WHERE id = $1`, d0[4])
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "audit", 3, "altered")
		wantProblem(t, r, "events of D0", d0[4], "altered")
		if len(r.Problems) != 2 {
			t.Errorf("altered: %v", r.Problems)
		}

		// Removed: an audit entry and an event in the middle; the last
		// audit entry (the signed head names it).
		exec(`DELETE FROM audit_log WHERE id = 2`)
		d1 := ids("D1")
		exec(`DELETE FROM events WHERE id = $1`, d1[7])
		exec(`DELETE FROM audit_log WHERE id = 6`)
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "audit", 3, "removed")
		wantProblem(t, r, "events of D1", d1[8], "removed")
		wantProblem(t, r, "heads", 1, "removed")

		// Reordered: two events of a dossier swap places (everything but
		// their IDs, which PostgreSQL will not update).
		d2 := ids("D2")
		exec(`UPDATE events SET version = o.version, kind = o.kind, detail = o.detail, at = o.at,
	instance = o.instance, prev_hash = o.prev_hash, hash = o.hash
FROM events o WHERE (events.id = $1 AND o.id = $2) OR (events.id = $2 AND o.id = $1)`, d2[10], d2[11])
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "events of D2", d2[10], "reordered")
		wantProblem(t, r, "events of D2", d2[11], "reordered")
	})
}

// TestTrailBefore: rows written before the migration have no hash; they
// are counted apart, and the chains start after them.
func TestTrailBefore(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s, err := db.connect(ctx, []store.Option{store.WithoutEncryption()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.MigrateTo(ctx, 9); err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, `INSERT INTO audit_log (at, token_id, role, province, action, target, detail, outcome)
VALUES ($1, 't', 'r', '', 'a', '', '', 'ok')`, s.d.time(store.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, `INSERT INTO events (dossier_id, source, version, kind, detail, at, instance)
VALUES ('D', 's', 1, 'k', '', $1, 'i')`, s.d.time(store.Now())); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudit(ctx, store.AuditEntry{Action: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D", Kind: "k"}, {DossierID: "D", Kind: "k2"}}); err != nil {
			t.Fatal(err)
		}
		r := verifyTrail(t, s, nil)
		if !r.OK() || r.Audit.Before != 1 || r.Audit.Checked != 1 || r.Events.Before != 1 || r.Events.Checked != 2 {
			t.Fatalf("%s: %v", r.Summary(), r.Problems)
		}
		// Pruning the start of a dossier's chain is not tampering.
		if _, err := s.exec(ctx, `DELETE FROM events WHERE id IN (SELECT min(id) FROM events)`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, `DELETE FROM events WHERE id IN (SELECT min(id) FROM events)`); err != nil {
			t.Fatal(err)
		}
		if r := verifyTrail(t, s, nil); !r.OK() || r.PrunedChains != 1 {
			t.Fatalf("pruned: %s: %v", r.Summary(), r.Problems)
		}
	})
}

// TestAppendEventsChainedInBatch: one batch with a long chain of one
// dossier among others, and a chain from before the trail, is chained as
// the verifier recomputes it (on PostgreSQL the statement hashes).
func TestAppendEventsChainedInBatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := mustOpen(t, db, store.WithoutEncryption())
		var es []store.Event
		for i := range 1000 {
			d := "LONG"
			if i%10 == 0 {
				d = fmt.Sprintf("S%d", i%30)
			}
			es = append(es, store.Event{DossierID: d, Source: "sonla", Version: int64(i), Kind: "k",
				Detail: "Thẩm định hồ sơ", Instance: "i"})
		}
		for range 2 {
			if err := s.AppendEvents(ctx, es); err != nil {
				t.Fatal(err)
			}
		}
		if r := verifyTrail(t, s, nil); !r.OK() || r.Events.Checked != 2000 || r.Chains != 4 {
			t.Fatalf("%s: %v", r.Summary(), r.Problems)
		}
	})
}
