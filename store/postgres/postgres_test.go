package postgres

import (
	"bytes"
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
		s, err := Open(ctxT(t), pgtest.Schema(t), storetest.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestEncryption(t *testing.T) {
	storetest.RunEncryption(t, func(t *testing.T) storetest.Database {
		dsn := pgtest.Schema(t)
		return storetest.Database{
			Open: func(t *testing.T, opts ...store.Option) (storetest.Store, error) {
				return Open(ctxT(t), dsn, opts...)
			},
			Dump: func(t *testing.T) []byte { return pgtest.Dump(t, dsn) },
		}
	})
}

// connectFresh connects to a new empty schema without migrating.
func connectFresh(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := pgtest.Schema(t)
	s, err := connect(ctxT(t), dsn, storetest.Options())
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
	for _, tbl := range []string{"cursors", "ledger", "events", "quarantine", "idempotency", "identity_index", "leases",
		"payments", "deliveries", "payment_notices", "api_tokens", "audit_log"} {
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

// legacyVersion is the last schema version whose personal-data columns
// hold untagged values in clear (0003 tags them).
const legacyVersion = 2

// seedLegacy writes, with SQL of a schema at version v <= legacyVersion,
// rows as the store of that version wrote them: personal data in clear.
func seedLegacy(t *testing.T, s *Store, v int, canon, payload, result []byte) {
	t.Helper()
	ctx := ctxT(t)
	for _, q := range []struct {
		since int
		sql   string
		args  []any
	}{
		{1, `INSERT INTO ledger (dossier_id, source, province, procedure_code, agency, version, content_hash, status,
	canonical, deleted, national_state, national_version, national_steps, national_at, updated_at) VALUES
	('D1', 'sonla', '14', 'p', 'a', 3, 'h', 4, $1, false, 'held', 2, 1, NULL, now()),
	('D2', 'sonla', '14', 'p', 'a', 1, 'h', 4, '', true, '', 0, 0, NULL, now())`, []any{canon}},
		{1, `INSERT INTO events (dossier_id, source, version, kind, detail, at, instance) VALUES ('D1', 'sonla', 3, 'pulled', '', now(), 'i')`, nil},
		{1, `INSERT INTO quarantine (source, dossier_id, version, field, reason, format, payload, at, state) VALUES
	('sonla', 'D9', 1, 'f', 'bad', 'xml', $1, now(), 'open'),
	('sonla', 'D8', 1, 'f', 'bad', 'bin', $2, now(), 'open'),
	('sonla', 'D7', 1, 'f', 'bad', 'json', '', now(), 'open')`, []any{payload, []byte{0x01, 0x00, 0xff}}},
		{1, `INSERT INTO cursors (name, value, updated_at) VALUES ('sonla', 'c1', now())`, nil},
		{2, `INSERT INTO idempotency (key, effect, result, claimed_at, confirmed_at) VALUES
	('k1', 'e', $1, now(), now()), ('k2', 'e', NULL, now(), NULL), ('k3', 'e', '', now(), now())`, []any{result}},
	} {
		if q.since <= v {
			if _, err := s.pool.Exec(ctx, q.sql, q.args...); err != nil {
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
// data survives and the store (at the latest version) reads and writes it.
func TestMigrateStepWithData(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	canon, payload, result := storetest.PersonalData("D1", 3)
	for n := 2; n <= len(ms); n++ {
		t.Run(fmt.Sprintf("%04d_%s", n, ms[n-1].Name), func(t *testing.T) {
			ctx := ctxT(t)
			s, _ := connectFresh(t)
			// Data as the store wrote it before encryption, brought to N-1.
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

			if err := s.MigrateTo(ctx, n); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Version(ctx); v != n {
				t.Fatalf("version %d, want %d", v, n)
			}
			// The running binary is the latest: it reads at the latest version.
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			checkLegacy(t, s, seeded, canon, payload, result)
			// And writes still work on the migrated schema.
			e := store.LedgerEntry{DossierID: "D1", Source: "sonla", Version: 4, Canonical: canon, NationalState: store.NationalHeld}
			if err := s.PutLedger(ctx, []store.LedgerEntry{e}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUpgradeClearData is the upgrade of a database written before
// encryption: its values in clear read at once, Reseal encrypts them, and
// then no dump shows them.
func TestUpgradeClearData(t *testing.T) {
	ctx := ctxT(t)
	s, dsn := connectFresh(t)
	if err := s.MigrateTo(ctx, legacyVersion); err != nil {
		t.Fatal(err)
	}
	canon, payload, result := storetest.PersonalData("D1", 3)
	seedLegacy(t, s, legacyVersion, canon, payload, result)
	if found := storetest.InDump(pgtest.Dump(t, dsn), storetest.CCCD); len(found) == 0 {
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
	if found := storetest.InDump(pgtest.Dump(t, dsn), storetest.CCCD, storetest.Phone, storetest.Email, storetest.Name); len(found) > 0 {
		t.Fatalf("found in clear after Reseal: %q", found)
	}
	if ids, err := s.FindByIdentity(ctx, storetest.CCCD); err != nil || len(ids) != 1 || ids[0] != "D1" {
		t.Fatalf("find by identity = %v, %v", ids, err)
	}
	if n, err := s.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second reseal = %d, %v; want 0", n, err)
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
			stores[i], errs[i] = Open(ctx, dsn, storetest.Options()...)
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
	s, err := Open(ctx, pgtest.Schema(t), storetest.Options()...)
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
		store.WithIdentityKey([]byte("another key of at least thirty-two bytes")), store.WithEncryptionKey(storetest.EncryptionKey))
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
	s, err := Open(ctx, dsn, store.WithEncryptionKey(storetest.EncryptionKey))
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
	if _, err := Open(ctx, dsn, store.WithIdentityKey([]byte("short")), store.WithEncryptionKey(storetest.EncryptionKey)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short key: err = %v", err)
	}
}

// TestRecordRollsBack: a statement the server refuses (a NUL in text)
// takes the batch's other statements with it.
func TestRecordRollsBack(t *testing.T) {
	s, err := Open(ctxT(t), pgtest.Schema(t), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := ctxT(t)
	err = s.Record(ctx, store.Write{
		Quarantine: []store.QuarantineEntry{{Source: "sonla", DossierID: "N1", Field: "x", Reason: "y"}},
		Ledger:     []store.LedgerEntry{{DossierID: "N1", Source: "sonla", Version: 1}},
		Events:     []store.Event{{DossierID: "N1", Source: "sonla", Kind: "bad\x00kind"}},
	})
	if err == nil {
		t.Fatal("a NUL in an event's kind was accepted")
	}
	got, err := s.GetLedger(ctx, []string{"N1"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.CountQuarantine(ctx, "sonla")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || n != 0 {
		t.Fatalf("the refused batch left ledger %v and %d quarantined", got, n)
	}
}
