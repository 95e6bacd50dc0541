// Package pgtest gives tests an isolated PostgreSQL schema, so test
// packages running in parallel against one server do not collide.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	return WithSearchPath(base, name)
}

// WithSearchPath returns dsn (URL or key=value form) with search_path set.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
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
