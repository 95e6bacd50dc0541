package sqlstore

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/storetest"
)

func TestSQLiteSettings(t *testing.T) {
	ctx := ctxT(t)
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var timeout int
	if err := s.r.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != int(busyTimeout.Milliseconds()) {
		t.Fatalf("reader busy_timeout = %d, %v", timeout, err)
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO cursors VALUES ('x', x'00', 0)`); err == nil {
		t.Fatal("reader connection accepted a write")
	}
	for _, bad := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory"} {
		if _, err := OpenSQLite(ctx, bad, storetest.Options()...); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("OpenSQLite(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}
