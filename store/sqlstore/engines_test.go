package sqlstore

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
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// database is one fresh, empty database of an engine.
type database struct {
	// open opens (and migrates) a store on it; connect opens one without
	// migrating.
	open    func(ctx context.Context, opts ...store.Option) (*Store, error)
	connect func(ctx context.Context, opts []store.Option) (*Store, error)
	// dump is what a copy of the database would show: pg_dump's output, or
	// the bytes of SQLite's files.
	dump func(t *testing.T) []byte
}

// engines are the engines every test here runs on.
var engines = []struct {
	name  string
	fresh func(t testing.TB) database
}{
	{"postgres", func(t testing.TB) database {
		dsn := pgtest.Schema(t)
		return database{
			open: func(ctx context.Context, opts ...store.Option) (*Store, error) {
				return OpenPostgres(ctx, dsn, opts...)
			},
			connect: func(ctx context.Context, opts []store.Option) (*Store, error) {
				return connectPostgres(ctx, dsn, opts)
			},
			dump: func(t *testing.T) []byte { return pgtest.Dump(t, dsn) },
		}
	}},
	{"sqlite", func(t testing.TB) database {
		path := filepath.Join(t.TempDir(), "data", "hub.db") // data dir created by the store
		return database{
			open:    func(ctx context.Context, opts ...store.Option) (*Store, error) { return OpenSQLite(ctx, path, opts...) },
			connect: func(ctx context.Context, opts []store.Option) (*Store, error) { return connectSQLite(ctx, path, opts) },
			dump:    func(t *testing.T) []byte { return fileDump(t, path) },
		}
	}},
}

// eachEngine runs test on each engine.
func eachEngine(t *testing.T, test func(t *testing.T, db database)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { test(t, e.fresh(t)) })
	}
}

// fileDump returns the bytes of the database file and of its -wal and -shm
// files: everything a copy of the data directory would hold.
func fileDump(t *testing.T, path string) []byte {
	t.Helper()
	var out []byte
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	if len(out) == 0 {
		t.Fatalf("no database at %s", path)
	}
	return out
}

func mustOpen(t *testing.T, db database, opts ...store.Option) *Store {
	t.Helper()
	s, err := db.open(ctxT(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Store { return mustOpen(t, e.fresh(t), storetest.Options()...) })
		})
	}
}

func TestEncryption(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			storetest.RunEncryption(t, func(t *testing.T) storetest.Database {
				db := e.fresh(t)
				return storetest.Database{
					Open: func(t *testing.T, opts ...store.Option) (storetest.Store, error) { return db.open(ctxT(t), opts...) },
					Dump: db.dump,
				}
			})
		})
	}
}

// connectFresh connects to db without migrating.
func connectFresh(t *testing.T, db database) *Store {
	t.Helper()
	s, err := db.connect(ctxT(t), storetest.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func tableExists(t *testing.T, s *Store, name string) bool {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(ctxT(t), s.d.bind(s.d.tableExists), name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func countMigrations(t *testing.T, s *Store, want int) {
	t.Helper()
	var rows int
	if err := s.r.QueryRowContext(ctxT(t), `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != want {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, want)
	}
}

func TestMigrateEmpty(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := connectFresh(t, db)
		ms, err := s.Migrations()
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
		for _, tbl := range []string{"cursors", "ledger", "events", "quarantine", "idempotency", "identity_index", "leases",
			"payments", "deliveries", "payment_notices", "api_tokens", "audit_log", "settlements"} {
			if !tableExists(t, s, tbl) {
				t.Errorf("table %s missing", tbl)
			}
		}
		if tableExists(t, s, "nothing") {
			t.Error("table nothing exists")
		}
		countMigrations(t, s, len(ms))
		// Forward-only: asking for an older version changes nothing.
		if err := s.MigrateTo(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Version(ctx); v != len(ms) {
			t.Fatalf("version after MigrateTo(1) = %d", v)
		}
	})
}

// TestMigrateStepByStep stops at every version in turn on one database.
func TestMigrateStepByStep(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := connectFresh(t, db)
		ms, _ := s.Migrations()
		for n := 1; n <= len(ms); n++ {
			if err := s.MigrateTo(ctx, n); err != nil {
				t.Fatalf("to %d: %v", n, err)
			}
			if v, _ := s.Version(ctx); v != n {
				t.Fatalf("version %d, want %d", v, n)
			}
		}
	})
}

// legacyVersion is the last schema version whose personal-data columns
// hold untagged values in clear (0003 tags them).
const legacyVersion = 2

// seedLegacy writes, with SQL of a schema at version v <= legacyVersion,
// rows as the store of that version wrote them: personal data in clear.
func seedLegacy(t *testing.T, s *Store, v int, canon, payload, result []byte) {
	t.Helper()
	ctx := ctxT(t)
	now, empty := s.d.time(store.Now()), []byte{}
	for _, q := range []struct {
		since int
		sql   string
		args  []any
	}{
		{1, `INSERT INTO ledger (dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	canonical, deleted, national_state, national_version, national_steps, national_at, updated_at) VALUES
	('D1', 'sonla', '14', 'p', 'a', 3, 'h', 4, $1, $2, 'held', 2, 1, NULL, $4),
	('D2', 'sonla', '14', 'p', 'a', 1, 'h', 4, $5, $3, '', 0, 0, NULL, $4)`, []any{canon, false, true, now, empty}},
		{1, `INSERT INTO events (dossier_id, source, version, kind, detail, at, instance) VALUES ('D1', 'sonla', 3, 'pulled', '', $1, 'i')`, []any{now}},
		{1, `INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state) VALUES
	('sonla', 'D9', 1, 'f', 'bad', 'xml', $1, $3, 'open'),
	('sonla', 'D8', 1, 'f', 'bad', 'bin', $2, $3, 'open'),
	('sonla', 'D7', 1, 'f', 'bad', 'json', $4, $3, 'open')`, []any{payload, []byte{0x01, 0x00, 0xff}, now, empty}},
		{1, `INSERT INTO cursors (name, value, updated_at) VALUES ('sonla', $1, $2)`, []any{[]byte("c1"), now}},
		{2, `INSERT INTO idempotency (key, effect, result, claimed_at, confirmed_at) VALUES
	('k1', 'e', $1, $2, $2), ('k2', 'e', NULL, $2, NULL), ('k3', 'e', $3, $2, $2)`, []any{result, now, empty}},
	} {
		if q.since <= v {
			if _, err := s.exec(ctx, q.sql, q.args...); err != nil {
				t.Fatalf("seed version %d: %v", v, err)
			}
		}
	}
}

// checkLegacy reads what seedLegacy wrote through the store.
func checkLegacy(t *testing.T, s *Store, v int, canon, payload, result []byte) {
	t.Helper()
	ctx := ctxT(t)
	got, err := s.GetLedger(ctx, []string{"D1", "D2"})
	if err != nil || got["D1"].Version != 3 || got["D1"].NationalState != store.NationalHeld ||
		!bytes.Equal(got["D1"].Canonical, canon) || got["D2"].Canonical != nil || !got["D2"].Deleted {
		t.Fatalf("ledger = %+v, %v", got, err)
	}
	if tl, err := s.Timeline(ctx, "D1"); err != nil || len(tl) != 1 {
		t.Fatalf("timeline = %v, %v", tl, err)
	}
	qs, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil || len(qs) != 3 || !bytes.Equal(qs[0].Payload, payload) ||
		!bytes.Equal(qs[1].Payload, []byte{0x01, 0x00, 0xff}) || qs[2].Payload != nil {
		t.Fatalf("quarantine = %+v, %v", qs, err)
	}
	if c, err := s.GetCursor(ctx, "sonla"); err != nil || string(c) != "c1" {
		t.Fatalf("cursor = %q, %v", c, err)
	}
	if v < 2 {
		return
	}
	for key, want := range map[string][]byte{"k1": result, "k2": nil, "k3": {}} {
		already, res, err := s.ClaimIdempotency(ctx, key, "e")
		if err != nil || !already || !bytes.Equal(res, want) || (res == nil) != (want == nil) {
			t.Fatalf("idempotency %s = %v, %q, %v; want %q", key, already, res, err, want)
		}
	}
}

// TestMigrateStepWithData applies each migration N on top of N-1 holding
// data (written before encryption, then migrated to N-1), and checks the
// data survives and an upgraded binary reads and writes it.
func TestMigrateStepWithData(t *testing.T) {
	ms, err := migrations(sqlite.migrations)
	if err != nil {
		t.Fatal(err)
	}
	canon, payload, result := storetest.PersonalData("D1", 3)
	for n := 2; n <= len(ms); n++ {
		t.Run(fmt.Sprintf("%04d_%s", n, ms[n-1].Name), func(t *testing.T) {
			eachEngine(t, func(t *testing.T, db database) {
				ctx := ctxT(t)
				s := connectFresh(t, db)
				seeded := min(n-1, legacyVersion)
				if err := s.MigrateTo(ctx, seeded); err != nil {
					t.Fatal(err)
				}
				seedLegacy(t, s, seeded, canon, payload, result)
				if err := s.MigrateTo(ctx, n-1); err != nil {
					t.Fatal(err)
				}
				if v, _ := s.Version(ctx); v != n-1 {
					t.Fatalf("stopped at version %d, want %d", v, n-1)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// An upgraded binary opens the database: Open migrates to the end.
				s2 := mustOpen(t, db, storetest.Options()...)
				if v, _ := s2.Version(ctx); v != len(ms) {
					t.Fatalf("version %d, want %d", v, len(ms))
				}
				checkLegacy(t, s2, seeded, canon, payload, result)
				e := store.LedgerEntry{DossierID: "D1", Source: "sonla", Version: 4, Canonical: canon, NationalState: store.NationalHeld}
				if err := s2.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestUpgradeClearData is the upgrade of a database written before
// encryption: its values in clear read at once, Reseal encrypts them, and
// then no copy of the database shows them.
func TestUpgradeClearData(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := connectFresh(t, db)
		if err := s.MigrateTo(ctx, legacyVersion); err != nil {
			t.Fatal(err)
		}
		canon, payload, result := storetest.PersonalData("D1", 3)
		seedLegacy(t, s, legacyVersion, canon, payload, result)
		if found := storetest.InDump(db.dump(t), storetest.CCCD); len(found) == 0 {
			t.Fatal("legacy data not in clear before the upgrade: the test proves nothing")
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		checkLegacy(t, s, legacyVersion, canon, payload, result)
		if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D1", Source: "sonla", IDNumber: storetest.CCCD}}); err != nil {
			t.Fatal(err)
		}
		n, err := s.Reseal(ctx)
		if err != nil || n != 4 { // D1's canonical, two payloads, k1's result
			t.Fatalf("reseal = %d, %v; want 4", n, err)
		}
		checkLegacy(t, s, legacyVersion, canon, payload, result)
		if found := storetest.InDump(db.dump(t), storetest.CCCD, storetest.Phone, storetest.Email, storetest.Name); len(found) > 0 {
			t.Fatalf("found in clear after Reseal: %q", found)
		}
		if ids, err := s.FindByIdentity(ctx, storetest.CCCD); err != nil || len(ids) != 1 || ids[0] != "D1" {
			t.Fatalf("find by identity = %v, %v", ids, err)
		}
		if n, err := s.Reseal(ctx); err != nil || n != 0 {
			t.Fatalf("second reseal = %d, %v; want 0", n, err)
		}
	})
}

// TestConcurrentInstances opens one database from several stores at once,
// as several instances (or, on SQLite, processes) would: migrations
// serialise, and writes wait for each other rather than fail.
func TestConcurrentInstances(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		const n = 4
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() { stores[i], errs[i] = db.open(ctx, storetest.Options()...) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("instance %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		ms, _ := stores[0].Migrations()
		countMigrations(t, stores[0], len(ms))
		for i, s := range stores {
			wg.Go(func() {
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
			})
		}
		wg.Wait()
		var total int
		if err := stores[0].r.QueryRowContext(ctx, `SELECT count(*) FROM ledger`).Scan(&total); err != nil || total != n*10*20 {
			t.Fatalf("ledger rows = %d, %v; want %d", total, err, n*10*20)
		}
	})
}

// TestIdentityNotInClear checks the identity number never reaches the
// database in clear, and another key cannot find it.
func TestIdentityNotInClear(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := mustOpen(t, db, storetest.Options()...)
		const cccd = "001099001234"
		if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D1", Source: "sonla", IDNumber: cccd}}); err != nil {
			t.Fatal(err)
		}
		if found := storetest.InDump(db.dump(t), cccd); len(found) > 0 {
			t.Fatal("identity number found in clear")
		}
		other := mustOpen(t, db, store.WithIdentityKey([]byte("another key of at least thirty-two bytes")),
			store.WithEncryptionKey(storetest.EncryptionKey))
		if ids, err := other.FindByIdentity(ctx, cccd); err != nil || len(ids) != 0 {
			t.Fatalf("found with another key: %v, %v", ids, err)
		}
	})
}

func TestIdentityNeedsKey(t *testing.T) {
	eachEngine(t, func(t *testing.T, db database) {
		ctx := ctxT(t)
		s := mustOpen(t, db, store.WithEncryptionKey(storetest.EncryptionKey))
		if err := s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D", IDNumber: "1"}}); !errors.Is(err, store.ErrNoIdentityKey) {
			t.Fatalf("index without key: err = %v", err)
		}
		if err := s.Record(ctx, store.Write{Identities: []store.IdentityLink{{DossierID: "D", IDNumber: "1"}}}); !errors.Is(err, store.ErrNoIdentityKey) {
			t.Fatalf("record without key: err = %v", err)
		}
		if _, err := s.FindByIdentity(ctx, "1"); !errors.Is(err, store.ErrNoIdentityKey) {
			t.Fatalf("find without key: err = %v", err)
		}
		if _, err := db.open(ctx, store.WithIdentityKey([]byte("short")), store.WithEncryptionKey(storetest.EncryptionKey)); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("short key: err = %v", err)
		}
	})
}
