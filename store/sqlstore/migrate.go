package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/lienthong/lienthong/store"
)

// migrationFS holds one migration set for both engines: templates whose
// column types come from migrationTypes, with {{if .Postgres}} around what
// only one engine has (storage settings, SQLite's secure_delete).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationTypes renders the migration templates for one engine.
type migrationTypes struct{ Postgres, SQLite bool }

func (m migrationTypes) pick(pg, lite string) string {
	if m.Postgres {
		return pg
	}
	return lite
}

// The column types the templates use.
func (m migrationTypes) Bytes() string { return m.pick("bytea", "BLOB") }
func (m migrationTypes) Time() string  { return m.pick("timestamptz", "INTEGER") }
func (m migrationTypes) Int64() string { return m.pick("bigint", "INTEGER") }
func (m migrationTypes) Bool() string  { return m.pick("boolean", "INTEGER") }

// ID is a key in order of insertion, never reused.
func (m migrationTypes) ID() string {
	return m.pick("bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
}

// Serial is a key in order of insertion (SQLite may reuse the highest
// after it is deleted).
func (m migrationTypes) Serial() string {
	return m.pick("bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "INTEGER PRIMARY KEY")
}

// Strict makes SQLite check column types as PostgreSQL does.
func (m migrationTypes) Strict() string { return m.pick("", " STRICT") }

// Migrations returns the migrations for the store's engine, oldest first.
func (s *Store) Migrations() ([]store.Migration, error) {
	return migrations(s.d.migrations)
}

func migrations(t migrationTypes) ([]store.Migration, error) {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	for i, m := range ms {
		tpl, err := template.New(m.Name).Option("missingkey=error").Parse(m.SQL)
		if err != nil {
			return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, t); err != nil {
			return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		ms[i].SQL = b.String()
	}
	return ms, nil
}

// Migrate applies every pending migration. It is safe to run twice and
// from several instances at once.
func (s *Store) Migrate(ctx context.Context) error {
	return s.MigrateTo(ctx, 0)
}

// MigrateTo applies pending migrations up to and including version target
// (0: all). Migrations are forward-only: a database already past target is
// left as it is. Each migration runs in its own transaction together with
// its schema_migrations row, so a failure leaves the previous version; the
// version is re-read inside it, so an instance that waited for another
// skips what that one applied. PostgreSQL instances wait on a
// session-level advisory lock (released with the connection even if the
// process dies), SQLite processes on the file's write lock.
func (s *Store) MigrateTo(ctx context.Context, target int) error {
	ms, err := s.Migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if target <= 0 || target > len(ms) {
		target = len(ms)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if s.d.migrateLock != "" {
		if _, err := conn.ExecContext(ctx, s.d.migrateLock); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		// Background: the caller's ctx may be done, and the lock must go.
		defer func() { _, _ = conn.ExecContext(context.Background(), s.d.migrateUnlock) }()
	}
	t := s.d.migrations
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at `+t.Time()+` NOT NULL
)`+t.Strict()); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms[:target] {
		err := func() error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
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
			if _, err := tx.ExecContext(ctx, s.d.bind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`),
				m.Version, m.Name, s.d.time(store.Now())); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("migrate: %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// Version returns the schema version of the database (0: none applied).
func (s *Store) Version(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.d.bind(s.d.tableExists), "schema_migrations").Scan(&n); err != nil {
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
