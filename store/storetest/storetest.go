// Package storetest is the conformance suite of the hub's stores. Every
// implementation runs it, so they behave identically:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { return openFresh(t) })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Store lists the methods the suite exercises.
type Store interface {
	Migrate(ctx context.Context) error
	Close() error

	GetCursor(ctx context.Context, name string) ([]byte, error)
	PutCursor(ctx context.Context, name string, value []byte) error

	GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	GetLedgerStates(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
	PutLedger(ctx context.Context, entries []store.LedgerEntry) error
	HeldVersions(ctx context.Context, ids []string) (map[string]int64, error)
	LedgerCounts(ctx context.Context) (map[string]int, error)
	OnTimeReport(ctx context.Context, f store.OnTimeFilter) ([]store.OnTimeRow, error)
	OverdueCounts(ctx context.Context, now time.Time) (map[string]int, error)

	ReconcileBatch(ctx context.Context, f store.ReconcileFilter) ([]store.LedgerEntry, error)
	ForgetNationalHash(ctx context.Context, dossierID string, nationalVersion int64, hash string) (bool, error)
	PutDrift(ctx context.Context, found []store.Drift) error
	ResolveDrift(ctx context.Context, ids []string) error
	MarkResyncing(ctx context.Context, ids []string) error
	ListDrift(ctx context.Context, f store.DriftFilter) ([]store.Drift, int, error)
	DriftCounts(ctx context.Context) (map[string]map[string]int, error)

	AppendEvents(ctx context.Context, events []store.Event) error
	Timeline(ctx context.Context, dossierID string) ([]store.Event, error)
	PruneEvents(ctx context.Context, before time.Time, limit int) (int64, error)

	AddQuarantine(ctx context.Context, entries []store.QuarantineEntry) error
	ListQuarantine(ctx context.Context, f store.QuarantineFilter) ([]store.QuarantineEntry, error)
	GetQuarantine(ctx context.Context, id int64) (store.QuarantineEntry, error)
	SetQuarantineState(ctx context.Context, id int64, state string) error
	CountQuarantine(ctx context.Context, source string) (int, error)
	CountQuarantineMatching(ctx context.Context, f store.QuarantineFilter) (int, error)

	ClaimIdempotency(ctx context.Context, key, effect string) (already bool, result []byte, err error)
	ConfirmIdempotency(ctx context.Context, key string, result []byte) error
	ReleaseIdempotency(ctx context.Context, key string) error

	IndexIdentities(ctx context.Context, links []store.IdentityLink) error
	Record(ctx context.Context, w store.Write) error
	FindByIdentity(ctx context.Context, idNumber string) ([]string, error)

	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	ListLeases(ctx context.Context) ([]store.Lease, error)

	PutInstance(ctx context.Context, in store.Instance) error
	ListInstances(ctx context.Context) ([]store.Instance, error)

	Reseal(ctx context.Context) (int, error)

	CreatePayment(ctx context.Context, p store.Payment) (stored store.Payment, created bool, err error)
	UpdatePayment(ctx context.Context, ref string, u store.PaymentUpdate) (p store.Payment, changed bool, err error)
	GetPayment(ctx context.Context, ref string) (store.Payment, error)
	ListPayments(ctx context.Context, f store.PaymentFilter) ([]store.Payment, error)

	CreateDelivery(ctx context.Context, d store.Delivery) (stored store.Delivery, created bool, err error)
	UpdateDelivery(ctx context.Context, orderNumber string, u store.DeliveryUpdate) (d store.Delivery, changed bool, err error)
	GetDelivery(ctx context.Context, orderNumber string) (store.Delivery, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)

	OpenSettlement(ctx context.Context, s store.Settlement) (stored store.Settlement, created bool, err error)
	GetSettlement(ctx context.Context, kind, ref string) (store.Settlement, error)
	UpdateSettlement(ctx context.Context, kind, ref string, u store.SettlementUpdate) (s store.Settlement, changed bool, err error)
	ReopenSettlement(ctx context.Context, kind, ref string) (s store.Settlement, changed bool, err error)
	ListSettlements(ctx context.Context, f store.SettlementFilter) ([]store.Settlement, error)

	AddPaymentNotice(ctx context.Context, n store.PaymentNotice) (id int64, err error)
	ListPaymentNotices(ctx context.Context, f store.NoticeFilter) ([]store.PaymentNotice, error)

	CreateToken(ctx context.Context, t store.APIToken) error
	TokenByHash(ctx context.Context, hash []byte) (store.APIToken, error)
	TouchToken(ctx context.Context, id string, at time.Time) error
	RevokeToken(ctx context.Context, id string) error
	ListTokens(ctx context.Context) ([]store.APIToken, error)

	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// IdentityKey is the identity key newStore must open stores with
// (store.WithIdentityKey(storetest.IdentityKey)).
var IdentityKey = []byte("storetest identity key: 32+ bytes, not a secret")

// EncryptionKey is the encryption key newStore must open stores with
// (store.WithEncryptionKey(storetest.EncryptionKey)).
var EncryptionKey = []byte("storetest encryption key 32 byte")

// Options returns the options newStore opens stores with.
func Options() []store.Option {
	return []store.Option{store.WithIdentityKey(IdentityKey), store.WithEncryptionKey(EncryptionKey)}
}

// Run runs the suite. newStore returns a fresh, empty, migrated store
// opened with Options(); the suite closes it, newStore registers any other
// clean-up with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"MigrateTwice", testMigrateTwice},
		{"Cursors", testCursors},
		{"LedgerRoundTrip", testLedgerRoundTrip},
		{"LedgerUpsert", testLedgerUpsert},
		{"LedgerBatchDuplicates", testLedgerBatchDuplicates},
		{"LedgerKeepCanonical", testLedgerKeepCanonical},
		{"LedgerBatchAtomic", testLedgerBatchAtomic},
		{"Record", testRecord},
		{"RecordAtomic", testRecordAtomic},
		{"LedgerLargeBatch", testLedgerLargeBatch},
		{"LedgerConcurrent", testLedgerConcurrent},
		{"LedgerCounts", testLedgerCounts},
		{"OnTimeReport", testOnTimeReport},
		{"ReconcileBatch", testReconcileBatch},
		{"Drift", testDrift},
		{"Events", testEvents},
		{"PruneEvents", testPruneEvents},
		{"Quarantine", testQuarantine},
		{"QuarantineFilter", testQuarantineFilter},
		{"QuarantineSort", testQuarantineSort},
		{"QuarantineState", testQuarantineState},
		{"Idempotency", testIdempotency},
		{"Identity", testIdentity},
		{"Leases", testLeases},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseContention", testLeaseContention},
		{"Instances", testInstances},
		{"PaymentRoundTrip", testPaymentRoundTrip},
		{"PaymentCreateTwice", testPaymentCreateTwice},
		{"PaymentUpdate", testPaymentUpdate},
		{"PaymentFilter", testPaymentFilter},
		{"PaymentConcurrent", testPaymentConcurrent},
		{"DeliveryRoundTrip", testDeliveryRoundTrip},
		{"DeliveryCreateTwice", testDeliveryCreateTwice},
		{"DeliveryUpdate", testDeliveryUpdate},
		{"DeliveryTracking", testDeliveryTracking},
		{"DeliveryFilter", testDeliveryFilter},
		{"DeliveryConcurrent", testDeliveryConcurrent},
		{"PaymentNotices", testPaymentNotices},
		{"SettlementOpen", testSettlementOpen},
		{"SettlementUpdate", testSettlementUpdate},
		{"SettlementHold", testSettlementHold},
		{"SettlementReopen", testSettlementReopen},
		{"SettlementFilter", testSettlementFilter},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"TokenInvalid", testTokenInvalid},
		{"TokenTouchRevoke", testTokenTouchRevoke},
		{"TokenTouchConcurrent", testTokenTouchConcurrent},
		{"Audit", testAudit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// =============================================================================

func testMigrateTwice(t *testing.T, s Store) {
	ctx := ctxT(t)
	must(t, s.Migrate(ctx))
	must(t, s.Migrate(ctx))
	must(t, s.PutCursor(ctx, "c", []byte("v")))
	must(t, s.Migrate(ctx))
	got, err := s.GetCursor(ctx, "c")
	must(t, err)
	if string(got) != "v" {
		t.Fatalf("cursor after re-migrate = %q", got)
	}
}

func testCursors(t *testing.T, s Store) {
	ctx := ctxT(t)
	got, err := s.GetCursor(ctx, "sonla")
	if err != nil || got != nil {
		t.Fatalf("missing cursor = %q, %v; want nil, nil", got, err)
	}
	must(t, s.PutCursor(ctx, "sonla", []byte(`{"since":"2025-01-01"}`)))
	must(t, s.PutCursor(ctx, "hatinh", []byte{0, 1, 2, 0xff}))
	must(t, s.PutCursor(ctx, "sonla", []byte(`{"since":"2025-02-01"}`)))
	got, err = s.GetCursor(ctx, "sonla")
	must(t, err)
	if string(got) != `{"since":"2025-02-01"}` {
		t.Fatalf("cursor = %q", got)
	}
	got, err = s.GetCursor(ctx, "hatinh")
	must(t, err)
	if !bytes.Equal(got, []byte{0, 1, 2, 0xff}) {
		t.Fatalf("binary cursor = %v", got)
	}
	// Stored empty is not "none".
	must(t, s.PutCursor(ctx, "empty", nil))
	got, err = s.GetCursor(ctx, "empty")
	must(t, err)
	if got == nil || len(got) != 0 {
		t.Fatalf("empty cursor = %#v; want non-nil empty", got)
	}
}

// entry makes a ledger entry with every field set.
func entry(id string, version int64) store.LedgerEntry {
	return store.LedgerEntry{
		DossierID:       id,
		Source:          "sonla",
		Province:        "14",
		Procedure:       "1.001234",
		Agency:          "000.00.14.H01",
		Version:         version,
		ContentHash:     fmt.Sprintf("sha256:%s:%d", id, version),
		Status:          4,
		Canonical:       []byte(fmt.Sprintf(`{"id": %q,  "sourceVersion": %d, "summary":"Cấp giấy phép"}`, id, version)),
		NationalState:   store.NationalHeld,
		NationalVersion: version - 1,
		NationalSteps:   3,
		// A step that occurs twice is kept twice.
		NationalStepKeys: []string{"0a1b2c3d4e5f6071", "8899aabbccddeeff", "0a1b2c3d4e5f6071"},
		// Nanoseconds and a non-UTC zone: the store must normalise.
		NationalAt: time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("ICT", 7*3600)),
		DueAt:      time.Date(2025, 3, 20, 17, 0, 0, 1500, time.FixedZone("ICT", 7*3600)),
		ResolvedAt: time.Date(2025, 3, 19, 10, 30, 0, 0, time.FixedZone("ICT", 7*3600)),
	}
}

func checkEntry(t *testing.T, got, want store.LedgerEntry, before time.Time) {
	t.Helper()
	if got.UpdatedAt.Before(before.Add(-time.Second)) || got.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("%s: UpdatedAt %v not set by the store (before %v)", want.DossierID, got.UpdatedAt, before)
	}
	if got.UpdatedAt.Location() != time.UTC {
		t.Errorf("%s: UpdatedAt zone %v, want UTC", want.DossierID, got.UpdatedAt.Location())
	}
	want.UpdatedAt = got.UpdatedAt
	want.NationalAt = store.Normalise(want.NationalAt)
	want.DueAt, want.ResolvedAt = store.Normalise(want.DueAt), store.Normalise(want.ResolvedAt)
	want.Canonical = store.NilIfEmpty(want.Canonical)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entry %s:\n got %+v\nwant %+v", want.DossierID, got, want)
	}
}

func testLedgerRoundTrip(t *testing.T, s Store) {
	ctx := ctxT(t)
	got, err := s.GetLedger(ctx, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetLedger(nil) = %v, %v; want empty map", got, err)
	}
	must(t, s.PutLedger(ctx, nil))

	before := time.Now()
	a := entry("H14.01-250101-0001", 7)
	b := entry("H14.01-250101-0002", 1)
	b.Deleted = true
	b.NationalState, b.NationalVersion, b.NationalSteps, b.NationalAt = store.NationalNone, 0, 0, time.Time{}
	b.NationalStepKeys = nil // none stays nil
	b.DueAt, b.ResolvedAt = time.Time{}, time.Time{}
	c := entry("H42.99-250101-0003", 2)
	c.Canonical = nil // nil stays nil
	c.Source, c.Province, c.NationalState = "hatinh", "42", store.NationalPending
	must(t, s.PutLedger(ctx, []store.LedgerEntry{a, b, c}))

	got, err = s.GetLedger(ctx, []string{a.DossierID, b.DossierID, c.DossierID, "missing", a.DossierID})
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3: %v", len(got), got)
	}
	checkEntry(t, got[a.DossierID], a, before)
	checkEntry(t, got[b.DossierID], b, before)
	checkEntry(t, got[c.DossierID], c, before)
	if !got[b.DossierID].NationalAt.IsZero() {
		t.Errorf("zero NationalAt came back as %v", got[b.DossierID].NationalAt)
	}
	// Canonical bytes come back exactly, white space included.
	if !bytes.Equal(got[a.DossierID].Canonical, a.Canonical) {
		t.Errorf("canonical = %q, want %q", got[a.DossierID].Canonical, a.Canonical)
	}
	// Only a (held) is held; b is none, c pending.
	held, err := s.HeldVersions(ctx, []string{a.DossierID, b.DossierID, c.DossierID, "missing"})
	must(t, err)
	if want := map[string]int64{a.DossierID: a.NationalVersion}; !reflect.DeepEqual(held, want) {
		t.Errorf("HeldVersions = %v, want %v", held, want)
	}
	if held, err := s.HeldVersions(ctx, nil); err != nil || len(held) != 0 {
		t.Errorf("HeldVersions(nil) = %v, %v; want empty", held, err)
	}
}

func testLedgerUpsert(t *testing.T, s Store) {
	ctx := ctxT(t)
	a := entry("D1", 1)
	a.NationalState = store.NationalNone
	must(t, s.PutLedger(ctx, []store.LedgerEntry{a}))
	first, err := s.GetLedger(ctx, []string{"D1"})
	must(t, err)

	time.Sleep(2 * time.Millisecond) // UpdatedAt must move on
	before := time.Now()
	a2 := entry("D1", 2)
	a2.Status, a2.Agency, a2.NationalState, a2.NationalSteps = 9, "other", store.NationalHeld, 5
	a2.NationalStepKeys = append(a2.NationalStepKeys, "ffeeddccbbaa9988", "7766554433221100")
	must(t, s.PutLedger(ctx, []store.LedgerEntry{a2, entry("D2", 1)}))
	got, err := s.GetLedger(ctx, []string{"D1", "D2"})
	must(t, err)
	checkEntry(t, got["D1"], a2, before)
	checkEntry(t, got["D2"], entry("D2", 1), before)
	if !got["D1"].UpdatedAt.After(first["D1"].UpdatedAt) {
		t.Errorf("UpdatedAt %v did not move on from %v", got["D1"].UpdatedAt, first["D1"].UpdatedAt)
	}
}

func testLedgerBatchDuplicates(t *testing.T, s Store) {
	ctx := ctxT(t)
	before := time.Now()
	must(t, s.PutLedger(ctx, []store.LedgerEntry{entry("D", 1), entry("E", 1), entry("D", 3), entry("D", 2)}))
	got, err := s.GetLedger(ctx, []string{"D", "E"})
	must(t, err)
	checkEntry(t, got["D"], entry("D", 2), before) // last in the batch wins
	checkEntry(t, got["E"], entry("E", 1), before)
}

// testLedgerKeepCanonical: an entry that keeps the canonical dossier writes
// everything else and leaves the stored one, also through Record and when
// it follows a full entry of the same dossier in one batch.
func testLedgerKeepCanonical(t *testing.T, s Store) {
	ctx := ctxT(t)
	before := time.Now()
	must(t, s.PutLedger(ctx, []store.LedgerEntry{entry("K1", 1), entry("K2", 1)}))
	keep := func(e store.LedgerEntry) store.LedgerEntry {
		e.KeepCanonical, e.Canonical = true, []byte(`{"ignored":true}`)
		return e
	}
	k1 := entry("K1", 1)
	k1.NationalState, k1.NationalVersion, k1.ContentHash = store.NationalPending, 1, ""
	must(t, s.PutLedger(ctx, []store.LedgerEntry{keep(k1)}))
	// In one batch: K2's full entry, then one keeping it (the full one's
	// canonical stays); K3 is not stored yet and gets none.
	k2 := entry("K2", 2)
	k2b := k2
	k2b.Status = 9
	k3 := entry("K3", 1)
	must(t, s.Record(ctx, store.Write{Ledger: []store.LedgerEntry{k2, keep(k2b), keep(k3)}}))
	got, err := s.GetLedger(ctx, []string{"K1", "K2", "K3"})
	must(t, err)
	checkEntry(t, got["K1"], k1, before)
	checkEntry(t, got["K2"], k2b, before)
	k3.Canonical = nil
	checkEntry(t, got["K3"], k3, before)

	// The states alone: everything but the canonical dossiers.
	states, err := s.GetLedgerStates(ctx, []string{"K1", "K2", "K3", "missing"})
	must(t, err)
	if len(states) != 3 {
		t.Fatalf("GetLedgerStates: %d entries, want 3", len(states))
	}
	for id, e := range got {
		e.Canonical = nil
		if !reflect.DeepEqual(states[id], e) {
			t.Errorf("GetLedgerStates %s:\n got %+v\nwant %+v", id, states[id], e)
		}
	}
}

func testLedgerBatchAtomic(t *testing.T, s Store) {
	ctx := ctxT(t)
	err := s.PutLedger(ctx, []store.LedgerEntry{entry("ok", 1), {DossierID: ""}})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty dossier id: err = %v, want ErrInvalid", err)
	}
	got, err := s.GetLedger(ctx, []string{"ok"})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("a failed batch wrote %v", got)
	}
}

// testRecord: one Write lands whole, each part as its own method writes it.
func testRecord(t *testing.T, s Store) {
	ctx := ctxT(t)
	must(t, s.Record(ctx, store.Write{}))
	at := time.Now().UTC().Truncate(time.Millisecond)
	must(t, s.Record(ctx, store.Write{
		Quarantine: []store.QuarantineEntry{{Source: "sonla", DossierID: "R1", Version: 1, Field: "national:21", Reason: "refused", Payload: []byte("{}")}},
		Identities: []store.IdentityLink{{DossierID: "R1", Source: "sonla", IDNumber: "014095001234"}},
		Ledger:     []store.LedgerEntry{entry("R1", 3)},
		Events:     []store.Event{{DossierID: "R1", Source: "sonla", Version: 3, Kind: "national.create", Detail: "answer 0", At: at}},
	}))
	got, err := s.GetLedger(ctx, []string{"R1"})
	must(t, err)
	if got["R1"].Version != 3 {
		t.Fatalf("ledger = %+v", got)
	}
	ev, err := s.Timeline(ctx, "R1")
	must(t, err)
	if len(ev) != 1 || ev[0].Kind != "national.create" {
		t.Fatalf("timeline = %+v", ev)
	}
	if n, err := s.CountQuarantine(ctx, "sonla"); err != nil || n != 1 {
		t.Fatalf("quarantine = %d, %v", n, err)
	}
	ids, err := s.FindByIdentity(ctx, "014095001234")
	must(t, err)
	if len(ids) != 1 || ids[0] != "R1" {
		t.Fatalf("identity = %v", ids)
	}
}

// testRecordAtomic: a Write with one bad part writes none of it.
func testRecordAtomic(t *testing.T, s Store) {
	ctx := ctxT(t)
	err := s.Record(ctx, store.Write{
		Quarantine: []store.QuarantineEntry{{Source: "sonla", DossierID: "A1", Field: "x", Reason: "y"}},
		Ledger:     []store.LedgerEntry{entry("A1", 1), {DossierID: ""}},
		Events:     []store.Event{{DossierID: "A1", Source: "sonla", Kind: "k"}},
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty dossier id: err = %v, want ErrInvalid", err)
	}
	got, err := s.GetLedger(ctx, []string{"A1"})
	must(t, err)
	ev, err2 := s.Timeline(ctx, "A1")
	must(t, err2)
	n, err3 := s.CountQuarantine(ctx, "sonla")
	must(t, err3)
	if len(got) != 0 || len(ev) != 0 || n != 0 {
		t.Fatalf("a failed write left ledger %v, events %v, %d quarantined", got, ev, n)
	}
}

func testLedgerLargeBatch(t *testing.T, s Store) {
	ctx := ctxT(t)
	// Past the parameter limits of a naive multi-row VALUES (65535 on
	// PostgreSQL, 32766 on SQLite, at 15 columns a row).
	const n = 5000
	es := make([]store.LedgerEntry, n)
	ids := make([]string, n)
	for i := range es {
		ids[i] = fmt.Sprintf("L%05d", i)
		es[i] = entry(ids[i], int64(i+1))
	}
	before := time.Now()
	must(t, s.PutLedger(ctx, es))
	got, err := s.GetLedger(ctx, ids)
	must(t, err)
	if len(got) != n {
		t.Fatalf("got %d entries, want %d", len(got), n)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		checkEntry(t, got[ids[i]], es[i], before)
	}
}

func testLedgerConcurrent(t *testing.T, s Store) {
	ctx := ctxT(t)
	const workers, batches, size = 4, 5, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				es := make([]store.LedgerEntry, size)
				for i := range es {
					// Workers overlap on IDs (concurrent upserts of one row),
					// half of them in the reverse order: the store must not
					// deadlock on row locks taken in opposite orders.
					j := i
					if w%2 == 1 {
						j = size - 1 - i
					}
					es[i] = entry(fmt.Sprintf("C%03d", (w*size/2+j)%(workers*size)), int64(b+1))
				}
				if err := s.PutLedger(ctx, es); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := make([]string, workers*size)
	for i := range ids {
		ids[i] = fmt.Sprintf("C%03d", i)
	}
	got, err := s.GetLedger(ctx, ids)
	must(t, err)
	if len(got) != (workers+1)*size/2 {
		t.Fatalf("got %d entries, want %d", len(got), (workers+1)*size/2)
	}
	for id, e := range got {
		if e.Version < 1 || e.Version > batches || e.ContentHash != entry(id, e.Version).ContentHash {
			t.Errorf("%s: torn or unknown entry %+v", id, e)
		}
	}
}

func testLedgerCounts(t *testing.T, s Store) {
	ctx := ctxT(t)
	got, err := s.LedgerCounts(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty ledger counts = %v", got)
	}
	var es []store.LedgerEntry
	add := func(id, source, state string) {
		e := entry(id, 1)
		e.Source, e.NationalState = source, state
		es = append(es, e)
	}
	add("a1", "sonla", store.NationalHeld)
	add("a2", "sonla", store.NationalHeld)
	add("a3", "sonla", store.NationalPending)
	add("b1", "hatinh", store.NationalHeld)
	add("c1", "thainguyen", store.NationalNone)
	must(t, s.PutLedger(ctx, es))
	got, err = s.LedgerCounts(ctx)
	must(t, err)
	want := map[string]int{"sonla": 2, "hatinh": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
	// A held dossier moving back to pending leaves the count.
	es[0].NationalState = store.NationalPending
	must(t, s.PutLedger(ctx, es[:1]))
	got, err = s.LedgerCounts(ctx)
	must(t, err)
	if got["sonla"] != 1 {
		t.Fatalf("counts after update = %v", got)
	}
}

// Retention deletes old events, oldest first and a batch at a time, and
// keeps those of dossiers an operator has yet to look at (open quarantine),
// the ledger and the quarantine.
func testPruneEvents(t *testing.T, s Store) {
	ctx := ctxT(t)
	now := time.Now()
	old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, store.Event{DossierID: "OLD", Source: "sonla", Version: int64(i + 1), Kind: "pulled", At: old.Add(time.Duration(i) * time.Minute), Instance: "i"})
	}
	evs = append(evs,
		store.Event{DossierID: "OLD", Source: "sonla", Version: 6, Kind: "pulled", At: recent, Instance: "i"},
		store.Event{DossierID: "HELD", Source: "sonla", Version: 1, Kind: "quarantined", At: old, Instance: "i"},
		store.Event{DossierID: "DONE", Source: "sonla", Version: 1, Kind: "quarantined", At: old.Add(time.Hour), Instance: "i"})
	must(t, s.AppendEvents(ctx, evs))
	must(t, s.PutLedger(ctx, []store.LedgerEntry{entry("OLD", 6)}))
	must(t, s.AddQuarantine(ctx, []store.QuarantineEntry{
		{Source: "sonla", DossierID: "HELD", Version: 1, Field: "f", Reason: "bad", Format: "json", Payload: []byte("{}")},
		{Source: "sonla", DossierID: "DONE", Version: 1, Field: "f", Reason: "bad", Format: "json", Payload: []byte("{}")},
	}))
	q, err := s.ListQuarantine(ctx, store.QuarantineFilter{DossierID: "DONE"})
	must(t, err)
	must(t, s.SetQuarantineState(ctx, q[0].ID, store.QuarantineDiscarded))

	cutoff := now.Add(-30 * 24 * time.Hour)
	n, err := s.PruneEvents(ctx, cutoff, 2)
	must(t, err)
	if n != 2 {
		t.Fatalf("first batch pruned %d, want 2 (the limit)", n)
	}
	tl, err := s.Timeline(ctx, "OLD")
	must(t, err)
	if len(tl) != 4 || tl[0].Version != 3 {
		t.Fatalf("after one batch the timeline is %+v; want the two oldest gone", tl)
	}
	total := n
	for {
		n, err := s.PruneEvents(ctx, cutoff, 2)
		must(t, err)
		if n == 0 {
			break
		}
		total += n
	}
	if total != 6 {
		t.Fatalf("pruned %d events in all, want 6 (five old of OLD, one of DONE)", total)
	}
	for id, want := range map[string]int{"OLD": 1, "HELD": 1, "DONE": 0} {
		tl, err := s.Timeline(ctx, id)
		must(t, err)
		if len(tl) != want {
			t.Errorf("%s: %d events left, want %d", id, len(tl), want)
		}
	}
	l, err := s.GetLedger(ctx, []string{"OLD"})
	must(t, err)
	if len(l) != 1 {
		t.Error("pruning events touched the ledger")
	}
	for _, id := range []string{"HELD", "DONE"} {
		q, err := s.ListQuarantine(ctx, store.QuarantineFilter{DossierID: id})
		must(t, err)
		if len(q) != 1 {
			t.Errorf("pruning events touched the quarantine: %d entries of %s left", len(q), id)
		}
	}
}

func testEvents(t *testing.T, s Store) {
	ctx := ctxT(t)
	got, err := s.Timeline(ctx, "none")
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("timeline of unknown = %v", got)
	}
	must(t, s.AppendEvents(ctx, nil))

	at := time.Date(2025, 5, 1, 8, 0, 0, 123456789, time.FixedZone("ICT", 7*3600))
	before := time.Now()
	batch1 := []store.Event{
		{DossierID: "D", Source: "sonla", Version: 1, Kind: "pulled", At: at, Instance: "hub-1"},
		{DossierID: "X", Source: "hatinh", Version: 1, Kind: "pulled", At: at, Instance: "hub-1"},
		{DossierID: "D", Source: "sonla", Version: 1, Kind: "normalised", At: at, Instance: "hub-1"},
		{DossierID: "D", Source: "sonla", Version: 1, Kind: "national.create", Detail: "answer 0", Instance: "hub-2"},
	}
	must(t, s.AppendEvents(ctx, batch1))
	// Appended later but earlier in time: the timeline is in time order
	// (stages record concurrently and in batches), append order only
	// within one instant.
	must(t, s.AppendEvents(ctx, []store.Event{
		{DossierID: "D", Source: "sonla", Version: 2, Kind: "retried", At: at.Add(-time.Hour), Instance: "hub-1"},
	}))
	got, err = s.Timeline(ctx, "D")
	must(t, err)
	kinds := make([]string, len(got))
	for i, e := range got {
		kinds[i] = e.Kind
	}
	if want := []string{"retried", "pulled", "normalised", "national.create"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("timeline kinds = %v, want %v", kinds, want)
	}
	got = got[1:] // the checks below are about batch1
	want0 := batch1[0]
	want0.At = store.Normalise(at)
	if !reflect.DeepEqual(got[0], want0) {
		t.Errorf("event = %+v, want %+v", got[0], want0)
	}
	if got[2].At.Before(before.Add(-time.Second)) || got[2].At.After(time.Now().Add(time.Second)) || got[2].Detail != "answer 0" || got[2].Instance != "hub-2" {
		t.Errorf("event with zero At = %+v; want At set by the store", got[2])
	}
	if first, _ := s.Timeline(ctx, "D"); first[0].Version != 2 {
		t.Errorf("first event = %+v", first[0])
	}

	// A large batch keeps its order.
	const n = 3000
	big := make([]store.Event, n)
	for i := range big {
		big[i] = store.Event{DossierID: "B", Source: "sonla", Version: int64(i), Kind: "pulled", At: at}
	}
	must(t, s.AppendEvents(ctx, big))
	got, err = s.Timeline(ctx, "B")
	must(t, err)
	if len(got) != n {
		t.Fatalf("timeline of B has %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Version != int64(i) {
			t.Fatalf("event %d has version %d: order lost", i, e.Version)
		}
	}
}

func quarantined(source, id string, version int64, field string, at time.Time) store.QuarantineEntry {
	return store.QuarantineEntry{
		Source: source, DossierID: id, Version: version, Field: field,
		Reason:  fmt.Sprintf("normalise %s: field %s: invalid value\nwith a second line", id, field),
		Format:  "json",
		Payload: []byte(fmt.Sprintf(`{"maHoSo":%q,"x":"\u0000"}`, id)),
		At:      at,
	}
}

func testQuarantine(t *testing.T, s Store) {
	ctx := ctxT(t)
	must(t, s.AddQuarantine(ctx, nil))
	at := time.Date(2025, 6, 1, 10, 0, 0, 999, time.UTC)
	q1 := quarantined("sonla", "D1", 3, "applicant.idNumber", at)
	q2 := quarantined("hatinh", "D2", 1, "status", time.Time{}) // At set by the store
	q2.Format, q2.Payload = "xml", []byte{0xef, 0xbb, 0xbf, '<', 'x', '/', '>'}
	q3 := quarantined("sonla", "D3", 1, "fees", at)
	q3.Payload = nil
	before := time.Now()
	must(t, s.AddQuarantine(ctx, []store.QuarantineEntry{q1, q2, q3}))

	all, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("listed %d, want 3", len(all))
	}
	for i, e := range all {
		if e.ID <= 0 || (i > 0 && e.ID <= all[i-1].ID) {
			t.Fatalf("IDs not increasing in insertion order: %d after %v", e.ID, all[:i])
		}
		if e.State != store.QuarantineOpen {
			t.Errorf("state %q, want open", e.State)
		}
	}
	want := []store.QuarantineEntry{q1, q2, q3}
	for i := range want {
		want[i].ID, want[i].State = all[i].ID, store.QuarantineOpen
		want[i].At = store.Normalise(want[i].At)
		want[i].Payload = store.NilIfEmpty(want[i].Payload)
	}
	want[1].At = all[1].At
	if all[1].At.Before(before.Add(-time.Second)) || all[1].At.After(time.Now().Add(time.Second)) {
		t.Errorf("zero At stored as %v", all[1].At)
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("list:\n got %+v\nwant %+v", all, want)
	}

	got, err := s.GetQuarantine(ctx, all[1].ID)
	must(t, err)
	if !reflect.DeepEqual(got, want[1]) {
		t.Errorf("get = %+v, want %+v", got, want[1])
	}
	if _, err := s.GetQuarantine(ctx, all[2].ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	bad := q1
	bad.State = "lost"
	if err := s.AddQuarantine(ctx, []store.QuarantineEntry{q1, bad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("add with bad state: err = %v, want ErrInvalid", err)
	}
	if n, err := s.CountQuarantine(ctx, ""); err != nil || n != 3 {
		t.Errorf("count after rejected batch = %d, %v; want 3", n, err)
	}
}

func testQuarantineFilter(t *testing.T, s Store) {
	ctx := ctxT(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var es []store.QuarantineEntry
	for i := range 10 {
		src := "sonla"
		if i%2 == 1 {
			src = "hatinh"
		}
		field := "status"
		if i%3 == 0 {
			field = "fees"
		}
		es = append(es, quarantined(src, fmt.Sprintf("D%d", i%4), int64(i), field, t0.Add(time.Duration(i)*time.Hour)))
	}
	must(t, s.AddQuarantine(ctx, es))
	all, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	must(t, s.SetQuarantineState(ctx, all[4].ID, store.QuarantineDiscarded))

	versions := func(f store.QuarantineFilter) []int64 { t.Helper(); return quarantineVersions(t, s, f) }
	cases := []struct {
		name string
		f    store.QuarantineFilter
		want []int64
	}{
		{"source", store.QuarantineFilter{Source: "hatinh"}, []int64{1, 3, 5, 7, 9}},
		{"dossier", store.QuarantineFilter{DossierID: "D1"}, []int64{1, 5, 9}},
		{"field", store.QuarantineFilter{Field: "fees"}, []int64{0, 3, 6, 9}},
		{"state", store.QuarantineFilter{State: store.QuarantineDiscarded}, []int64{4}},
		{"open", store.QuarantineFilter{State: store.QuarantineOpen, Source: "sonla"}, []int64{0, 2, 6, 8}},
		{"since inclusive", store.QuarantineFilter{Since: t0.Add(7 * time.Hour)}, []int64{7, 8, 9}},
		{"until exclusive", store.QuarantineFilter{Until: t0.Add(2 * time.Hour)}, []int64{0, 1}},
		{"window other zone", store.QuarantineFilter{
			Since: t0.Add(3 * time.Hour).In(time.FixedZone("ICT", 7*3600)),
			Until: t0.Add(5 * time.Hour).In(time.FixedZone("ICT", 7*3600)),
		}, []int64{3, 4}},
		{"limit", store.QuarantineFilter{Limit: 3}, []int64{0, 1, 2}},
		{"offset", store.QuarantineFilter{Offset: 8}, []int64{8, 9}},
		{"page", store.QuarantineFilter{Source: "sonla", Limit: 2, Offset: 2}, []int64{4, 6}},
		{"none", store.QuarantineFilter{Source: "nowhere"}, []int64{}},
		// Sources: nil does not filter, empty matches nothing.
		{"sources nil", store.QuarantineFilter{Sources: nil}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"sources empty", store.QuarantineFilter{Sources: []string{}}, []int64{}},
		{"sources empty and others", store.QuarantineFilter{Sources: []string{}, DossierID: "D1", State: store.QuarantineOpen}, []int64{}},
		{"sources", store.QuarantineFilter{Sources: []string{"hatinh"}}, []int64{1, 3, 5, 7, 9}},
		{"sources several", store.QuarantineFilter{Sources: []string{"nowhere", "sonla", "hatinh"}}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"sources unknown", store.QuarantineFilter{Sources: []string{"nowhere"}}, []int64{}},
		{"sources and source", store.QuarantineFilter{Source: "sonla", Sources: []string{"hatinh"}}, []int64{}},
		{"sources and source agree", store.QuarantineFilter{Source: "sonla", Sources: []string{"hatinh", "sonla"}}, []int64{0, 2, 4, 6, 8}},
		{"sources and fields", store.QuarantineFilter{Sources: []string{"sonla"}, State: store.QuarantineOpen, Field: "fees"}, []int64{0, 6}},
		{"sources window", store.QuarantineFilter{Sources: []string{"hatinh"}, Since: t0.Add(3 * time.Hour), Until: t0.Add(7 * time.Hour)}, []int64{3, 5}},
		{"sources page", store.QuarantineFilter{Sources: []string{"hatinh"}, Limit: 2, Offset: 1}, []int64{3, 5}},
	}
	for _, c := range cases {
		if got := versions(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: versions %v, want %v", c.name, got, c.want)
		}
		// The count is of every match, whatever the page.
		whole := c.f
		whole.Limit, whole.Offset = 0, 0
		if n, err := s.CountQuarantineMatching(ctx, c.f); err != nil || n != len(versions(whole)) {
			t.Errorf("%s: count %d, %v; want %d", c.name, n, err, len(versions(whole)))
		}
	}
}

// quarantineVersions is the versions of the entries f lists, in order.
func quarantineVersions(t *testing.T, s Store, f store.QuarantineFilter) []int64 {
	t.Helper()
	got, err := s.ListQuarantine(ctxT(t), f)
	must(t, err)
	out := []int64{}
	for _, e := range got {
		out = append(out, e.Version)
	}
	return out
}

// testQuarantineSort: Sort orders by each key both ways, ties in ID order
// the same way round, text by its bytes (a locale's collation would put
// "b-x" after "ba", "D_1" before "D10", "é" before "f"); it pages and
// filters as the ID order does, and the count ignores it.
func testQuarantineSort(t *testing.T, s Store) {
	ctx := ctxT(t)
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []struct {
		source, dossier, field string
		at                     time.Duration
		state                  string
	}{
		{"ba", "D-2", "f", 2 * time.Hour, store.QuarantineOpen},
		{"b-x", "D_1", "F", time.Hour, store.QuarantineDiscarded},
		{"bZ", "d1", "f", 2 * time.Hour, store.QuarantineOpen},
		{"b_y", "D-2", "é", 0, store.QuarantineReplayed},
		{"ba", "D10", "e", time.Hour, store.QuarantineOpen},
		{"b-x", "D9", "f", 3 * time.Hour, store.QuarantineOpen},
	} {
		q := quarantined(e.source, e.dossier, int64(i), e.field, t0.Add(e.at))
		q.State = e.state
		must(t, s.AddQuarantine(ctx, []store.QuarantineEntry{q})) // one at a time: IDs in this order
	}
	versions := func(f store.QuarantineFilter) []int64 { t.Helper(); return quarantineVersions(t, s, f) }
	for _, c := range []struct {
		f    store.QuarantineFilter
		want []int64
	}{
		{store.QuarantineFilter{}, []int64{0, 1, 2, 3, 4, 5}},
		{store.QuarantineFilter{Sort: "id"}, []int64{0, 1, 2, 3, 4, 5}},
		{store.QuarantineFilter{Sort: "-id"}, []int64{5, 4, 3, 2, 1, 0}},
		{store.QuarantineFilter{Sort: "at"}, []int64{3, 1, 4, 0, 2, 5}},
		{store.QuarantineFilter{Sort: "-at"}, []int64{5, 2, 0, 4, 1, 3}},
		{store.QuarantineFilter{Sort: "source"}, []int64{1, 5, 2, 3, 0, 4}},
		{store.QuarantineFilter{Sort: "-source"}, []int64{4, 0, 3, 2, 5, 1}},
		{store.QuarantineFilter{Sort: "dossier"}, []int64{0, 3, 4, 5, 1, 2}},
		{store.QuarantineFilter{Sort: "-dossier"}, []int64{2, 1, 5, 4, 3, 0}},
		{store.QuarantineFilter{Sort: "field"}, []int64{1, 4, 0, 2, 5, 3}},
		{store.QuarantineFilter{Sort: "-field"}, []int64{3, 5, 2, 0, 4, 1}},
		{store.QuarantineFilter{Sort: "state"}, []int64{1, 0, 2, 4, 5, 3}},
		{store.QuarantineFilter{Sort: "-state"}, []int64{3, 5, 4, 2, 0, 1}},
		// Pages of a sorted list, filtered.
		{store.QuarantineFilter{Sort: "-at", State: store.QuarantineOpen, Limit: 2}, []int64{5, 2}},
		{store.QuarantineFilter{Sort: "-at", State: store.QuarantineOpen, Limit: 2, Offset: 2}, []int64{0, 4}},
		{store.QuarantineFilter{Sort: "source", Sources: []string{"ba", "bZ"}}, []int64{2, 0, 4}},
		{store.QuarantineFilter{Sort: "-state", Source: "b-x", Offset: 1}, []int64{1}},
		{store.QuarantineFilter{Sort: "at", Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour), Offset: 3}, []int64{2}},
	} {
		if got := versions(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: versions %v, want %v", c.f, got, c.want)
		}
	}
	for _, bad := range []string{"reason", "-", "--at", "AT", "at desc", "id; DROP TABLE quarantine"} {
		if _, err := s.ListQuarantine(ctx, store.QuarantineFilter{Sort: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("sort %q: err = %v, want ErrInvalid", bad, err)
		}
	}
	for _, c := range []struct {
		f    store.QuarantineFilter
		want int
	}{
		{store.QuarantineFilter{}, 6},
		{store.QuarantineFilter{State: store.QuarantineOpen, Sort: "-at", Limit: 1, Offset: 3}, 4},
		{store.QuarantineFilter{Sources: []string{"ba", "bZ"}, Limit: 1}, 3},
		{store.QuarantineFilter{Sources: []string{}}, 0},
		{store.QuarantineFilter{Source: "b-x", State: store.QuarantineOpen}, 1},
		{store.QuarantineFilter{DossierID: "D-2", Field: "é"}, 1},
		{store.QuarantineFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour), Offset: 5}, 4},
	} {
		if n, err := s.CountQuarantineMatching(ctx, c.f); err != nil || n != c.want {
			t.Errorf("count %+v = %d, %v; want %d", c.f, n, err, c.want)
		}
	}
}

func testQuarantineState(t *testing.T, s Store) {
	ctx := ctxT(t)
	now := time.Now()
	must(t, s.AddQuarantine(ctx, []store.QuarantineEntry{
		quarantined("sonla", "A", 1, "f", now),
		quarantined("sonla", "B", 1, "f", now),
		quarantined("hatinh", "C", 1, "f", now),
		{Source: "hatinh", DossierID: "D", State: store.QuarantineReplayed},
	}))
	count := func(src string) int {
		t.Helper()
		n, err := s.CountQuarantine(ctx, src)
		must(t, err)
		return n
	}
	if a, b, c := count(""), count("sonla"), count("hatinh"); a != 3 || b != 2 || c != 1 {
		t.Fatalf("counts all/sonla/hatinh = %d/%d/%d, want 3/2/1", a, b, c)
	}
	all, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	must(t, s.SetQuarantineState(ctx, all[0].ID, store.QuarantineReplayed))
	must(t, s.SetQuarantineState(ctx, all[2].ID, store.QuarantineDiscarded))
	if a, b, c := count(""), count("sonla"), count("hatinh"); a != 1 || b != 1 || c != 0 {
		t.Fatalf("counts after state changes = %d/%d/%d, want 1/1/0", a, b, c)
	}
	got, err := s.GetQuarantine(ctx, all[0].ID)
	must(t, err)
	if got.State != store.QuarantineReplayed {
		t.Errorf("state = %q", got.State)
	}
	// Reopening is allowed (a replay that failed again).
	must(t, s.SetQuarantineState(ctx, all[0].ID, store.QuarantineOpen))
	if n := count("sonla"); n != 2 {
		t.Errorf("count after reopen = %d", n)
	}
	if err := s.SetQuarantineState(ctx, all[0].ID, "gone"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad state: err = %v, want ErrInvalid", err)
	}
	if err := s.SetQuarantineState(ctx, all[3].ID+1000, store.QuarantineOpen); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing id: err = %v, want ErrNotFound", err)
	}
}

func testIdempotency(t *testing.T, s Store) {
	ctx := ctxT(t)
	const key, effect = "national.create:H14-1:v3", "national.create"
	already, res, err := s.ClaimIdempotency(ctx, key, effect)
	if err != nil || already || res != nil {
		t.Fatalf("first claim = %v, %q, %v; want false, nil, nil", already, res, err)
	}
	// Claimed, effect in flight or its outcome unknown.
	already, res, err = s.ClaimIdempotency(ctx, key, effect)
	if err != nil || !already || res != nil {
		t.Fatalf("second claim = %v, %q, %v; want true, nil, nil", already, res, err)
	}
	if _, _, err := s.ClaimIdempotency(ctx, key, "national.update"); !errors.Is(err, store.ErrKeyConflict) {
		t.Fatalf("claim for another effect: err = %v, want ErrKeyConflict", err)
	}
	must(t, s.ConfirmIdempotency(ctx, key, []byte(`{"error_code":0}`)))
	already, res, err = s.ClaimIdempotency(ctx, key, effect)
	if err != nil || !already || string(res) != `{"error_code":0}` {
		t.Fatalf("claim after confirm = %v, %q, %v", already, res, err)
	}
	// Release keeps a confirmed key.
	must(t, s.ReleaseIdempotency(ctx, key))
	if already, _, err := s.ClaimIdempotency(ctx, key, effect); err != nil || !already {
		t.Fatalf("claim after releasing a confirmed key = %v, %v; want true", already, err)
	}
	if err := s.ConfirmIdempotency(ctx, "unknown", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("confirm unknown: err = %v, want ErrNotFound", err)
	}

	// A failed effect is released and can be claimed again.
	const k2 = "national.steps:H14-2:4"
	_, _, err = s.ClaimIdempotency(ctx, k2, "national.steps")
	must(t, err)
	must(t, s.ReleaseIdempotency(ctx, k2))
	if already, _, err := s.ClaimIdempotency(ctx, k2, "national.steps"); err != nil || already {
		t.Fatalf("claim after release = %v, %v; want false", already, err)
	}
	// Confirmed with no result: non-nil empty, unlike an unconfirmed claim.
	must(t, s.ConfirmIdempotency(ctx, k2, nil))
	if already, res, err := s.ClaimIdempotency(ctx, k2, "national.steps"); err != nil || !already || res == nil || len(res) != 0 {
		t.Fatalf("claim of key confirmed without result = %v, %#v, %v", already, res, err)
	}
	if _, _, err := s.ClaimIdempotency(ctx, "", "x"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key: err = %v, want ErrInvalid", err)
	}

	// Racing claims: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			already, _, err := s.ClaimIdempotency(ctx, "race", "e")
			if err != nil {
				t.Error(err)
				return
			}
			if !already {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racing claims won, want 1", wins.Load())
	}
}

func testIdentity(t *testing.T, s Store) {
	ctx := ctxT(t)
	got, err := s.FindByIdentity(ctx, "001099001234")
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty index found %v", got)
	}
	must(t, s.IndexIdentities(ctx, []store.IdentityLink{
		{DossierID: "D2", Source: "sonla", IDNumber: "001099001234"},
		{DossierID: "D1", Source: "hatinh", IDNumber: "0010 9900 1234"}, // same number, spaced
		{DossierID: "D3", Source: "sonla", IDNumber: "001099001235"},
		{DossierID: "D4", Source: "sonla", IDNumber: ""}, // skipped
	}))
	must(t, s.IndexIdentities(ctx, []store.IdentityLink{{DossierID: "D2", Source: "sonla", IDNumber: "001099001234"}})) // again
	got, err = s.FindByIdentity(ctx, " 001099001234 ")
	must(t, err)
	if want := []string{"D1", "D2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	got, err = s.FindByIdentity(ctx, "001099001235")
	must(t, err)
	if want := []string{"D3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	got, err = s.FindByIdentity(ctx, "")
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty number found %v", got)
	}
}

func testLeases(t *testing.T, s Store) {
	ctx := ctxT(t)
	const ttl = time.Minute
	ok, err := s.AcquireLease(ctx, "poll:sonla", "hub-1", ttl)
	if err != nil || !ok {
		t.Fatalf("acquire free lease = %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx, "poll:sonla", "hub-2", ttl); err != nil || ok {
		t.Fatalf("acquire held lease = %v, %v; want false", ok, err)
	}
	if ok, err := s.AcquireLease(ctx, "poll:hatinh", "hub-2", ttl); err != nil || !ok {
		t.Fatalf("acquire another name = %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx, "poll:sonla", "hub-1", ttl); err != nil || !ok {
		t.Fatalf("re-acquire own lease = %v, %v", ok, err)
	}
	if ok, err := s.RenewLease(ctx, "poll:sonla", "hub-1", ttl); err != nil || !ok {
		t.Fatalf("renew own lease = %v, %v", ok, err)
	}
	if ok, err := s.RenewLease(ctx, "poll:sonla", "hub-2", ttl); err != nil || ok {
		t.Fatalf("renew another's lease = %v, %v; want false", ok, err)
	}
	must(t, s.ReleaseLease(ctx, "poll:sonla", "hub-2")) // not the holder: no effect
	if ok, _ := s.AcquireLease(ctx, "poll:sonla", "hub-2", ttl); ok {
		t.Fatal("a non-holder's release freed the lease")
	}
	must(t, s.ReleaseLease(ctx, "poll:sonla", "hub-1"))
	if ok, err := s.AcquireLease(ctx, "poll:sonla", "hub-2", ttl); err != nil || !ok {
		t.Fatalf("acquire released lease = %v, %v", ok, err)
	}
	if ok, _ := s.RenewLease(ctx, "poll:sonla", "hub-1", ttl); ok {
		t.Fatal("old holder renewed a lease taken over")
	}
	if _, err := s.AcquireLease(ctx, "x", "h", 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("zero ttl: err = %v, want ErrInvalid", err)
	}
}

func testLeaseExpiry(t *testing.T, s Store) {
	ctx := ctxT(t)
	const ttl = 300 * time.Millisecond
	if ok, err := s.AcquireLease(ctx, "poll", "dead", ttl); err != nil || !ok {
		t.Fatalf("acquire = %v, %v", ok, err)
	}
	// The holder dies (stops renewing); another instance polls for the
	// lease and must get it within about ttl.
	start := time.Now()
	for {
		ok, err := s.AcquireLease(ctx, "poll", "alive", ttl)
		must(t, err)
		if ok {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("lease of a dead holder not taken over within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took > ttl+time.Second {
		t.Errorf("takeover took %v with ttl %v", took, ttl)
	}
	if ok, _ := s.RenewLease(ctx, "poll", "dead", ttl); ok {
		t.Fatal("dead holder renewed after takeover")
	}
}

func testLeaseContention(t *testing.T, s Store) {
	ctx := ctxT(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprintf("hub-%d", i)
			ok, err := s.AcquireLease(ctx, "contended", h, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(winners)
	if len(winners) != 1 {
		t.Fatalf("winners = %v, want exactly one", winners)
	}
}
