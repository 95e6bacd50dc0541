// Package pgtest gives tests an isolated PostgreSQL schema, so test
// packages running in parallel against one server do not collide.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lienthong/lienthong/store"
)

// DefaultDSN is used when LIENTHONG_TEST_PG is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN returns the server to test against: LIENTHONG_TEST_PG or DefaultDSN.
func DSN() string {
	if v := os.Getenv("LIENTHONG_TEST_PG"); v != "" {
		return v
	}
	return DefaultDSN
}

// Schema creates an empty schema with a random name, registers its removal
// with t.Cleanup, and returns a DSN whose search_path is that schema. When
// the server cannot be reached the test fails if CI is set (a CI run must
// not pass by skipping) and is skipped otherwise.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := DSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL at LIENTHONG_TEST_PG (%s) unreachable and CI is set: %v", redact(base), err)
		}
		tb.Skipf("PostgreSQL unreachable (%v); set LIENTHONG_TEST_PG or start it to run this test", err)
	}
	defer conn.Close(context.Background())

	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "lienthong_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return store.WithSearchPath(base, name)
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
		}
		return u.String()
	}
	return "(dsn)"
}

// Dump returns `pg_dump --data-only` of the schema of dsn (a DSN from
// pgtest.Schema): every row, as a copy of the database would show them.
func Dump(t testing.TB, dsn string) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump"); len(found) > 0 {
			bin, err = found[len(found)-1], nil
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pg_dump not found and CI is set: %v", err)
		}
		t.Skipf("pg_dump not found: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path") // a pgx parameter, unknown to libpq
	u.RawQuery = q.Encode()
	cmd := exec.CommandContext(context.Background(), bin, "--dbname="+u.String(), "--schema="+schema, "--data-only", "--no-owner")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.Bytes())
	}
	if !bytes.Contains(out, []byte("COPY "+schema+".ledger")) {
		t.Fatalf("pg_dump of schema %s has no ledger table:\n%s", schema, out)
	}
	return out
}
