package storetest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lienthong/lienthong/store"
)

// Database is one fresh, empty database for the encryption suite, which
// opens several stores on it with different keys.
type Database struct {
	// Open opens (and migrates) a store on the database with exactly opts.
	// The suite closes the stores it opens.
	Open func(t *testing.T, opts ...store.Option) (Store, error)
	// Dump returns what a copy of the database would show an attacker: the
	// bytes of its files, or a dump of its tables. It may be called while
	// stores are open.
	Dump func(t *testing.T) []byte
}

// Personal data the encryption suite writes and then looks for in dumps.
const (
	CCCD  = "014095001234"
	Phone = "0912345678"
	Email = "an.nguyen@example.vn"
	Name  = "Nguyễn Văn An"
)

// OtherEncryptionKey is a second key for the rotation and wrong-key tests.
var OtherEncryptionKey = []byte("another storetest encryption key")

// RunEncryption runs the encryption-at-rest suite. newDB returns a fresh
// empty database; it registers its clean-up with t.Cleanup.
func RunEncryption(t *testing.T, newDB func(t *testing.T) Database) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db Database)
	}{
		{"RequiresKeyChoice", testRequiresKeyChoice},
		{"NotInClear", testNotInClear},
		{"ClearIsVisible", testClearIsVisible},
		{"WrongKey", testWrongKey},
		{"Rotation", testRotation},
		{"ResealClear", testResealClear},
		{"ResealConcurrent", testResealConcurrent},
		{"NoticeSealed", testNoticeSealed},
		{"ResealBatches", testResealBatches},
		{"TokenSecretNotStored", testTokenSecretNotStored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newDB(t)) })
	}
}

func open(t *testing.T, db Database, opts ...store.Option) Store {
	t.Helper()
	s, err := db.Open(t, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func withKeys(keys ...[]byte) []store.Option {
	return []store.Option{store.WithIdentityKey(IdentityKey), store.WithEncryptionKeys(keys[0], keys[1:]...)}
}

func withoutEncryption() []store.Option {
	return []store.Option{store.WithIdentityKey(IdentityKey), store.WithoutEncryption()}
}

// PersonalData returns a canonical dossier, a raw record and a portal
// answer, all carrying the applicant's personal data (CCCD, Phone, Email,
// Name).
func PersonalData(id string, version int64) (canonical, raw, answer []byte) {
	canonical = []byte(fmt.Sprintf(`{"id":%q,"sourceVersion":%d,"applicant":{"kind":"citizen","name":%q,"idType":"CCCD","idNumber":%q,"phone":%q,"email":%q,"address":{"provinceCode":"14","detail":"Số 12, đường Tô Hiệu"}}}`,
		id, version, Name, CCCD, Phone, Email))
	raw = []byte(fmt.Sprintf(`<hoSo><maHoSo>%s</maHoSo><chuHoSo><hoTen>%s</hoTen><soDinhDanh>%s</soDinhDanh><dienThoai>%s</dienThoai><email>%s</email></chuHoSo></hoSo>`,
		id, Name, CCCD, Phone, Email))
	answer = []byte(fmt.Sprintf(`{"error_code":0,"echo":{"so_giay_to":%q,"so_dien_thoai":%q}}`, CCCD, Phone))
	return canonical, raw, answer
}

// writePersonal writes n dossiers' personal data in every place the store
// takes it: ledger, quarantine, idempotency results, payment notices and
// identity index.
func writePersonal(t *testing.T, s Store, prefix string, n int) {
	t.Helper()
	ctx := ctxT(t)
	var (
		es    []store.LedgerEntry
		qs    []store.QuarantineEntry
		links []store.IdentityLink
	)
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		canon, raw, answer := PersonalData(id, int64(i+1))
		e := entry(id, int64(i+1))
		e.Canonical = canon
		es = append(es, e)
		q := quarantined("sonla", id, int64(i+1), "chuHoSo.ngaySinh", store.Now())
		q.Format, q.Payload = "xml", raw
		qs = append(qs, q)
		links = append(links, store.IdentityLink{DossierID: id, Source: "sonla", IDNumber: CCCD})
		key := "national.create:" + id
		_, _, err := s.ClaimIdempotency(ctx, key, "national.create")
		must(t, err)
		must(t, s.ConfirmIdempotency(ctx, key, answer))
		addNotice(t, s, "TT-"+id, personalNotice(id))
	}
	must(t, s.PutLedger(ctx, es))
	must(t, s.AddQuarantine(ctx, qs))
	must(t, s.IndexIdentities(ctx, links))
	must(t, s.AppendEvents(ctx, []store.Event{{DossierID: es[0].DossierID, Source: "sonla", Version: 1, Kind: "pulled"}}))
}

// checkPersonal reads back what writePersonal wrote, in clear.
func checkPersonal(t *testing.T, s Store, prefix string, n int) {
	t.Helper()
	ctx := ctxT(t)
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("%s-%03d", prefix, i))
	}
	got, err := s.GetLedger(ctx, ids)
	must(t, err)
	qs, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	payloads := map[string][]byte{}
	for _, q := range qs {
		payloads[q.DossierID] = q.Payload
	}
	for i, id := range ids {
		canon, raw, answer := PersonalData(id, int64(i+1))
		if !bytes.Equal(got[id].Canonical, canon) {
			t.Fatalf("%s: canonical = %q, want %q", id, got[id].Canonical, canon)
		}
		if !bytes.Equal(payloads[id], raw) {
			t.Fatalf("%s: quarantined payload = %q, want %q", id, payloads[id], raw)
		}
		already, res, err := s.ClaimIdempotency(ctx, "national.create:"+id, "national.create")
		if err != nil || !already || !bytes.Equal(res, answer) {
			t.Fatalf("%s: idempotency result = %v, %q, %v; want %q", id, already, res, err, answer)
		}
		checkNotices(t, s, "TT-"+id, personalNotice(id))
	}
	found, err := s.FindByIdentity(ctx, CCCD)
	must(t, err)
	for _, id := range ids {
		if !slices.Contains(found, id) {
			t.Fatalf("FindByIdentity(%s) = %v: %s missing", CCCD, found, id)
		}
	}
}

// personalNotice is the payment notification of dossier id's fees, naming
// the payer with all of the applicant's personal data.
func personalNotice(id string) []byte {
	return noticePayload("TT-"+id, strings.Join([]string{Name, CCCD, Phone, Email}, ", "))
}

// InDump returns the needles found in dump, as bytes or as the hex a dump
// of a binary column shows. The plain search skips pg_dump's hex-encoded
// binary columns (\x…): a digits-only needle such as a phone number is
// itself valid hex and would be found by chance inside ciphertext, while a
// value stored in clear in such a column shows as the hex of the needle.
func InDump(dump []byte, needles ...string) []string {
	var found []string
	lower := bytes.ToLower(dump)
	text := byteaHex.ReplaceAll(dump, nil)
	for _, n := range needles {
		if bytes.Contains(text, []byte(n)) || bytes.Contains(lower, []byte(hex.EncodeToString([]byte(n)))) {
			found = append(found, n)
		}
	}
	return found
}

// byteaHex matches a binary value as pg_dump writes it.
var byteaHex = regexp.MustCompile(`\\x[0-9a-fA-F]+`)

// =============================================================================

func testRequiresKeyChoice(t *testing.T, db Database) {
	if s, err := db.Open(t, store.WithIdentityKey(IdentityKey)); !errors.Is(err, store.ErrNoEncryptionKey) {
		if err == nil {
			_ = s.Close()
		}
		t.Fatalf("open without an encryption option: err = %v, want ErrNoEncryptionKey", err)
	} else if !strings.Contains(err.Error(), "WithEncryptionKey") {
		t.Errorf("error %q does not say which option is missing", err)
	}
	for name, opts := range map[string][]store.Option{
		"short key":        {store.WithEncryptionKey([]byte("short"))},
		"short old key":    {store.WithEncryptionKeys(EncryptionKey, []byte("short"))},
		"key and no key":   {store.WithEncryptionKey(EncryptionKey), store.WithoutEncryption()},
		"no key and a key": {store.WithoutEncryption(), store.WithEncryptionKey(EncryptionKey)},
	} {
		if s, err := db.Open(t, opts...); !errors.Is(err, store.ErrInvalid) {
			if err == nil {
				_ = s.Close()
			}
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// testNotInClear is the acceptance test of encryption at rest: the
// personal data written is in no table in clear, and the dossier is still
// found by its applicant's CCCD.
func testNotInClear(t *testing.T, db Database) {
	s := open(t, db, withKeys(EncryptionKey)...)
	writePersonal(t, s, "H14.01-250301", 5)
	checkPersonal(t, s, "H14.01-250301", 5)
	if found := InDump(db.Dump(t), CCCD, Phone, Email, Name); len(found) > 0 {
		t.Fatalf("found in clear in the database: %q", found)
	}
	// The dossier IDs are not personal data and are stored in clear: the
	// dump did see the rows.
	if found := InDump(db.Dump(t), "H14.01-250301-004"); len(found) == 0 {
		t.Fatal("the dump holds none of the rows written")
	}
}

// testClearIsVisible makes sure testNotInClear can fail: the same data
// written WithoutEncryption is found in the dump.
func testClearIsVisible(t *testing.T, db Database) {
	s := open(t, db, withoutEncryption()...)
	writePersonal(t, s, "D", 2)
	checkPersonal(t, s, "D", 2)
	if found := InDump(db.Dump(t), CCCD, Phone, Email, Name); len(found) != 4 {
		t.Fatalf("WithoutEncryption: found %q in the dump, want all four", found)
	}
}

func testWrongKey(t *testing.T, db Database) {
	ctx := ctxT(t)
	s := open(t, db, withKeys(EncryptionKey)...)
	writePersonal(t, s, "D", 1)
	must(t, s.Close())

	keyID := hex.EncodeToString(store.KeyID(EncryptionKey))
	for name, opts := range map[string][]store.Option{
		"another key":        withKeys(OtherEncryptionKey),
		"without encryption": withoutEncryption(),
	} {
		other := open(t, db, opts...)
		_, err := other.GetLedger(ctx, []string{"D-000"})
		if !errors.Is(err, store.ErrDecrypt) || !strings.Contains(err.Error(), keyID) || !strings.Contains(err.Error(), "D-000") {
			t.Errorf("%s: get ledger: err = %v; want ErrDecrypt naming key %s and the dossier", name, err, keyID)
		}
		if _, err := other.ListQuarantine(ctx, store.QuarantineFilter{}); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: list quarantine: err = %v; want ErrDecrypt", name, err)
		}
		if _, _, err := other.ClaimIdempotency(ctx, "national.create:D-000", "national.create"); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: claim idempotency: err = %v; want ErrDecrypt", name, err)
		}
		if _, err := other.ListPaymentNotices(ctx, store.NoticeFilter{}); !errors.Is(err, store.ErrDecrypt) {
			t.Errorf("%s: list payment notices: err = %v; want ErrDecrypt", name, err)
		}
		if _, err := other.Reseal(ctx); !errors.Is(err, store.ErrDecrypt) && !errors.Is(err, store.ErrNoEncryptionKey) {
			t.Errorf("%s: reseal: err = %v; want ErrDecrypt or ErrNoEncryptionKey", name, err)
		}
		// Columns in clear still read: the ledger's other fields are intact.
		if n, err := other.LedgerCounts(ctx); err != nil || n["sonla"] != 1 {
			t.Errorf("%s: ledger counts = %v, %v", name, n, err)
		}
		must(t, other.Close())
	}
	// The right key still reads everything.
	checkPersonal(t, open(t, db, withKeys(EncryptionKey)...), "D", 1)
}

func testRotation(t *testing.T, db Database) {
	ctx := ctxT(t)
	old := open(t, db, withKeys(EncryptionKey)...)
	writePersonal(t, old, "A", 3)
	must(t, old.Close())

	// Rotate: new values under the new key, old ones still readable.
	s := open(t, db, withKeys(OtherEncryptionKey, EncryptionKey)...)
	checkPersonal(t, s, "A", 3)
	writePersonal(t, s, "B", 2)
	checkPersonal(t, s, "B", 2)
	// The old key alone cannot read what the new key sealed.
	oldOnly := open(t, db, withKeys(EncryptionKey)...)
	if _, err := oldOnly.GetLedger(ctx, []string{"B-000"}); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("old key reading a new value: err = %v, want ErrDecrypt", err)
	}
	must(t, oldOnly.Close())

	n, err := s.Reseal(ctx)
	must(t, err)
	if n != 3*4 { // A's ledger, quarantine, idempotency and payment notice values
		t.Errorf("resealed %d values, want 12", n)
	}
	if n, err := s.Reseal(ctx); err != nil || n != 0 {
		t.Errorf("second reseal = %d, %v; want 0", n, err)
	}
	must(t, s.Close())

	// The old key can go.
	s = open(t, db, withKeys(OtherEncryptionKey)...)
	checkPersonal(t, s, "A", 3)
	checkPersonal(t, s, "B", 2)
}

// testResealClear is the path of a store that ran WithoutEncryption (or
// of data written before encryption): once a key is configured, reads work
// at once and Reseal encrypts what was in clear.
func testResealClear(t *testing.T, db Database) {
	ctx := ctxT(t)
	clear := open(t, db, withoutEncryption()...)
	writePersonal(t, clear, "D", 3)
	must(t, clear.Close())
	if found := InDump(db.Dump(t), CCCD); len(found) == 0 {
		t.Fatal("data written WithoutEncryption is not in clear")
	}

	s := open(t, db, withKeys(EncryptionKey)...)
	checkPersonal(t, s, "D", 3)
	n, err := s.Reseal(ctx)
	must(t, err)
	if n != 3*4 {
		t.Errorf("resealed %d values, want 12", n)
	}
	checkPersonal(t, s, "D", 3)
	must(t, s.Close())
	if found := InDump(db.Dump(t), CCCD, Phone, Email, Name); len(found) > 0 {
		t.Fatalf("found in clear after Reseal: %q", found)
	}
}

// testResealConcurrent runs Reseal while the hub keeps writing new
// versions: no write may be lost to a value Reseal read before it.
func testResealConcurrent(t *testing.T, db Database) {
	ctx := ctxT(t)
	const n = 300
	ids := make([]string, n)
	es := make([]store.LedgerEntry, n)
	for i := range es {
		ids[i] = fmt.Sprintf("R%04d", i)
		es[i] = entry(ids[i], 1)
	}
	old := open(t, db, withKeys(EncryptionKey)...)
	must(t, old.PutLedger(ctx, es))
	must(t, old.Close())

	s := open(t, db, withKeys(OtherEncryptionKey, EncryptionKey)...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := int64(2); v <= 6; v++ {
			batch := make([]store.LedgerEntry, n)
			for i := range batch {
				batch[i] = entry(ids[i], v)
			}
			if err := s.PutLedger(ctx, batch); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	_, err := s.Reseal(ctx)
	wg.Wait()
	must(t, err)
	got, err := s.GetLedger(ctx, ids)
	must(t, err)
	for _, id := range ids {
		if want := entry(id, 6).Canonical; !reflect.DeepEqual(got[id].Canonical, want) || got[id].Version != 6 {
			t.Fatalf("%s: version %d canonical %q after a concurrent reseal; want version 6 %q", id, got[id].Version, got[id].Canonical, want)
		}
	}
	if n, err := s.Reseal(ctx); err != nil || n != 0 {
		t.Errorf("reseal after the writes = %d, %v; want 0", n, err)
	}
}

// testResealBatches rotates the key over more quarantined records and
// payment notices (the columns keyed by a row ID) than Reseal rewrites in
// one batch: one run reseals them all, and the old key can go.
func testResealBatches(t *testing.T, db Database) {
	ctx := ctxT(t)
	const n = 520
	ref := func(i int) string { return fmt.Sprintf("TT-%04d", i/2) } // two notices a ref
	payload := func(i int) []byte { return noticePayload(ref(i), fmt.Sprintf("%s %d", Name, i)) }
	old := open(t, db, withKeys(EncryptionKey)...)
	qs := make([]store.QuarantineEntry, n)
	for i := range n {
		qs[i] = quarantined("sonla", fmt.Sprintf("Q%04d", i), 1, "f", store.Now())
		addNotice(t, old, ref(i), payload(i))
	}
	must(t, old.AddQuarantine(ctx, qs))
	addNotice(t, old, "TT-empty", nil) // nothing to reseal
	must(t, old.Close())

	s := open(t, db, withKeys(OtherEncryptionKey, EncryptionKey)...)
	got, err := s.Reseal(ctx)
	must(t, err)
	if got != 2*n {
		t.Errorf("resealed %d values, want %d", got, 2*n)
	}
	if got, err := s.Reseal(ctx); err != nil || got != 0 {
		t.Errorf("second reseal = %d, %v; want 0", got, err)
	}
	must(t, s.Close())

	s = open(t, db, withKeys(OtherEncryptionKey)...)
	all, err := s.ListPaymentNotices(ctx, store.NoticeFilter{})
	must(t, err)
	if len(all) != n+1 {
		t.Fatalf("listed %d notices with the new key alone, want %d", len(all), n+1)
	}
	for i, nt := range all[:n] {
		if nt.Ref != ref(i) || !bytes.Equal(nt.Payload, payload(i)) {
			t.Fatalf("notice %d: %s %q; want %s %q", i, nt.Ref, nt.Payload, ref(i), payload(i))
		}
	}
	checkNotices(t, s, "TT-empty", nil)
	got2, err := s.ListQuarantine(ctx, store.QuarantineFilter{})
	must(t, err)
	if len(got2) != n {
		t.Fatalf("listed %d quarantined records with the new key alone, want %d", len(got2), n)
	}
	for i, q := range got2 {
		if !bytes.Equal(q.Payload, qs[i].Payload) {
			t.Fatalf("quarantined %s: payload %q, want %q", q.DossierID, q.Payload, qs[i].Payload)
		}
	}
}
