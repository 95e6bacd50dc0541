package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
	"github.com/lienthong/lienthong/store/trail"
)

// TestAuditCommand runs `hub audit verify` and `hub audit export` on the
// data directory of hub dev: clean, then after one row is altered.
func TestAuditCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sc, keys, err := hub.DevStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hst, err := hub.OpenStore(ctx, sc, keys)
	if err != nil {
		t.Fatal(err)
	}
	st := hst.(*sqlstore.Store)
	for _, a := range []string{"token.create", "token.revoke", "dlq.replay"} {
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Action: a, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendEvents(ctx, []store.Event{{DossierID: "D1", Kind: "pulled"}, {DossierID: "D1", Kind: "normalised"},
		{DossierID: "D2", Kind: "pulled"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignTrailHead(ctx, trail.Signer{Key: keys.SigningKey()}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := auditCommand(ctx, args, &out, &errOut)
		return out.String(), err
	}
	out, err := run("verify", "--data", dir)
	if err != nil || !strings.Contains(out, "audit log: 3 entries checked") || !strings.Contains(out, "1 signed heads") {
		t.Fatalf("verify clean: %v\n%s", err, out)
	}
	export := filepath.Join(dir, "trail.jsonl")
	if out, err := run("export", "--data", dir, "--out", export); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	checkExport := func(path string) trail.Report {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var v trail.Verifier
		if err := v.ReadExport(f); err != nil {
			t.Fatal(err)
		}
		return v.Report()
	}
	if r := checkExport(export); !r.OK() || r.Audit.Checked != 3 || r.Events.Checked != 3 || r.Heads != 1 || r.HeadsUnsigned {
		t.Fatalf("export: %s: %v", r.Summary(), r.Problems)
	}
	// An auditor's copy with one line edited fails.
	b, _ := os.ReadFile(export)
	edited := filepath.Join(dir, "edited.jsonl")
	if err := os.WriteFile(edited, bytes.Replace(b, []byte(`"kind":"normalised"`), []byte(`"kind":"quarantined"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := checkExport(edited); len(r.Problems) != 1 || !strings.Contains(r.Problems[0].String(), "events of D1") {
		t.Fatalf("edited export: %v", r.Problems)
	}

	// Tamper in the database itself.
	db, err := sql.Open("sqlite", filepath.Join(dir, hub.DevStoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET outcome = 'denied' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	out, err = run("verify", "--data", dir)
	if !errors.Is(err, errTampered) || !strings.Contains(out, "audit: entry 2: altered") {
		t.Fatalf("verify tampered: %v\n%s", err, out)
	}
	if _, err := run("verify"); err == nil {
		t.Error("verify without --data or --config on a missing ./data: no error")
	}
}

// TestAuditKeyRotation runs `hub audit verify` and `hub audit export` on
// PostgreSQL after the signing key changed: a head signed with the earlier
// key verifies while store.trail_previous_keys (here from its environment
// variable) lists its public key, and fails, naming it, when not.
func TestAuditKeyRotation(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	cfgPath := storeOnlyConfig(t, "audit-rotation", dsn)
	st, err := sqlstore.OpenPostgres(ctx, dsn, storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	oldPub, oldKey, _ := ed25519.GenerateKey(nil)
	_, newKey, _ := ed25519.GenerateKey(nil)
	appendSign := func(key ed25519.PrivateKey, previous ...ed25519.PublicKey) {
		t.Helper()
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Action: "token.create", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []store.Event{{DossierID: "D1", Kind: "pulled"}, {DossierID: "D2", Kind: "pulled"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignTrailHead(ctx, trail.Signer{Key: key, Previous: previous}); err != nil {
			t.Fatal(err)
		}
	}
	appendSign(oldKey)
	appendSign(newKey, oldPub)

	b64 := base64.StdEncoding.EncodeToString
	t.Setenv("LIENTHONG_STORE_SIGNING_KEY", b64(newKey.Seed()))
	t.Setenv("LIENTHONG_STORE_TRAIL_PREVIOUS_KEYS", b64(oldPub))
	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := auditCommand(ctx, append(args, "--config", cfgPath), &out, &errOut)
		return out.String(), err
	}
	out, err := run("verify")
	if err != nil || !strings.Contains(out, "2 signed heads") || !strings.Contains(out, trail.Fingerprint(oldPub)) ||
		!strings.Contains(out, "head 2 covers events up to 4: 4 events in 2 chains") {
		t.Fatalf("verify with the earlier key trusted: %v\n%s", err, out)
	}
	export := filepath.Join(t.TempDir(), "trail.jsonl")
	if out, err := run("export", "--out", export); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v trail.Verifier // the export's own key lines: both keys
	if err := v.ReadExport(f); err != nil {
		t.Fatal(err)
	}
	if r := v.Report(); !r.OK() || len(r.Keys) != 2 || r.SignedChains != 2 {
		t.Fatalf("export: %s: %v", r.Summary(), r.Problems)
	}

	t.Setenv("LIENTHONG_STORE_TRAIL_PREVIOUS_KEYS", "")
	out, err = run("verify")
	if !errors.Is(err, errTampered) || !strings.Contains(out, "heads: entry 1: untrusted: signed by key "+trail.Fingerprint(oldPub)) {
		t.Fatalf("verify without the earlier key: %v\n%s", err, out)
	}
}
