package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/storetest"
)

// buildHub builds the hub binary into a test directory.
func buildHub(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	return bin
}

// closedAddr is a loopback address nothing listens on: connecting to it is
// refused at once.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// jsonLines checks that every line of log is a JSON object with a level and
// a message, and returns them.
func jsonLines(t *testing.T, log []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["level"] == nil || m["msg"] == nil {
			t.Fatalf("stderr line %d is not a JSON log line: %q", n, sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) == 0 {
		t.Fatal("nothing on stderr")
	}
	return lines
}

// waitExit waits up to d for cmd to exit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration, stderr *bytes.Buffer) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("hub serve still running %s after its start\n%s", d, stderr)
		return -1
	}
}

// TestServeExitsWhenRouterStops runs `hub serve` against a Kafka broker that
// cannot be reached, with topic creation on: the subscriptions end at once,
// so the router's handlers stop. The process must exit non-zero soon, every
// stderr line a JSON log line, the last one naming what stopped, rather than
// live on pulling into a closed publisher.
func TestServeExitsWhenRouterStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hub binary")
	}
	bin := buildHub(t)
	dsn := pgtest.Schema(t)
	portal := "http://" + closedAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "hub.yaml")
	cfg := fmt.Sprintf(`instance: dead-router-test
kafka:
  brokers: [%q]
  partitions: 2
store:
  postgres_dsn: %s
  encryption_key: %s
  identity_key: %s
national:
  base_url: %s
  username: hub
  password: hub-secret
sources:
  - name: sonla
    province: "14"
    kind: rest-json
    base_url: %s
    client_id: hub
    client_secret: hub-secret
    poll_interval: 200ms
    national_dstcode: 000.00.00.H52
http:
  listen: %s
`, closedAddr(t), dsn, base64.StdEncoding.EncodeToString(storetest.EncryptionKey),
		base64.StdEncoding.EncodeToString(storetest.IdentityKey), portal, portal, closedAddr(t))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, cmd, 90*time.Second, &stderr)
	if code != 1 {
		t.Fatalf("hub serve exited %d, want 1\n%s", code, &stderr)
	}
	lines := jsonLines(t, stderr.Bytes())
	last := lines[len(lines)-1]
	if last["level"] != "ERROR" || last["msg"] != "hub failed" {
		t.Fatalf("last stderr line %v, want the ERROR \"hub failed\"", last)
	}
	if msg, _ := last["error"].(string); !strings.Contains(msg, "router") || !strings.Contains(msg, "stopped") {
		t.Fatalf("last stderr line does not name what stopped: %q", msg)
	}
	t.Logf("last line: %v", last)
}

// TestServeFailsInJSON: an error before the hub runs (here, a configuration
// file that is not there) is also one JSON log line, and exit code 1.
func TestServeFailsInJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the hub binary")
	}
	bin := buildHub(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 30*time.Second, &stderr); code != 1 {
		t.Fatalf("hub serve exited %d, want 1\n%s", code, &stderr)
	}
	lines := jsonLines(t, stderr.Bytes())
	if last := lines[len(lines)-1]; last["level"] != "ERROR" || !strings.Contains(fmt.Sprint(last["error"]), "missing.yaml") {
		t.Fatalf("last stderr line %v, want an ERROR naming the file", last)
	}
}
