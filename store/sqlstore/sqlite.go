package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lienthong/lienthong/store"
)

// busyTimeout is how long a SQLite connection waits for another's lock
// (another process on the same file, or a reader during a checkpoint)
// before failing.
const busyTimeout = 10 * time.Second

// OpenSQLite opens (creating it and its directory if needed) the database
// file at path, in WAL mode, and runs the migrations. opts must choose
// store.WithEncryptionKey(s) or store.WithoutEncryption: the error
// otherwise wraps store.ErrNoEncryptionKey.
func OpenSQLite(ctx context.Context, path string, opts ...store.Option) (*Store, error) {
	s, err := connectSQLite(ctx, path, opts)
	return migrated(ctx, s, err)
}

// connectSQLite opens the database without migrating (tests stop at a
// version).
func connectSQLite(ctx context.Context, path string, opts []store.Option) (*Store, error) {
	o, err := store.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("path %q: want a plain file path: %w", path, store.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	pragmas := func(extra ...string) string {
		v := url.Values{}
		v.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
		v.Add("_pragma", "foreign_keys(1)")
		for _, p := range extra {
			v.Add("_pragma", p)
		}
		return v.Encode()
	}
	// NORMAL is durable across application crashes in WAL mode; only an OS
	// crash or power loss can lose the last transactions. Write
	// transactions BEGIN IMMEDIATE, so they take the write lock up front
	// rather than failing on upgrade.
	w, err := sql.Open("sqlite", path+"?"+pragmas("journal_mode(WAL)", "synchronous(NORMAL)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it creates the file and switches it to WAL
	// before any reader opens it.
	if err := pingWriter(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open writer: %w", err)
	}
	r, err := sql.Open("sqlite", path+"?"+pragmas("query_only(1)"))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open reader: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open reader: %w", err)
	}
	return &Store{w: w, r: r, d: sqlite, ids: o.Identity, seal: o.Sealer}, nil
}

// pingWriter connects the writer. Switching a new file to WAL while
// another process does the same can fail at once with SQLITE_BUSY (the
// switch does not wait on busy_timeout), so that is retried up to it.
func pingWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := w.PingContext(ctx)
		var coded interface{ Code() int }
		busy := errors.As(err, &coded) && coded.Code()&0xff == sqlite3.SQLITE_BUSY
		if err == nil || !busy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// sqliteMicros is SQLite's clock in microseconds since the epoch. Every
// process on one file shares this host's clock.
const sqliteMicros = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)"

// jsonList is a list parameter as one JSON array.
func jsonList[T string | int64](l []T) any {
	if len(l) == 0 {
		return "[]" // not null
	}
	b, _ := json.Marshal(l) // strings and numbers always marshal
	return string(b)
}

var sqlite = &dialect{
	name: "sqlite",
	bind: numbered,
	// SQLite has no array parameters: lists travel as one JSON array.
	list:   jsonList[string],
	inList: "SELECT value FROM json_each(%s)",
	ints:   jsonList[int64],
	inInts: "SELECT value FROM json_each(%s)",
	time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	},
	clock:     sqliteMicros,
	later:     "(" + sqliteMicros + " + %s)",
	guardInTx: true,
	many: func(table string, cols []col, rows [][]any, suffix string) stmt {
		names, params := make([]string, len(cols)), make([]string, len(cols))
		for j, c := range cols {
			names[j], params[j] = c.name, fmt.Sprintf("$%d", j+1)
		}
		return stmt{q: `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (` +
			strings.Join(params, ", ") + `) ` + suffix, rows: rows}
	},
	run: func(ctx context.Context, s *Store, stmts []stmt) error {
		return s.inTx(ctx, func(tx *sql.Tx) error { return s.runTx(ctx, tx, stmts) })
	},
	runEvents:   sqliteRunEvents,
	tableExists: `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`,
	migrations:  migrationTypes{SQLite: true},
	// secure_delete zeroes the former values in the pages rather than
	// leaving them in free space; the checkpoint truncates the WAL, which
	// still holds them.
	secureDelete: [2]string{`PRAGMA secure_delete = ON`, `PRAGMA secure_delete = OFF`},
	compact:      `PRAGMA wal_checkpoint(TRUNCATE)`,
}
