package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	testKey  = bytes.Repeat([]byte{1}, EncryptionKeyLen)
	otherKey = bytes.Repeat([]byte{2}, EncryptionKeyLen)
)

func newTestSealer(t *testing.T, current []byte, old ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	s := newTestSealer(t, testKey)
	plain := []byte(`{"applicant":{"idNumber":"014095001234"}}`)
	sealed := s.Seal(nil, SealLedgerCanonical, "D1", plain)
	if len(sealed) != len(plain)+SealOverhead || len(sealed) != s.SealedLen(len(plain)) {
		t.Fatalf("sealed %d bytes to %d, want +%d", len(plain), len(sealed), SealOverhead)
	}
	if bytes.Contains(sealed, []byte("014095001234")) {
		t.Fatal("sealed value holds the plaintext")
	}
	if again := s.Seal(nil, SealLedgerCanonical, "D1", plain); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: nonce not random")
	}
	if !s.IsCurrent(sealed) || !bytes.HasPrefix(sealed, s.CurrentHeader()) {
		t.Fatal("fresh value not current")
	}
	got, err := s.Open(SealLedgerCanonical, "D1", bytes.Clone(sealed))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	// Empty values are stored empty and read as nil.
	if e := s.Seal([]byte{}, SealLedgerCanonical, "D1", nil); e == nil || len(e) != 0 {
		t.Fatalf("sealed empty = %#v", e)
	}
	if got, err := s.Open(SealLedgerCanonical, "D1", []byte{}); err != nil || got != nil {
		t.Fatalf("open empty = %#v, %v", got, err)
	}
	// Seal appends.
	if out := s.Seal([]byte("prefix"), SealLedgerCanonical, "D1", plain); !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatal("Seal did not append to dst")
	}
}

func TestSealBinding(t *testing.T) {
	s := newTestSealer(t, testKey)
	sealed := s.Seal(nil, SealLedgerCanonical, "D1", []byte("secret"))
	for name, open := range map[string]func() ([]byte, error){
		"other row":    func() ([]byte, error) { return s.Open(SealLedgerCanonical, "D2", bytes.Clone(sealed)) },
		"other column": func() ([]byte, error) { return s.Open(SealQuarantinePayload, "D1", bytes.Clone(sealed)) },
		"altered": func() ([]byte, error) {
			b := bytes.Clone(sealed)
			b[len(b)-20] ^= 1
			return s.Open(SealLedgerCanonical, "D1", b)
		},
		"truncated": func() ([]byte, error) { return s.Open(SealLedgerCanonical, "D1", bytes.Clone(sealed[:SealOverhead-1])) },
		"unknown format": func() ([]byte, error) {
			return s.Open(SealLedgerCanonical, "D1", []byte(`{"legacy":"untagged"}`))
		},
	} {
		if got, err := open(); !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: open = %q, %v; want ErrDecrypt", name, got, err)
		}
	}
}

// OpenCopy leaves the sealed bytes as they were, compressed or not, opened
// or refused, so they open again.
func TestSealOpenCopy(t *testing.T) {
	s := newTestSealer(t, testKey)
	for name, plain := range map[string][]byte{
		"short":        []byte("secret"),
		"compressible": bytes.Repeat([]byte(`{"name":"Nguyễn Văn An"}`), 20),
	} {
		sealed := s.Seal(nil, SealLedgerCanonical, "D1", plain)
		keep := bytes.Clone(sealed)
		for range 2 {
			got, err := s.OpenCopy(SealLedgerCanonical, "D1", sealed)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s: open copy = %q, %v", name, got, err)
			}
			if !bytes.Equal(sealed, keep) {
				t.Fatalf("%s: OpenCopy changed the sealed bytes", name)
			}
		}
		if _, err := s.OpenCopy(SealLedgerCanonical, "D2", sealed); !errors.Is(err, ErrDecrypt) || !bytes.Equal(sealed, keep) {
			t.Fatalf("%s: refused open copy: %v; sealed bytes changed: %v", name, err, !bytes.Equal(sealed, keep))
		}
	}
}

func TestSealWrongKey(t *testing.T) {
	sealed := newTestSealer(t, testKey).Seal(nil, SealIdempotencyResult, "k", []byte("secret"))
	_, err := newTestSealer(t, otherKey).Open(SealIdempotencyResult, "k", sealed)
	id := hex.EncodeToString(KeyID(testKey))
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), SealIdempotencyResult) {
		t.Fatalf("wrong key: err = %v; want ErrDecrypt naming key id %s and the column", err, id)
	}
	if _, err := ClearSealer().Open(SealIdempotencyResult, "k", sealed); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "WithoutEncryption") {
		t.Fatalf("no key: err = %v", err)
	}
}

func TestSealRotation(t *testing.T) {
	old := newTestSealer(t, testKey)
	sealedOld := old.Seal(nil, SealQuarantinePayload, "r", []byte("v1"))
	clear := ClearSealer().Seal(nil, SealQuarantinePayload, "r", []byte("v0"))

	s := newTestSealer(t, otherKey, testKey, otherKey) // a repeated key is harmless
	sealedNew := s.Seal(nil, SealQuarantinePayload, "r", []byte("v2"))
	for stored, want := range map[string]string{string(sealedOld): "v1", string(sealedNew): "v2", string(clear): "v0"} {
		got, err := s.Open(SealQuarantinePayload, "r", []byte(stored))
		if err != nil || string(got) != want {
			t.Errorf("open = %q, %v; want %q", got, err, want)
		}
	}
	if s.IsCurrent(sealedOld) || s.IsCurrent(clear) || !s.IsCurrent(sealedNew) || !s.IsCurrent(nil) {
		t.Error("IsCurrent wrong")
	}
	if _, err := old.Open(SealQuarantinePayload, "r", sealedNew); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old key opened a new value: %v", err)
	}
}

func TestClearSealer(t *testing.T) {
	s := ClearSealer()
	if s.Encrypts() {
		t.Fatal("clear sealer encrypts")
	}
	stored := s.Seal(nil, SealLedgerCanonical, "D", []byte{0x01, 'x'}) // looks like a sealed value
	if !bytes.Equal(stored, []byte{0x00, 0x01, 'x'}) {
		t.Fatalf("stored = %x", stored)
	}
	if got, err := s.Open(SealLedgerCanonical, "D", stored); err != nil || !bytes.Equal(got, []byte{0x01, 'x'}) {
		t.Fatalf("open = %x, %v", got, err)
	}
	if got, err := s.Open(SealLedgerCanonical, "D", []byte{0x00}); err != nil || got != nil {
		t.Fatalf("open of a tagged empty value = %#v, %v", got, err)
	}
	if !s.IsCurrent(stored) {
		t.Fatal("clear value not current for a clear sealer")
	}
}

func TestSealAll(t *testing.T) {
	s := newTestSealer(t, testKey)
	values := [][]byte{[]byte("a"), nil, []byte("ccc"), {}}
	rows := []string{"1", "2", "3", "4"}
	out := s.SealAll(SealLedgerCanonical, rows, values)
	for i, o := range out {
		if o == nil {
			t.Fatalf("value %d sealed to nil", i)
		}
		if cap(o) != len(o) {
			t.Fatalf("value %d: cap %d > len %d: an append would overwrite the next", i, cap(o), len(o))
		}
		got, err := s.Open(SealLedgerCanonical, rows[i], bytes.Clone(o))
		if err != nil || !bytes.Equal(got, values[i]) {
			t.Fatalf("value %d = %q, %v", i, got, err)
		}
	}
}

func TestSealerKeys(t *testing.T) {
	if _, err := NewSealer([]byte("short")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewSealer(testKey, make([]byte, 16)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "old") {
		t.Fatalf("short old key: %v", err)
	}
	if bytes.Equal(KeyID(testKey), KeyID(otherKey)) || len(KeyID(testKey)) != 4 {
		t.Fatal("key ids")
	}
	key := bytes.Clone(testKey)
	s := newTestSealer(t, key)
	sealed := s.Seal(nil, SealLedgerCanonical, "D", []byte("v"))
	key[0] ^= 0xff // the sealer does not keep the caller's slice
	if _, err := s.Open(SealLedgerCanonical, "D", sealed); err != nil {
		t.Fatal(err)
	}
}

func TestApplyOptionsEncryption(t *testing.T) {
	if _, err := ApplyOptions(nil); !errors.Is(err, ErrNoEncryptionKey) {
		t.Fatalf("no option: %v", err)
	}
	if _, err := ApplyOptions([]Option{WithEncryptionKey(testKey), WithoutEncryption()}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("both: %v", err)
	}
	o, err := ApplyOptions([]Option{WithoutEncryption()})
	if err != nil || o.Sealer == nil || o.Sealer.Encrypts() {
		t.Fatalf("without encryption = %+v, %v", o, err)
	}
	o, err = ApplyOptions([]Option{WithEncryptionKeys(otherKey, testKey)})
	if err != nil || !o.Sealer.Encrypts() || !bytes.Equal(o.Sealer.CurrentHeader()[1:], KeyID(otherKey)) {
		t.Fatalf("with keys = %+v, %v", o, err)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "encryption.key")
	var (
		wg   sync.WaitGroup
		keys [8][]byte
		errs [8]error
	)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKeyFile(path)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || len(keys[i]) != EncryptionKeyLen || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("racing creators disagree: %x %v / %x", keys[i], errs[i], keys[0])
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("reload = %x, %v", again, err)
	}
	if _, err := NewSealer(again); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("not hex"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad key file: %v", err)
	}
}

func TestSealCompresses(t *testing.T) {
	s := newTestSealer(t, testKey)
	doc := []byte(`{"applicant":{"idNumber":"014095001234"},"summary":"` + strings.Repeat("Cấp giấy phép xây dựng ", 100) + `"}`)
	sealed := s.Seal(nil, SealLedgerCanonical, "D1", doc)
	if len(sealed) >= len(doc)/2 {
		t.Fatalf("a repetitive %d-byte value sealed to %d bytes: not compressed", len(doc), len(sealed))
	}
	if len(sealed) > s.SealedLen(len(doc)) {
		t.Fatal("SealedLen is not an upper bound")
	}
	got, err := s.Open(SealLedgerCanonical, "D1", sealed)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("open = %q, %v", got, err)
	}
	// Random bytes do not compress: stored as is, at the full overhead.
	noise := make([]byte, 4096)
	_, _ = rand.Read(noise)
	sealed = s.Seal(nil, SealQuarantinePayload, "r", noise)
	if len(sealed) != len(noise)+SealOverhead {
		t.Fatalf("random value sealed to %d bytes, want %d", len(sealed), len(noise)+SealOverhead)
	}
	if got, err := s.Open(SealQuarantinePayload, "r", sealed); err != nil || !bytes.Equal(got, noise) {
		t.Fatalf("open random = %v", err)
	}
	// A batch mixing both shares one allocation and reads back.
	out := s.SealAll(SealLedgerCanonical, []string{"a", "b", "c"}, [][]byte{doc, noise, doc[:10]})
	for i, want := range [][]byte{doc, noise, doc[:10]} {
		if got, err := s.Open(SealLedgerCanonical, []string{"a", "b", "c"}[i], out[i]); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("batch value %d: %v", i, err)
		}
	}
}

func BenchmarkSealAll(b *testing.B) {
	s, _ := NewSealer(testKey)
	doc := []byte(`{"applicant":{"idNumber":"014095001234"},"summary":"` + strings.Repeat("Cấp giấy phép xây dựng ", 100) + `"}`)
	values, rows := make([][]byte, 1000), make([]string, 1000)
	for i := range values {
		values[i], rows[i] = doc, "H14.01-250301-000001"
	}
	b.SetBytes(int64(len(doc) * len(values)))
	for b.Loop() {
		s.SealAll(SealLedgerCanonical, rows, values)
	}
}
