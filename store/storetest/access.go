package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
)

// Access: API tokens and the audit log.

// secretAndHash returns a token secret as package auth makes them and its
// SHA-256, which is all the store is given.
func secretAndHash(t *testing.T) (string, []byte) {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	secret := "lt_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(secret))
	return secret, h[:]
}

// token makes a token of role with a fresh hash.
func token(t *testing.T, id, role, province string) store.APIToken {
	t.Helper()
	_, h := secretAndHash(t)
	return store.APIToken{ID: id, Hash: h, Name: "token " + id + ", Sở TT&TT", Role: role, Province: province}
}

// tokenByHash looks hash up and compares the token with want.
func tokenByHash(t *testing.T, s Store, hash []byte, want store.APIToken) {
	t.Helper()
	got, err := s.TokenByHash(ctxT(t), hash)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("token by hash:\n got %+v, %v\nwant %+v", got, err, want)
	}
}

func testTokenRoundTrip(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}

	// CreatedAt zero: set by the store.
	before := time.Now()
	nat := token(t, "n1", store.RoleNational, "")
	must(t, s.CreateToken(ctx, nat))
	got, err := s.TokenByHash(ctx, nat.Hash)
	must(t, err)
	checkSetByStore(t, "CreatedAt", got.CreatedAt, before)
	want := nat
	want.CreatedAt = got.CreatedAt
	if !reflect.DeepEqual(got, want) || got.Revoked() {
		t.Fatalf("national token:\n got %+v\nwant %+v", got, want)
	}

	// Every field set, times in another zone with nanoseconds.
	prov := token(t, "p-14", store.RoleProvincial, "14")
	prov.CreatedAt = time.Date(2025, 11, 1, 8, 0, 0, 123456789, ict)
	prov.LastUsedAt = time.Date(2025, 11, 2, 8, 0, 0, 987654321, ict)
	must(t, s.CreateToken(ctx, prov))
	wantProv := prov
	wantProv.CreatedAt, wantProv.LastUsedAt = store.Normalise(prov.CreatedAt), store.Normalise(prov.LastUsedAt)
	tokenByHash(t, s, prov.Hash, wantProv)

	postal := token(t, "v1", store.RolePostal, "")
	postal.Name = ""
	postal.CreatedAt = time.Date(2025, 11, 3, 0, 0, 0, 0, time.UTC)
	must(t, s.CreateToken(ctx, postal))
	tokenByHash(t, s, postal.Hash, postal)

	list, err := s.ListTokens(ctx)
	must(t, err)
	if !reflect.DeepEqual(list, []store.APIToken{wantProv, postal, want}) {
		t.Errorf("list, by creation:\n got %+v\nwant %+v", list, []store.APIToken{wantProv, postal, want})
	}

	_, unknown := secretAndHash(t)
	for name, h := range map[string][]byte{"unknown": unknown, "empty": nil, "prefix": nat.Hash[:16]} {
		if _, err := s.TokenByHash(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token by %s hash: err = %v, want ErrNotFound", name, err)
		}
	}
}

func testTokenInvalid(t *testing.T, s Store) {
	ctx := ctxT(t)
	good := token(t, "t1", store.RoleProvincial, "42")
	must(t, s.CreateToken(ctx, good))
	stored, err := s.TokenByHash(ctx, good.Hash)
	must(t, err)

	bad := func(mod func(*store.APIToken)) store.APIToken {
		tok := token(t, "bad", store.RoleProvincial, "19")
		mod(&tok)
		return tok
	}
	for name, tok := range map[string]store.APIToken{
		"no id":                      bad(func(k *store.APIToken) { k.ID = "" }),
		"no hash":                    bad(func(k *store.APIToken) { k.Hash = nil }),
		"short hash":                 bad(func(k *store.APIToken) { k.Hash = k.Hash[:20] }),
		"no role":                    bad(func(k *store.APIToken) { k.Role = "" }),
		"unknown role":               bad(func(k *store.APIToken) { k.Role = "admin" }),
		"role in capitals":           bad(func(k *store.APIToken) { k.Role = "National"; k.Province = "" }),
		"provincial without":         bad(func(k *store.APIToken) { k.Province = "" }),
		"provincial with a name":     bad(func(k *store.APIToken) { k.Province = "Sơn La" }),
		"provincial with three":      bad(func(k *store.APIToken) { k.Province = "014" }),
		"national with a province":   bad(func(k *store.APIToken) { k.Role = store.RoleNational }),
		"postal with a province":     bad(func(k *store.APIToken) { k.Role = store.RolePostal }),
		"id taken":                   bad(func(k *store.APIToken) { k.ID = good.ID }),
		"hash taken":                 bad(func(k *store.APIToken) { k.Hash = good.Hash }),
		"id and hash taken, renamed": bad(func(k *store.APIToken) { k.ID, k.Hash, k.Name = good.ID, good.Hash, "other" }),
	} {
		if err := s.CreateToken(ctx, tok); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	list, err := s.ListTokens(ctx)
	must(t, err)
	if !reflect.DeepEqual(list, []store.APIToken{stored}) {
		t.Errorf("refused tokens written, or the first changed:\n got %+v\nwant %+v", list, []store.APIToken{stored})
	}
}

func testTokenTouchRevoke(t *testing.T, s Store) {
	ctx := ctxT(t)
	a, b := token(t, "a", store.RoleNational, ""), token(t, "b", store.RolePostal, "")
	must(t, s.CreateToken(ctx, a))
	must(t, s.CreateToken(ctx, b))
	lastUsed := func(tok store.APIToken) time.Time {
		t.Helper()
		got, err := s.TokenByHash(ctx, tok.Hash)
		must(t, err)
		return got.LastUsedAt
	}
	if got := lastUsed(a); !got.IsZero() {
		t.Fatalf("a new token was used at %v", got)
	}

	t1 := time.Date(2026, 11, 21, 9, 0, 0, 123456789, ict)
	must(t, s.TouchToken(ctx, "a", t1))
	if got := lastUsed(a); got != store.Normalise(t1) {
		t.Fatalf("last used = %v, want %v", got, store.Normalise(t1))
	}
	// An older touch (another instance, late) does not move it back.
	must(t, s.TouchToken(ctx, "a", t1.Add(-time.Minute)))
	if got := lastUsed(a); got != store.Normalise(t1) {
		t.Fatalf("last used after an older touch = %v, want %v", got, store.Normalise(t1))
	}
	t2 := t1.Add(2 * time.Minute)
	must(t, s.TouchToken(ctx, "a", t2))
	if got := lastUsed(a); got != store.Normalise(t2) {
		t.Fatalf("last used = %v, want %v", got, store.Normalise(t2))
	}
	// Zero: now.
	before := time.Now()
	must(t, s.TouchToken(ctx, "b", time.Time{}))
	checkSetByStore(t, "LastUsedAt", lastUsed(b), before)
	if err := s.TouchToken(ctx, "none", t1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touch missing: err = %v, want ErrNotFound", err)
	}

	// Revoked: still found by its hash, with RevokedAt set.
	before = time.Now()
	must(t, s.RevokeToken(ctx, "a"))
	got, err := s.TokenByHash(ctx, a.Hash)
	must(t, err)
	if !got.Revoked() || got.ID != "a" || got.LastUsedAt != store.Normalise(t2) {
		t.Fatalf("revoked token = %+v", got)
	}
	checkSetByStore(t, "RevokedAt", got.RevokedAt, before)
	first := got.RevokedAt
	time.Sleep(2 * time.Millisecond)
	must(t, s.RevokeToken(ctx, "a"))
	if again, err := s.TokenByHash(ctx, a.Hash); err != nil || again.RevokedAt != first {
		t.Errorf("revoked twice: revoked at %v, %v; want the first time %v", again.RevokedAt, err, first)
	}
	if other, err := s.TokenByHash(ctx, b.Hash); err != nil || other.Revoked() {
		t.Errorf("revoking a revoked b too: %+v, %v", other, err)
	}
	if err := s.RevokeToken(ctx, "none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke missing: err = %v, want ErrNotFound", err)
	}
	list, err := s.ListTokens(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "a" || !list[0].Revoked() || list[1].ID != "b" || list[1].Revoked() {
		t.Errorf("list after a revoke = %+v: want a revoked, then b", list)
	}
}

// testTokenTouchConcurrent touches one token from many goroutines, as
// several requests and instances do: the latest time wins.
func testTokenTouchConcurrent(t *testing.T, s Store) {
	ctx := ctxT(t)
	tok := token(t, "busy", store.RoleProvincial, "19")
	must(t, s.CreateToken(ctx, tok))
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.TouchToken(ctx, "busy", base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.TokenByHash(ctx, tok.Hash)
	must(t, err)
	if want := base.Add((n - 1) * time.Second); got.LastUsedAt != want {
		t.Errorf("last used = %v, want the latest touch %v", got.LastUsedAt, want)
	}
}

func testAudit(t *testing.T, s Store) {
	ctx := ctxT(t)
	if got, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("empty audit log = %v, %v", got, err)
	}
	at := time.Date(2026, 11, 21, 9, 0, 0, 555555555, ict)
	es := []store.AuditEntry{
		{At: at, TokenID: "p-14", Role: store.RoleProvincial, Province: "14", Action: "quarantine.replay", Target: "12", Outcome: "ok"},
		{At: at.Add(time.Minute), TokenID: "p-14", Role: store.RoleProvincial, Province: "14", Action: "quarantine.discard", Target: "13",
			Detail: "procedure withdrawn; \"quoted\"\nsecond line", Outcome: "ok"},
		{At: at.Add(2 * time.Minute), TokenID: "n1", Role: store.RoleNational, Action: "quarantine.replay", Target: "14", Outcome: "failed",
			Detail: "publish: broker unreachable"},
		{ID: 999, At: at.Add(3 * time.Minute), TokenID: "v1", Role: store.RolePostal, Action: "quarantine.replay", Target: "15", Outcome: "refused"},
	}
	var ids []int64
	for _, e := range es {
		id, err := s.AppendAudit(ctx, e)
		must(t, err)
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("ids %v then %d: not increasing", ids, id)
		}
		ids = append(ids, id)
	}
	// Zero At: the store's clock; only an action is required.
	before := time.Now()
	id, err := s.AppendAudit(ctx, store.AuditEntry{Action: "token.create"})
	must(t, err)
	ids = append(ids, id)

	all, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("listed %d entries, want 5", len(all))
	}
	checkSetByStore(t, "At", all[4].At, before)
	var want []store.AuditEntry
	for i, e := range es {
		e.ID, e.At = ids[i], store.Normalise(e.At)
		want = append(want, e)
	}
	want = append(want, store.AuditEntry{ID: ids[4], At: all[4].At, Action: "token.create"})
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("list:\n got %+v\nwant %+v", all, want)
	}

	listed := func(f store.AuditFilter) []int64 {
		t.Helper()
		got, err := s.ListAudit(ctx, f)
		must(t, err)
		out := []int64{}
		for _, e := range got {
			out = append(out, e.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"token", store.AuditFilter{TokenID: "p-14"}, []int64{ids[0], ids[1]}},
		{"action", store.AuditFilter{Action: "quarantine.replay"}, []int64{ids[0], ids[2], ids[3]}},
		{"token and action", store.AuditFilter{TokenID: "p-14", Action: "quarantine.discard"}, []int64{ids[1]}},
		{"since, inclusive", store.AuditFilter{Since: at.Add(time.Minute)}, []int64{ids[1], ids[2], ids[3], ids[4]}},
		{"until, exclusive", store.AuditFilter{Until: at.Add(2 * time.Minute)}, []int64{ids[0], ids[1]}},
		{"since and until", store.AuditFilter{Since: at.Add(time.Minute), Until: at.Add(3 * time.Minute)}, []int64{ids[1], ids[2]}},
		{"limit", store.AuditFilter{Limit: 2}, []int64{ids[0], ids[1]}},
		{"action limit", store.AuditFilter{Action: "quarantine.replay", Limit: 2}, []int64{ids[0], ids[2]}},
		{"offset", store.AuditFilter{Offset: 3}, []int64{ids[3], ids[4]}},
		{"limit offset", store.AuditFilter{Limit: 2, Offset: 1}, []int64{ids[1], ids[2]}},
		{"action offset", store.AuditFilter{Action: "quarantine.replay", Offset: 1, Limit: 1}, []int64{ids[2]}},
		{"none", store.AuditFilter{TokenID: "nobody"}, []int64{}},
	}
	for _, c := range cases {
		if got := listed(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: ids %v, want %v", c.name, got, c.want)
		}
	}

	if _, err := s.AppendAudit(ctx, store.AuditEntry{TokenID: "p-14", Target: "12", Outcome: "ok"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no action: err = %v, want ErrInvalid", err)
	}
	if got := listed(store.AuditFilter{}); len(got) != 5 {
		t.Errorf("a refused entry was written: %v", got)
	}
}

// testTokenSecretNotStored is the acceptance test of token storage: what
// the database holds of a token is its hash, never its secret.
func testTokenSecretNotStored(t *testing.T, db Database) {
	ctx := ctxT(t)
	s := open(t, db, withKeys(EncryptionKey)...)
	var secrets []string
	var hashes [][]byte
	for i, role := range []string{store.RoleNational, store.RoleProvincial, store.RolePostal} {
		secret, h := secretAndHash(t)
		tok := store.APIToken{ID: fmt.Sprintf("tok%d", i), Hash: h, Name: "holder " + role, Role: role}
		if role == store.RoleProvincial {
			tok.Province = "42"
		}
		must(t, s.CreateToken(ctx, tok))
		must(t, s.TouchToken(ctx, tok.ID, time.Time{}))
		_, err := s.AppendAudit(ctx, store.AuditEntry{TokenID: tok.ID, Role: role, Province: tok.Province, Action: "token.create", Target: tok.ID, Outcome: "ok"})
		must(t, err)
		secrets, hashes = append(secrets, secret, secret[len("lt_"):]), append(hashes, h)
	}
	must(t, s.RevokeToken(ctx, "tok2"))
	for i, h := range hashes {
		got, err := s.TokenByHash(ctx, h)
		if err != nil || got.ID != fmt.Sprintf("tok%d", i) || !bytes.Equal(got.Hash, h) {
			t.Fatalf("token %d by hash = %+v, %v", i, got, err)
		}
	}
	must(t, s.Close())
	dump := db.Dump(t)
	if found := InDump(dump, secrets...); len(found) > 0 {
		t.Fatalf("token secrets found in the database: %q", found)
	}
	// The dump does hold the tokens: their hashes are there.
	for i, h := range hashes {
		if found := InDump(dump, string(h)); len(found) == 0 {
			t.Fatalf("the hash of token %d is not in the dump: the test proves nothing", i)
		}
	}
}
