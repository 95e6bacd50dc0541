package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// TestDataDir runs `hub token` and `hub dlq` with --data against the data
// directory of `hub dev`, its store set up as hub dev sets it up (not the
// rest of hub dev): the store opened with the keys kept there, and replay
// refused until hub dev's broker answers.
func TestDataDir(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	st, _, tokenPath, err := devStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	const dossier = "000.00.14.H52-261206-0024"
	if err := st.(interface {
		AddQuarantine(context.Context, []store.QuarantineEntry) error
	}).AddQuarantine(ctx, []store.QuarantineEntry{{Source: "sonla", DossierID: dossier, Version: 1, Field: "chuHoSo.ngaySinh",
		Reason: "sonla: dossier " + dossier + ": field chuHoSo.ngaySinh: not a date (want YYYY-MM-DD)",
		Format: schemas.FormatJSON, Payload: []byte(`{"maHoSo":"` + dossier + `"}`)}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(tokenPath); err != nil {
		t.Fatalf("hub dev's operator token: %v", err)
	}

	run := func(cmd func(context.Context, []string, *bytes.Buffer) error, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := cmd(ctx, args, &out)
		return out.String(), err
	}
	token := func(ctx context.Context, args []string, out *bytes.Buffer) error {
		return tokenCommand(ctx, args, out, &bytes.Buffer{})
	}
	dlqCmd := func(ctx context.Context, args []string, out *bytes.Buffer) error {
		return dlqCommand(ctx, args, out, &bytes.Buffer{})
	}
	mustRun := func(cmd func(context.Context, []string, *bytes.Buffer) error, args ...string) string {
		t.Helper()
		out, err := run(cmd, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := mustRun(token, "create", "--data", dir, "--role", "provincial", "--province", "14", "--name", "Sở TT&TT Sơn La")
	if !strings.HasPrefix(out, "created token ") || !strings.Contains(out, "(provincial, province 14)") {
		t.Errorf("token create --data:\n%s", out)
	}
	out = mustRun(token, "list", "--data", dir)
	if !strings.Contains(out, "hub dev operator") || !strings.Contains(out, "Sở TT&TT Sơn La") || !strings.HasSuffix(out, "2 tokens\n") {
		t.Errorf("token list --data: want hub dev's token and the new one:\n%s", out)
	}
	out = mustRun(dlqCmd, "list", "--data", dir)
	if !strings.Contains(out, dossier) || !strings.Contains(out, "chuHoSo.ngaySinh") || !strings.HasSuffix(out, "1 entries\n") {
		t.Errorf("dlq list --data:\n%s", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out := mustRun(dlqCmd, "show", id, "--data", dir); !strings.Contains(out, `{"maHoSo":"`+dossier+`"}`) {
		t.Errorf("dlq show --data: want the payload, opened with hub dev's key:\n%s", out)
	}

	// The default is hub dev's own default, ./data.
	t.Chdir(root)
	if out := mustRun(dlqCmd, "list"); !strings.Contains(out, dossier) {
		t.Errorf("dlq list with no --config nor --data (./data):\n%s", out)
	}

	// Replay publishes to hub dev's broker: not running, it says so, and
	// the entry stays open.
	if _, err := run(dlqCmd, "replay", id, "--data", dir); err == nil || !strings.Contains(err.Error(), "hub dev is not running on "+dir) {
		t.Errorf("dlq replay --data without hub dev: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(filepath.Join(dir, devKafkaFile), []byte(gone+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(dlqCmd, "replay", id, "--data", dir); err == nil || !strings.Contains(err.Error(), "does not answer at "+gone) {
		t.Errorf("dlq replay --data with a stale %s: %v", devKafkaFile, err)
	}
	if out := mustRun(dlqCmd, "list", "--data", dir); !strings.HasSuffix(out, "1 entries\n") {
		t.Errorf("a refused replay changed the entry:\n%s", out)
	}
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := os.WriteFile(filepath.Join(dir, devKafkaFile), []byte(b.Addrs()[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(dlqCmd, "replay", id, "--data", dir); out != "replayed entry "+id+"\n" {
		t.Errorf("dlq replay --data with hub dev's broker up: %q", out)
	}
	if out := mustRun(dlqCmd, "list", "--data", dir, "--state", "replayed"); !strings.Contains(out, dossier) {
		t.Errorf("replayed entry:\n%s", out)
	}

	// Clear errors, and nothing created where hub dev has not been.
	missing := filepath.Join(root, "elsewhere")
	for _, tc := range []struct {
		cmd  func(context.Context, []string, *bytes.Buffer) error
		args []string
		want string
	}{
		{token, []string{"list", "--data", dir, "--config", filepath.Join(root, "hub.yaml")}, "--config FILE or --data DIR, not both"},
		{dlqCmd, []string{"list", "--config", filepath.Join(root, "hub.yaml"), "--data", dir}, "--config FILE or --data DIR, not both"},
		{token, []string{"list", "--data", missing}, "--data " + missing + ": no such directory: run hub dev first"},
		{dlqCmd, []string{"list", "--data", root}, root + " holds no store of hub dev (no hub.db)"},
	} {
		if _, err := run(tc.cmd, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("--data %s created the directory", missing)
	}
	if _, err := os.Stat(filepath.Join(root, "hub.db")); err == nil {
		t.Errorf("--data %s created a store", root)
	}

	// A store without its keys is not opened with new ones.
	if err := os.Remove(filepath.Join(dir, "identity.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := run(token, "list", "--data", dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("not its key file %s", "identity.key")) {
		t.Errorf("token list --data without identity.key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "identity.key")); err == nil {
		t.Error("token list --data made a new identity key")
	}
}
