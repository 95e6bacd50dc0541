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
		s, err := Open(ctxT(t), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestEncryption(t *testing.T) {
	storetest.RunEncryption(t, func(t *testing.T) storetest.Database {
		path := filepath.Join(t.TempDir(), "hub.db")
		return storetest.Database{
			Open: func(t *testing.T, opts ...store.Option) (storetest.Store, error) {
				return Open(ctxT(t), path, opts...)
			},
			Dump: func(t *testing.T) []byte { return fileDump(t, path) },
		}
	})
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

func connectFresh(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "hub.db") // data dir created by the store
	s, err := connect(ctxT(t), path, storetest.Options())
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
	s, err := Open(ctx, path, storetest.Options()...)
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
		if _, err := Open(ctx, bad, storetest.Options()...); !errors.Is(err, store.ErrInvalid) {
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
	for _, tbl := range []string{"cursors", "ledger", "events", "quarantine", "idempotency", "identity_index", "leases",
		"payments", "deliveries", "payment_notices", "api_tokens", "audit_log"} {
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

// legacyVersion is the last schema version whose personal-data columns
// hold untagged values in clear (0003 tags them).
const legacyVersion = 2

// seedLegacy writes, with SQL of a schema at version v <= legacyVersion,
// rows as the store of that version wrote them: personal data in clear.
func seedLegacy(t *testing.T, s *Store, v int, canon, payload, result []byte) {
	t.Helper()
	ctx := ctxT(t)
	now := micros(store.Now())
	for _, q := range []struct {
		since int
		sql   string
		args  []any
	}{
		{1, `INSERT INTO ledger (dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	canonical, deleted, national_state, national_version, national_steps, national_at, updated_at) VALUES
	('D1', 'sonla', '14', 'p', 'a', 3, 'h', 4, ?1, 0, 'held', 2, 1, NULL, ?2),
	('D2', 'sonla', '14', 'p', 'a', 1, 'h', 4, x'', 1, '', 0, 0, NULL, ?2)`, []any{canon, now}},
		{1, `INSERT INTO events (dossier_id, source, version, kind, detail, at, instance) VALUES ('D1', 'sonla', 3, 'pulled', '', ?, 'i')`, []any{now}},
		{1, `INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state) VALUES
	('sonla', 'D9', 1, 'f', 'bad', 'xml', ?1, ?3, 'open'),
	('sonla', 'D8', 1, 'f', 'bad', 'bin', ?2, ?3, 'open'),
	('sonla', 'D7', 1, 'f', 'bad', 'json', x'', ?3, 'open')`, []any{payload, []byte{0x01, 0x00, 0xff}, now}},
		{1, `INSERT INTO cursors (name, value, updated_at) VALUES ('sonla', CAST('c1' AS BLOB), ?)`, []any{now}},
		{2, `INSERT INTO idempotency (key, effect, result, claimed_at, confirmed_at) VALUES
	('k1', 'e', ?1, ?2, ?2), ('k2', 'e', NULL, ?2, NULL), ('k3', 'e', x'', ?2, ?2)`, []any{result, now}},
	} {
		if q.since <= v {
			if _, err := s.w.ExecContext(ctx, q.sql, q.args...); err != nil {
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
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	canon, payload, result := storetest.PersonalData("D1", 3)
	for n := 2; n <= len(ms); n++ {
		t.Run(fmt.Sprintf("%04d_%s", n, ms[n-1].Name), func(t *testing.T) {
			ctx := ctxT(t)
			s, path := connectFresh(t)
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

			// An upgraded binary opens the file: Open migrates to the end.
			s2, err := Open(ctx, path, storetest.Options()...)
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
			checkLegacy(t, s2, seeded, canon, payload, result)
			e := store.LedgerEntry{DossierID: "D1", Source: "sonla", Version: 4, Canonical: canon, NationalState: store.NationalHeld}
			if err := s2.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUpgradeClearData is the upgrade of a database written before
// encryption: its values in clear read at once, Reseal encrypts them, and
// then the files no longer hold them.
func TestUpgradeClearData(t *testing.T) {
	ctx := ctxT(t)
	s, path := connectFresh(t)
	if err := s.MigrateTo(ctx, legacyVersion); err != nil {
		t.Fatal(err)
	}
	canon, payload, result := storetest.PersonalData("D1", 3)
	seedLegacy(t, s, legacyVersion, canon, payload, result)
	if found := storetest.InDump(fileDump(t, path), storetest.CCCD); len(found) == 0 {
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
	if found := storetest.InDump(fileDump(t, path), storetest.CCCD, storetest.Phone, storetest.Email, storetest.Name); len(found) > 0 {
		t.Fatalf("found in clear after Reseal: %q", found)
	}
	if ids, err := s.FindByIdentity(ctx, storetest.CCCD); err != nil || len(ids) != 1 || ids[0] != "D1" {
		t.Fatalf("find by identity = %v, %v", ids, err)
	}
	if n, err := s.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second reseal = %d, %v; want 0", n, err)
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
			stores[i], errs[i] = Open(ctx, path, storetest.Options()...)
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
	s, err := Open(ctx, path, storetest.Options()...)
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
	other, err := Open(ctx, path, store.WithIdentityKey([]byte("another key of at least thirty-two bytes")), store.WithEncryptionKey(storetest.EncryptionKey))
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
	s, err := Open(ctx, path, store.WithEncryptionKey(storetest.EncryptionKey))
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
	if _, err := Open(ctx, path, store.WithIdentityKey([]byte("short")), store.WithEncryptionKey(storetest.EncryptionKey)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short key: err = %v", err)
	}
}
