package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/postgres/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := Open(ctxT(t), pgtest.Schema(t), store.WithIdentityKey(storetest.IdentityKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// connectFresh connects to a new empty schema without migrating.
func connectFresh(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := pgtest.Schema(t)
	s, err := connect(ctxT(t), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dsn
}

func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var ok bool
	if err := s.pool.QueryRow(ctxT(t), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrateEmpty(t *testing.T) {
	ctx := ctxT(t)
	s, _ := connectFresh(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || v != 0 {
		t.Fatalf("version of empty schema = %d, %v", v, err)
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, len(ms))
	}
	// Forward-only: asking for an older version changes nothing.
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
			s, _ := connectFresh(t)
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

			if err := s.MigrateTo(ctx, n); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Version(ctx); v != n {
				t.Fatalf("version %d, want %d", v, n)
			}
			got, err := s.GetLedger(ctx, []string{"D1"})
			if err != nil || got["D1"].Version != 3 || got["D1"].NationalState != store.NationalHeld {
				t.Fatalf("ledger after migration = %+v, %v", got, err)
			}
			if tl, err := s.Timeline(ctx, "D1"); err != nil || len(tl) != 1 {
				t.Fatalf("timeline after migration = %v, %v", tl, err)
			}
			if n, err := s.CountQuarantine(ctx, ""); err != nil || n != 1 {
				t.Fatalf("quarantine after migration = %d, %v", n, err)
			}
			if c, err := s.GetCursor(ctx, "sonla"); err != nil || string(c) != "c1" {
				t.Fatalf("cursor after migration = %q, %v", c, err)
			}
			// And writes still work on the migrated schema.
			e.Version = 4
			if err := s.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrateConcurrent runs migrations from two instances at once.
func TestMigrateConcurrent(t *testing.T) {
	ctx := ctxT(t)
	_, dsn := connectFresh(t)
	ms, _ := Migrations()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn)
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
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, len(ms))
	}
}

// TestIdentityNotInClear checks the identity number never reaches the
// database in clear.
func TestIdentityNotInClear(t *testing.T) {
	ctx := ctxT(t)
	s, err := Open(ctx, pgtest.Schema(t), store.WithIdentityKey(storetest.IdentityKey))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const cccd = "001099001234"
	if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D1", Source: "sonla", IDNumber: cccd}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `
SELECT count(*) FROM identity_index
WHERE position(convert_to($1, 'UTF8') IN digest) > 0 OR dossier_id LIKE '%' || $1 || '%' OR source LIKE '%' || $1 || '%'`,
		cccd).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("identity number found in clear in identity_index")
	}
	// Another key cannot find it.
	other, err := Open(ctx, pgtest.WithSearchPath(pgtest.DSN(), currentSchema(t, s)),
		store.WithIdentityKey([]byte("another key of at least thirty-two bytes")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ids, err := other.FindByIdentity(ctx, cccd); err != nil || len(ids) != 0 {
		t.Fatalf("found with another key: %v, %v", ids, err)
	}
}

func currentSchema(t *testing.T, s *Store) string {
	var name string
	if err := s.pool.QueryRow(ctxT(t), `SELECT current_schema()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestIdentityNeedsKey(t *testing.T) {
	ctx := ctxT(t)
	dsn := pgtest.Schema(t)
	s, err := Open(ctx, dsn)
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
	if _, err := Open(ctx, dsn, store.WithIdentityKey([]byte("short"))); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short key: err = %v", err)
	}
}
