package trail

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// enc is docs/audit-trail.md's enc, written again from the text.
func enc(parts ...string) []byte {
	var out []byte
	for _, p := range parts {
		out = binary.BigEndian.AppendUint64(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestFormats recomputes an event's hash, a bucket digest and a root as the
// document describes them, apart from the code that writes them.
func TestFormats(t *testing.T) {
	e := Event{DossierID: "H14.01-250301-000001", Source: "sonla", Version: 3, Kind: "normalised", Detail: "Thẩm định",
		At: 1_700_000_000_123_456, Instance: "hub-1"}
	prev := sum([]byte("previous"))
	want := sum(enc(EventTag, e.DossierID, e.Source, "3", e.Kind, e.Detail, "1700000000123456", e.Instance, string(prev)))
	if got := e.Hash(prev); !bytes.Equal(got, want) {
		t.Fatalf("event hash %x, want %x", got, want)
	}
	// What PostgreSQL computes: SHA-256(prefix ‖ enc(prev)).
	if got := sum(append(e.Prefix(), enc(string(prev))...)); !bytes.Equal(got, want) {
		t.Fatalf("prefix then prev: %x, want %x", got, want)
	}

	heads := []ChainHead{
		{DossierID: "b", EventID: 9, Hash: sum([]byte("9")), At: 2},
		{DossierID: "a", EventID: 7, Hash: sum([]byte("7")), At: 1},
	}
	digest := sum(append(append(enc(BucketTag), enc("a", "7", string(heads[1].Hash), "1")...),
		enc("b", "9", string(heads[0].Hash), "2")...))
	if got := BucketDigest(heads); !bytes.Equal(got, digest) {
		t.Fatalf("bucket digest %x, want %x", got, digest)
	}
	root := sum(append(append(enc(ChainsTag), enc("5", "2", string(digest))...), enc("300", "1", "d")...))
	got := Root([]BucketSum{{Bucket: 300, Chains: 1, Digest: []byte("d")}, {Bucket: 5, Chains: 2, Digest: digest}})
	if !bytes.Equal(got, root) {
		t.Fatalf("root %x, want %x", got, root)
	}
	if b := sum([]byte("a")); Bucket("a") != int(b[0])<<8|int(b[1]) {
		t.Errorf("bucket of a: %d", Bucket("a"))
	}
}

// TestHeadKeys: a version 2 head names its key and signs it; CheckKey
// accepts a trusted key only, and names an untrusted one.
func TestHeadKeys(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	h := Head{ID: 1, At: 5, AuditID: 2, AuditHash: []byte("h"), EventsThrough: 9, Chains: 3, EventsRoot: []byte("r")}.Sign(key)
	msg := enc(HeadV2Tag, "5", "2", "h", "9", "3", "r", "0", string(pub))
	if h.Version != 2 || !bytes.Equal(h.Message(), msg) || !ed25519.Verify(pub, msg, h.Signature) {
		t.Fatalf("head %+v", h)
	}
	for _, c := range []struct {
		trusted []ed25519.PublicKey
		want    string
	}{
		{nil, ""},
		{[]ed25519.PublicKey{other, pub}, ""},
		{[]ed25519.PublicKey{other}, "untrusted: signed by key " + Fingerprint(pub) + ", which is not a trusted key"},
	} {
		if got := CheckKey(h, c.trusted); got != c.want {
			t.Errorf("trusted %d keys: %q, want %q", len(c.trusted), got, c.want)
		}
	}
	h.EventsThrough++
	if got := CheckKey(h, []ed25519.PublicKey{pub}); got != "altered: its signature does not verify with its key "+Fingerprint(pub) {
		t.Errorf("altered head: %q", got)
	}
	// A version 1 head exported without its key: any trusted key may have
	// signed it.
	v1 := Head{At: 5, AuditID: 2, AuditHash: []byte("h")}
	v1.Signature = ed25519.Sign(key, v1.Message())
	if got := CheckKey(v1, []ed25519.PublicKey{other, pub}); got != "" {
		t.Errorf("version 1 head: %q", got)
	}
}
