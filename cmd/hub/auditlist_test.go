package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestAuditListCommand runs `hub audit list` against PostgreSQL, through
// the command's run function: its filters, and its three formats.
func TestAuditListCommand(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	// No broker is reached: hub audit only opens the store.
	cfgPath := storeOnlyConfig(t, "audit-test", dsn)
	st, err := sqlstore.OpenPostgres(ctx, dsn, storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	detail := "Mã hồ sơ không hợp lệ"
	var ids []int64
	for _, e := range []store.AuditEntry{
		{At: t0, TokenID: "tk-sonla", Role: store.RoleProvincial, Province: "14", Action: "quarantine.replay", Target: "entry 1", Detail: detail, Outcome: "ok"},
		{At: t0.Add(time.Hour), TokenID: "tk-nat", Role: store.RoleNational, Action: "quarantine.discard", Target: "entry 2", Detail: "=1+1", Outcome: "ok"},
		{At: t0.Add(2 * time.Hour), TokenID: "tk-sonla", Role: store.RoleProvincial, Province: "14", Action: "quarantine.discard", Target: "entry 3", Detail: "HTTP 409", Outcome: "refused"},
	} {
		id, err := st.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := auditCommand(ctx, append([]string{"list", "--config", cfgPath}, args...), &out, &errOut)
		return out.String(), err
	}

	// Table: every entry, the Vietnamese detail as it is.
	out, err := run()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ID  ") || !strings.Contains(out, detail) || !strings.Contains(out, "2026-11-21 02:00:00") ||
		!strings.HasSuffix(out, "3 entries\n") {
		t.Errorf("table:\n%s", out)
	}
	if out, _ := run("--limit", "2"); !strings.Contains(out, "there may be more: --offset 2") {
		t.Errorf("table, --limit 2:\n%s", out)
	}

	// JSON lines, with the filters.
	for _, c := range []struct {
		args []string
		want []int64
	}{
		{nil, ids},
		{[]string{"--actor", "tk-sonla"}, []int64{ids[0], ids[2]}},
		{[]string{"--action", "quarantine.discard"}, ids[1:]},
		{[]string{"--since", t0.Add(time.Hour).Format(time.RFC3339)}, ids[1:]},
		{[]string{"--until", t0.Add(time.Hour).In(time.FixedZone("ICT", 7*3600)).Format(time.RFC3339)}, ids[:1]},
		{[]string{"--since", "1h"}, []int64{}},
		{[]string{"--offset", "1", "--limit", "1"}, ids[1:2]},
	} {
		out, err := run(append([]string{"--format", "json"}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		got := []int64{}
		for line := range strings.Lines(out) {
			var it struct {
				ID      int64  `json:"id"`
				TokenID string `json:"token_id"`
			}
			if err := json.Unmarshal([]byte(line), &it); err != nil || it.TokenID == "" {
				t.Fatalf("%v: line %q: %v", c.args, line, err)
			}
			got = append(got, it.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("--format json %v: %v; want %v", c.args, got, c.want)
		}
	}

	// CSV: BOM, the API's columns, Vietnam's times, formulas neutralised.
	out, err = run("--format", "csv", "--actor", "tk-nat")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(out, "\xEF\xBB\xBF")
	if !ok {
		t.Fatalf("CSV without a BOM: %q", out)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"id", "at", "token_id", "role", "province", "action", "target", "detail", "outcome"},
		{fmt.Sprint(ids[1]), "2026-11-21T09:00:00+07:00", "tk-nat", "national", "", "quarantine.discard", "entry 2", "'=1+1", "ok"}}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", want) {
		t.Errorf("CSV:\n got %q\nwant %q", rows, want)
	}
	if out, _ := run("--format", "csv", "--actor", "tk-sonla"); !strings.Contains(out, detail) {
		t.Errorf("CSV does not keep %q: %q", detail, out)
	}

	// Refusals.
	for _, args := range [][]string{{"--format", "xlsx"}, {"--since", "yesterday"}, {"--limit", "-1"}, {"extra"}} {
		if _, err := run(args...); err == nil {
			t.Errorf("audit list %v: no error", args)
		}
	}
	var errOut bytes.Buffer
	if err := auditCommand(ctx, []string{"verfy"}, &bytes.Buffer{}, &errOut); err == nil || !strings.Contains(errOut.String(), "usage: hub audit") {
		t.Errorf("hub audit verfy: %v, usage %q", err, errOut.String())
	}
	if err := auditCommand(ctx, []string{"list", "--config", cfgPath, "--data", "x"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("--config and --data: no error")
	}
}

// storeOnlyConfig writes a configuration of a hub on PostgreSQL at dsn for
// the commands that only open the store (its broker is never reached),
// and returns its path.
func storeOnlyConfig(t *testing.T, instance, dsn string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.yaml")
	cfg := fmt.Sprintf(`instance: %s
kafka:
  brokers: ["127.0.0.1:1"]
store:
  postgres_dsn: %s
  encryption_key: %s
  identity_key: %s
national:
  base_url: http://127.0.0.1:1
sources:
  - {name: sonla, province: "14", kind: rest-json, base_url: "http://127.0.0.1:1", client_id: hub, client_secret: x, national_dstcode: 000.00.00.H52}
`, instance, dsn, base64.StdEncoding.EncodeToString(storetest.EncryptionKey), base64.StdEncoding.EncodeToString(storetest.IdentityKey))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
