package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestTokenCommand runs `hub token create|list|revoke` against PostgreSQL,
// through the command's run function, and checks the tokens it makes
// against the auth middleware.
func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	// No broker is reached: hub token only opens the store.
	cfgPath := storeOnlyConfig(t, "token-test", dsn)

	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := tokenCommand(ctx, args, &out, &errOut)
		return out.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("hub token %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	created := regexp.MustCompile(`^created token ([0-9a-f]{12}) \(([a-z]+), ([^)]*)\) for (.*)\n.*\n(lt_[A-Za-z0-9_-]{43})\n$`)
	create := func(args ...string) (id, secret string) {
		t.Helper()
		out := mustRun(append([]string{"create", "--config", cfgPath}, args...)...)
		m := created.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("create %s:\n%s", strings.Join(args, " "), out)
		}
		return m[1], m[5]
	}

	// create: the secret once, with the id; flags in any order.
	natID, natSecret := create("--role", "national", "--name", "Cục Chuyển đổi số quốc gia")
	provID, provSecret := create("--name", "Sở TT&TT Sơn La", "--province", "14", "--role", "provincial")
	postID, postSecret := create("--role=postal", "--name=VNPost  Sơn La\tkho 2")
	if out := mustRun("create", "--config", cfgPath, "--role", "provincial", "--province", "42", "--name", "Hà Tĩnh"); !strings.Contains(out, "(provincial, province 42) for Hà Tĩnh\n") {
		t.Errorf("create provincial:\n%s", out)
	}

	st, err := sqlstore.OpenPostgres(ctx, dsn, storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		id, secret, role, province, name string
	}{
		{natID, natSecret, store.RoleNational, "", "Cục Chuyển đổi số quốc gia"},
		{provID, provSecret, store.RoleProvincial, "14", "Sở TT&TT Sơn La"},
		{postID, postSecret, store.RolePostal, "", "VNPost  Sơn La\tkho 2"},
	} {
		tok, err := st.TokenByHash(ctx, auth.Hash(c.secret))
		if err != nil || tok.ID != c.id || tok.Role != c.role || tok.Province != c.province || tok.Name != c.name || tok.Revoked() {
			t.Errorf("stored token of %s = %+v, %v", c.id, tok, err)
		}
	}

	// list: every token, never a secret nor a hash.
	if err := st.TouchToken(ctx, provID, time.Date(2026, 11, 21, 3, 4, 5, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	out := mustRun("list", "--config", cfgPath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST USED (UTC)") || lines[5] != "4 tokens" {
		t.Fatalf("list:\n%s", out)
	}
	row := func(id string) string {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, id+" ") {
				return l
			}
		}
		t.Fatalf("list has no row for %s:\n%s", id, out)
		return ""
	}
	if r := row(provID); !strings.Contains(r, "Sở TT&TT Sơn La") || !strings.Contains(r, "provincial  14") ||
		!strings.Contains(r, "2026-11-21 03:04:05") || !strings.HasSuffix(r, "  -") {
		t.Errorf("row of the provincial token: %q", r)
	}
	if r := row(postID); !strings.Contains(r, "VNPost Sơn La kho 2") || !strings.Contains(r, "postal") || strings.Count(r, " - ") < 2 {
		t.Errorf("row of the postal token: %q", r)
	}
	tokens, err := st.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{natSecret, provSecret, postSecret} {
		if strings.Contains(out, secret[3:13]) {
			t.Fatalf("list shows a secret:\n%s", out)
		}
	}
	for _, tok := range tokens {
		if strings.Contains(strings.ToLower(out), hex.EncodeToString(tok.Hash)[:12]) || strings.Contains(out, base64.StdEncoding.EncodeToString(tok.Hash)[:12]) {
			t.Fatalf("list shows a hash:\n%s", out)
		}
	}

	// The tokens work at the API; a revoked one stops working.
	srv := httptest.NewServer(auth.Middleware(st, slog.New(slog.DiscardHandler))(auth.RequireOperator(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))))
	defer srv.Close()
	call := func(secret string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/dlq/1/replay", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if n, p, v := call(natSecret), call(provSecret), call(postSecret); n != http.StatusNoContent || p != http.StatusNoContent || v != http.StatusForbidden {
		t.Errorf("national %d, provincial %d, postal %d; want 204, 204, 403", n, p, v)
	}

	// revoke, then again; an unknown id is an error, the others are done.
	if out := mustRun("revoke", provID, "--config", cfgPath); out != "revoked token "+provID+"\n" {
		t.Errorf("revoke:\n%s", out)
	}
	if code := call(provSecret); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", code)
	}
	tok, err := st.TokenByHash(ctx, auth.Hash(provSecret))
	if err != nil || !tok.Revoked() {
		t.Fatalf("revoked token = %+v, %v", tok, err)
	}
	out, err = run("revoke", "--config", cfgPath, "nosuchtoken", provID, postID)
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "nosuchtoken") ||
		out != fmt.Sprintf("token %s was already revoked at %s\nrevoked token %s\n", provID, tok.RevokedAt.Format(time.DateTime), postID) {
		t.Errorf("revoke of unknown, revoked, valid: %v\n%s", err, out)
	}
	out = mustRun("list", "--config", cfgPath)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if r := row(provID); !strings.HasSuffix(r, tok.RevokedAt.Format(time.DateTime)) {
		t.Errorf("list row of a revoked token: %q", r)
	}
	if code := call(natSecret); code != http.StatusNoContent {
		t.Errorf("national token after other revokes: %d", code)
	}

	// The audit log has every create and revoke, and no secret.
	entries, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target+" "+e.Outcome)
		if e.TokenID != "" || e.Role != "" || !strings.HasPrefix(e.Detail, "hub token (command line)") {
			t.Errorf("audit entry %+v", e)
		}
	}
	want := []string{"token.create " + natID + " ok", "token.create " + provID + " ok", "token.create " + postID + " ok",
		"token.create " + tokens[3].ID + " ok", "token.revoke " + provID + " ok", "token.revoke " + postID + " ok"}
	if tokens[3].Province != "42" {
		t.Fatalf("tokens listed out of creation order: %+v", tokens)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if entries[1].Detail != "hub token (command line): role provincial, province 14" {
		t.Errorf("audit detail %q", entries[1].Detail)
	}

	// The database holds no secret.
	if found := storetest.InDump(pgtest.Dump(t, dsn), natSecret, provSecret, postSecret); len(found) > 0 {
		t.Fatalf("secrets in the database: %q", found)
	}

	// Usage errors, before anything is opened.
	for _, args := range [][]string{
		{},
		{"rotate", "--config", cfgPath},
		{"list"},
		{"create", "--role", "national", "--name", "x"},
		{"create", "--config", cfgPath, "--name", "x"},
		{"create", "--config", cfgPath, "--role", "admin", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "provincial", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "provincial", "--province", "Sơn La", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "provincial", "--province", "014", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "national", "--province", "14", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "postal", "--province", "14", "--name", "x"},
		{"create", "--config", cfgPath, "--role", "national"},
		{"create", "--config", cfgPath, "--role", "national", "--name", "  "},
		{"create", "--config", cfgPath, "--role", "national", "--name", "x", "extra"},
		{"list", "--config", cfgPath, "--role", "national"},
		{"list", "--config", cfgPath, natID},
		{"revoke", "--config", cfgPath},
		{"revoke", "--config", cfgPath, ""},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("hub token %s: no error", strings.Join(args, " "))
		}
	}
	if n, err := st.ListTokens(ctx); err != nil || len(n) != 4 {
		t.Errorf("usage errors created tokens: %d, %v", len(n), err)
	}
	for _, args := range [][]string{{"-h"}, {"create", "-h"}, {"list", "--help"}} {
		if _, err := run(args...); err != nil {
			t.Errorf("hub token %s: %v", strings.Join(args, " "), err)
		}
	}

	// The command as the binary runs it.
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "hub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	got2, err := exec.Command(bin, "token", "list", "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(got2), natID) || !strings.HasSuffix(string(got2), "4 tokens\n") {
		t.Errorf("hub token list: %v\n%s", err, got2)
	}
	got2, err = exec.Command(bin, "token", "revoke", "--config", cfgPath, "nosuchtoken").CombinedOutput()
	if err == nil || !strings.Contains(string(got2), "not found") {
		t.Errorf("hub token revoke of an unknown token: %v\n%s", err, got2)
	}
	got2, _ = exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(got2), "token     API tokens") {
		t.Errorf("usage lacks token:\n%s", got2)
	}
}
