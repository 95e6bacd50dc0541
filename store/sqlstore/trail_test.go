package sqlstore

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

func verifyTrail(t *testing.T, s *Store, trusted ...ed25519.PublicKey) trail.Report {
	t.Helper()
	r, err := s.VerifyTrail(ctxT(t), trusted)
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
		if h, err := s.SignTrailHead(ctx, trail.Signer{Key: key}); err != nil || h.AuditID != 6 || h.Chains != 3 || h.EventsThrough != 120 {
			t.Fatalf("sign head: %+v, %v", h, err)
		}
		if h, err := s.SignTrailHead(ctx, trail.Signer{Key: key}); err != nil || h.ID != 0 {
			t.Fatalf("sign head again: %+v, %v; want nothing new", h, err)
		}
		r := verifyTrail(t, s, pub)
		if !r.OK() || r.Audit.Checked != 6 || r.Events.Checked != 120 || r.Chains != 3 || r.Heads != 1 ||
			r.SignedChains != 3 || r.SignedEvents != 120 || r.UnsignedEvents != 0 {
			t.Fatalf("clean trail: %s: %v", r.Summary(), r.Problems)
		}
		// A head signed with a key not trusted: named by its fingerprint.
		_, other, _ := ed25519.GenerateKey(nil)
		r = verifyTrail(t, s, other.Public().(ed25519.PublicKey))
		wantProblem(t, r, "heads", 1, "untrusted: signed by key "+trail.Fingerprint(pub))
		if len(r.Problems) != 1 {
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

// openAt opens a store of db migrated up to version.
func openAt(t *testing.T, db database, version int) *Store {
	t.Helper()
	s, err := db.connect(ctxT(t), []store.Option{store.WithoutEncryption()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.MigrateTo(ctxT(t), version); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTrailBefore: rows written before the migration have no hash; they
// are counted apart, and the chains start after them.
func TestTrailBefore(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := openAt(t, db, 9)
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
		r := verifyTrail(t, s)
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
		if r := verifyTrail(t, s); !r.OK() || r.PrunedChains != 1 {
			t.Fatalf("pruned: %s: %v", r.Summary(), r.Problems)
		}
	})
}

// TestTrailChains: the signed head covers every dossier's chain, so
// removing a chain's last signed event, or the whole chain, shows; events
// appended after the head are not yet under one, and removing them does
// not show.
func TestTrailChains(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := fillTrail(t, db)
		_, key, _ := ed25519.GenerateKey(nil)
		pub := key.Public().(ed25519.PublicKey)
		sign := func() trail.Head {
			t.Helper()
			h, err := s.SignTrailHead(ctx, trail.Signer{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		h1 := sign()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		lastID := func(dossier string) (id int64) {
			t.Helper()
			if err := s.row(ctx, s.r, `SELECT max(id) FROM events WHERE dossier_id = $1`, dossier).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		// Appended after the head: not yet under one; removing them is
		// not tampering.
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D0", Kind: "late"}, {DossierID: "D3", Kind: "late"}}); err != nil {
			t.Fatal(err)
		}
		r := verifyTrail(t, s, pub)
		if !r.OK() || r.UnsignedEvents != 2 || r.SignedEvents != 120 || r.EventsHead != h1.ID {
			t.Fatalf("events after the head: %s: %v", r.Summary(), r.Problems)
		}
		exec(`DELETE FROM events WHERE dossier_id = 'D3'`)
		exec(`DELETE FROM events WHERE id = $1`, lastID("D0"))
		if r := verifyTrail(t, s, pub); !r.OK() || r.UnsignedEvents != 0 {
			t.Fatalf("unsigned events removed: %s: %v", r.Summary(), r.Problems)
		}

		// The last signed event of D1, and all of D2.
		d1 := lastID("D1")
		exec(`DELETE FROM events WHERE id = $1`, d1)
		d2 := lastID("D2")
		exec(`DELETE FROM events WHERE dossier_id = 'D2'`)
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "events of D1", d1, "removed: the chain's last event under head")
		wantProblem(t, r, "events of D2", d2, "removed: the whole chain")
		if len(r.Problems) != 2 {
			t.Errorf("removed: %v", r.Problems)
		}

		// A later head still holds D1 and D2 to what the first signed.
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D0", Kind: "later"}}); err != nil {
			t.Fatal(err)
		}
		if h := sign(); h.ID <= h1.ID || h.Chains != 3 {
			t.Fatalf("second head %+v", h)
		}
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "events of D1", d1, "removed")
		wantProblem(t, r, "events of D2", d2, "removed")
		if len(r.Problems) != 2 || r.UnsignedEvents != 0 {
			t.Errorf("after a second head: %s: %v", r.Summary(), r.Problems)
		}

		// The chain heads the signer keeps: removing D2's shows its
		// bucket; the signer will not build on a bucket sum changed to
		// match.
		exec(`DELETE FROM trail_chains WHERE dossier_id = 'D2'`)
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "chain heads", int64(trail.Bucket("D2")), "removed or altered")
		exec(`DELETE FROM trail_buckets WHERE bucket = $1`, trail.Bucket("D2"))
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D0", Kind: "later"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignTrailHead(ctx, trail.Signer{Key: key}); !errors.Is(err, ErrTrailState) {
			t.Errorf("signing over altered bucket sums: %v, want ErrTrailState", err)
		}
		r = verifyTrail(t, s, pub)
		wantProblem(t, r, "heads", 2, "altered: the 2 chain heads kept do not give the root")
	})
}

// TestTrailKeyRotation: heads signed with an earlier key verify while it
// is trusted, and name it when it is not; the signer builds on a head of
// an earlier key only if it is listed.
func TestTrailKeyRotation(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := fillTrail(t, db)
		oldPub, oldKey, _ := ed25519.GenerateKey(nil)
		newPub, newKey, _ := ed25519.GenerateKey(nil)
		if _, err := s.SignTrailHead(ctx, trail.Signer{Key: oldKey}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D0", Kind: "after rotation"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignTrailHead(ctx, trail.Signer{Key: newKey}); !errors.Is(err, ErrTrailState) ||
			!strings.Contains(err.Error(), trail.Fingerprint(oldPub)) {
			t.Fatalf("signing after an unlisted key: %v, want ErrTrailState naming %s", err, trail.Fingerprint(oldPub))
		}
		h, err := s.SignTrailHead(ctx, trail.Signer{Key: newKey, Previous: []ed25519.PublicKey{oldPub}})
		if err != nil || h.ID != 2 {
			t.Fatalf("signing with the earlier key listed: %+v, %v", h, err)
		}
		if r := verifyTrail(t, s, newPub, oldPub); !r.OK() || r.Heads != 2 || r.SignedEvents != 121 {
			t.Fatalf("both keys trusted: %s: %v", r.Summary(), r.Problems)
		}
		r := verifyTrail(t, s, newPub)
		wantProblem(t, r, "heads", 1, "untrusted: signed by key "+trail.Fingerprint(oldPub))
		if len(r.Problems) != 1 {
			t.Errorf("earlier key not trusted: %v", r.Problems)
		}
		// A head signed with an unknown key, passed off as the new one's.
		_, rogue, _ := ed25519.GenerateKey(nil)
		forged := trail.Head{At: 1, EventsThrough: 121, Chains: 3}.Sign(rogue)
		if _, err := s.exec(ctx, `UPDATE trail_heads SET public_key = $1, signature = $2 WHERE id = 2`, []byte(newPub), forged.Signature); err != nil {
			t.Fatal(err)
		}
		r = verifyTrail(t, s, newPub, oldPub)
		wantProblem(t, r, "heads", 2, "altered: its signature does not verify with its key "+trail.Fingerprint(newPub))
	})
}

// TestTrailPruned: retention prunes whole prefixes of chains, and a chain
// pruned past its signed event, or whole, is no problem once that event is
// older than the retention the heads recorded; a recent one removed is.
func TestTrailPruned(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := mustOpen(t, db, store.WithoutEncryption())
		now := store.Now()
		old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
		ev := func(d string, at time.Time) store.Event {
			return store.Event{DossierID: d, Source: "sonla", Kind: "pulled", At: at, Instance: "i"}
		}
		// OLD: old events only. MIXED: old, recent, old (stages' times out
		// of append order): only the first may go. FRESH: recent.
		if err := s.AppendEvents(ctx, []store.Event{ev("OLD", old), ev("OLD", old.Add(time.Minute)),
			ev("MIXED", old), ev("MIXED", recent), ev("MIXED", old.Add(time.Minute)), ev("FRESH", recent),
			ev("LAST", recent)}); err != nil {
			t.Fatal(err)
		}
		_, key, _ := ed25519.GenerateKey(nil)
		pub := key.Public().(ed25519.PublicKey)
		sg := trail.Signer{Key: key, Retention: 30 * 24 * time.Hour}
		if _, err := s.SignTrailHead(ctx, sg); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneEvents(ctx, now.Add(-sg.Retention), 1000)
		if err != nil || n != 3 {
			t.Fatalf("pruned %d, %v; want 3 (OLD's two, MIXED's first)", n, err)
		}
		if tl, _ := s.Timeline(ctx, "MIXED"); len(tl) != 2 {
			t.Errorf("MIXED keeps %d events, want 2", len(tl))
		}
		r := verifyTrail(t, s, pub)
		if !r.OK() || r.PrunedSigned != 1 || r.PrunedChains != 1 || r.SignedChains != 4 {
			t.Fatalf("pruned: %s: %v", r.Summary(), r.Problems)
		}
		// FRESH removed whole is not pruning: its event is recent.
		if _, err := s.exec(ctx, `DELETE FROM events WHERE dossier_id = 'FRESH'`); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, verifyTrail(t, s, pub), "events of FRESH", 6, "removed: the whole chain")
		// Without a retention recorded nothing may be pruned.
		if err := s.AppendEvents(ctx, []store.Event{ev("LAST", recent)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, `UPDATE trail_heads SET retention = 0`); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, verifyTrail(t, s), "events of OLD", 2, "removed: the whole chain")
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
		if r := verifyTrail(t, s); !r.OK() || r.Events.Checked != 2000 || r.Chains != 4 {
			t.Fatalf("%s: %v", r.Summary(), r.Problems)
		}
	})
}

// TestTrailVersion1Heads: a head signed before migration 0012 (the audit
// chain's only) still verifies after it, beside the heads over the event
// chains signed since, which start from every event so far.
func TestTrailVersion1Heads(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := openAt(t, db, 11)
		id, err := s.AppendAudit(ctx, store.AuditEntry{Action: "token.create"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D", Kind: "k"}, {DossierID: "E", Kind: "k"}}); err != nil {
			t.Fatal(err)
		}
		pub, key, _ := ed25519.GenerateKey(nil)
		var hash []byte
		if err := s.row(ctx, s.r, `SELECT hash FROM audit_log WHERE id = $1`, id).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		v1 := trail.Head{Version: 1, At: 1, AuditID: id, AuditHash: hash}
		if _, err := s.exec(ctx, `INSERT INTO trail_heads (at, audit_id, audit_hash, public_key, signature) VALUES ($1, $2, $3, $4, $5)`,
			s.d.time(time.UnixMicro(v1.At)), id, hash, []byte(pub), ed25519.Sign(key, v1.Message())); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D", Kind: "k2"}}); err != nil {
			t.Fatal(err)
		}
		h, err := s.SignTrailHead(ctx, trail.Signer{Key: key})
		if err != nil || h.ID != 2 || h.EventsThrough != 3 || h.Chains != 2 {
			t.Fatalf("first head over the event chains: %+v, %v", h, err)
		}
		if r := verifyTrail(t, s, pub); !r.OK() || r.Heads != 2 || r.SignedEvents != 3 || r.SignedChains != 2 {
			t.Fatalf("%s: %v", r.Summary(), r.Problems)
		}
	})
}

// TestAppendEventsTwoInstances: two stores on one database (two hub
// instances) append to the same dossiers, in turn and at once: each
// guesses heads the other has moved (on PostgreSQL the statement then
// hashes those chains itself), and every chain still verifies.
func TestAppendEventsTwoInstances(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		a, b := mustOpen(t, db, store.WithoutEncryption()), mustOpen(t, db, store.WithoutEncryption())
		batch := func(tag string, n int) []store.Event {
			var es []store.Event
			for i := range n {
				es = append(es, store.Event{DossierID: fmt.Sprintf("D%d", i%4), Kind: tag, Detail: fmt.Sprint(i)})
			}
			return es
		}
		for round := range 3 {
			for _, s := range []*Store{a, b} {
				if err := s.AppendEvents(ctx, batch(fmt.Sprint("turn ", round), 10)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		for _, s := range []*Store{a, b, a, b} {
			wg.Go(func() {
				for range 5 {
					if err := s.AppendEvents(ctx, batch("at once", 12)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Guesses plain wrong (PostgreSQL): the statement hashes them all.
		if a.heads != nil {
			a.heads.keep(map[string][]byte{"D0": []byte("wrong"), "D1": make([]byte, 32)})
			if err := a.AppendEvents(ctx, batch("wrong guesses", 8)); err != nil {
				t.Fatal(err)
			}
		} else if err := a.AppendEvents(ctx, batch("wrong guesses", 8)); err != nil {
			t.Fatal(err)
		}
		if r := verifyTrail(t, a); !r.OK() || r.Events.Checked != 60+240+8 || r.Chains != 4 {
			t.Fatalf("%s: %v", r.Summary(), r.Problems)
		}
	})
}
