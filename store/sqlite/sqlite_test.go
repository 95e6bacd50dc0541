package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/storetest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := Open(ctxT(t), filepath.Join(t.TempDir(), "hub.db"), store.WithIdentityKey(storetest.IdentityKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func connectFresh(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "hub.db") // data dir created by the store
	s, err := connect(ctxT(t), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(ctxT(t), `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestOpenSettings(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var timeout int
	if err := s.r.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != int(busyTimeout.Milliseconds()) {
		t.Fatalf("reader busy_timeout = %d, %v", timeout, err)
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO cursors VALUES ('x', x'00', 0)`); err == nil {
		t.Fatal("reader connection accepted a write")
	}
	for _, bad := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory"} {
		if _, err := Open(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMigrateEmpty(t *testing.T) {
	ctx := ctxT(t)
	s, _ := connectFresh(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || v != 0 {
		t.Fatalf("version of empty database = %d, %v", v, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if v, err := s.Version(ctx); err != nil || v != len(ms) {
		t.Fatalf("version = %d, %v; want %d", v, err, len(ms))
	}
	for _, tbl := range []string{"cursors", "ledger", "events", "quarantine", "idempotency", "identity_index", "leases"} {
		if !tableExists(t, s, tbl) {
			t.Errorf("table %s missing", tbl)
		}
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, len(ms))
	}
	if err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx); v != len(ms) {
		t.Fatalf("version after MigrateTo(1) = %d", v)
	}
}

// TestMigrateStepWithData applies each migration N on top of N-1 holding
// data, and checks the data survives and the store still works.
func TestMigrateStepWithData(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for n := 2; n <= len(ms); n++ {
		t.Run(fmt.Sprintf("%04d_%s", n, ms[n-1].Name), func(t *testing.T) {
			ctx := ctxT(t)
			s, path := connectFresh(t)
			if err := s.MigrateTo(ctx, n-1); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Version(ctx); v != n-1 {
				t.Fatalf("stopped at version %d, want %d", v, n-1)
			}
			e := store.LedgerEntry{DossierID: "D1", Source: "sonla", Version: 3, Canonical: []byte(`{}`), NationalState: store.NationalHeld}
			if err := s.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendEvents(ctx, []store.Event{{DossierID: "D1", Kind: "pulled"}}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddQuarantine(ctx, []store.QuarantineEntry{{Source: "sonla", DossierID: "D9", Reason: "bad"}}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutCursor(ctx, "sonla", []byte("c1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// An upgraded binary opens the file: Open migrates to the end.
			s2, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := s2.MigrateTo(ctx, n); err != nil {
				t.Fatal(err)
			}
			if v, _ := s2.Version(ctx); v != len(ms) {
				t.Fatalf("version %d, want %d", v, len(ms))
			}
			got, err := s2.GetLedger(ctx, []string{"D1"})
			if err != nil || got["D1"].Version != 3 || got["D1"].NationalState != store.NationalHeld {
				t.Fatalf("ledger after migration = %+v, %v", got, err)
			}
			if tl, err := s2.Timeline(ctx, "D1"); err != nil || len(tl) != 1 {
				t.Fatalf("timeline after migration = %v, %v", tl, err)
			}
			if n, err := s2.CountQuarantine(ctx, ""); err != nil || n != 1 {
				t.Fatalf("quarantine after migration = %d, %v", n, err)
			}
			if c, err := s2.GetCursor(ctx, "sonla"); err != nil || string(c) != "c1" {
				t.Fatalf("cursor after migration = %q, %v", c, err)
			}
			e.Version = 4
			if err := s2.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrateStepByStep stops at every version in turn on one database.
func TestMigrateStepByStep(t *testing.T) {
	ctx := ctxT(t)
	s, _ := connectFresh(t)
	ms, _ := Migrations()
	for n := 1; n <= len(ms); n++ {
		if err := s.MigrateTo(ctx, n); err != nil {
			t.Fatalf("to %d: %v", n, err)
		}
		if v, _ := s.Version(ctx); v != n {
			t.Fatalf("version %d, want %d", v, n)
		}
	}
	if tableExists(t, s, "nothing") || !tableExists(t, s, "leases") {
		t.Fatal("unexpected tables")
	}
}

// TestMultiProcess opens the same file from several stores at once, as two
// processes would: migrations and writes must wait on the file lock
// (busy_timeout) rather than fail.
func TestMultiProcess(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	ms, _ := Migrations()
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var rows int
	if err := stores[0].r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, len(ms))
	}
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				es := make([]store.LedgerEntry, 20)
				for j := range es {
					es[j] = store.LedgerEntry{DossierID: fmt.Sprintf("P%d-%d-%d", i, b, j), Source: "sonla", Version: 1}
				}
				if err := s.PutLedger(ctx, es); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var total int
	if err := stores[0].r.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&total); err != nil || total != n*10*20 {
		t.Fatalf("ledger rows = %d, %v; want %d", total, err, n*10*20)
	}
}

func TestIdentityNotInClear(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(ctx, path, store.WithIdentityKey(storetest.IdentityKey))
	if err != nil {
		t.Fatal(err)
	}
	const cccd = "001099001234"
	if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D1", Source: "sonla", IDNumber: cccd}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(cccd)) {
			t.Fatalf("identity number found in clear in %s", filepath.Base(f))
		}
	}
	other, err := Open(ctx, path, store.WithIdentityKey([]byte("another key of at least thirty-two bytes")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ids, err := other.FindByIdentity(ctx, cccd); err != nil || len(ids) != 0 {
		t.Fatalf("found with another key: %v, %v", ids, err)
	}
}

func TestIdentityNeedsKey(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D", IDNumber: "1"}}); !errors.Is(err, store.ErrNoIdentityKey) {
		t.Fatalf("index without key: err = %v", err)
	}
	if _, err := s.FindByIdentity(ctx, "1"); !errors.Is(err, store.ErrNoIdentityKey) {
		t.Fatalf("find without key: err = %v", err)
	}
	if _, err := Open(ctx, path, store.WithIdentityKey([]byte("short"))); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short key: err = %v", err)
	}
}
