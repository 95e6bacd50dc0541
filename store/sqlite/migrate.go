package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations returns the embedded migrations, oldest first.
func Migrations() ([]store.Migration, error) {
	return store.LoadMigrations(migrationFS, "migrations")
}

// Migrate applies every pending migration. It is safe to run twice and
// from several processes on the same file at once.
func (s *Store) Migrate(ctx context.Context) error {
	return s.MigrateTo(ctx, 0)
}

// MigrateTo applies pending migrations up to and including version target
// (0: all). Migrations are forward-only: a database already past target is
// left as it is. Each migration runs in its own IMMEDIATE transaction,
// which holds the file's write lock; the version is re-read inside it, so
// a second process waiting on the lock skips what the first applied.
func (s *Store) MigrateTo(ctx context.Context, target int) error {
	ms, err := Migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if target <= 0 || target > len(ms) {
		target = len(ms)
	}
	if _, err := s.w.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms[:target] {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var current int
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
				return err
			}
			if m.Version <= current {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(store.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// Version returns the schema version of the database (0: none applied).
func (s *Store) Version(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
