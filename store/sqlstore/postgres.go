package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lienthong/lienthong/store"
)

// DefaultMaxConns is the PostgreSQL pool size when the DSN sets no
// pool_max_conns.
const DefaultMaxConns = 16

// OpenPostgres connects to dsn and runs the migrations. A search_path in
// the DSN (…?search_path=myschema) places the tables in that schema;
// pool_max_conns sizes the connection pool (DefaultMaxConns). opts must
// choose store.WithEncryptionKey(s) or store.WithoutEncryption: the error
// otherwise wraps store.ErrNoEncryptionKey.
func OpenPostgres(ctx context.Context, dsn string, opts ...store.Option) (*Store, error) {
	s, err := connectPostgres(ctx, dsn, opts)
	return migrated(ctx, s, err)
}

// migrated migrates a store just connected.
func migrated(ctx context.Context, s *Store, err error) (*Store, error) {
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open: %w", err)
	}
	return s, nil
}

// connectPostgres opens the pool without migrating (tests stop at a version).
func connectPostgres(ctx context.Context, dsn string, opts []store.Option) (*Store, error) {
	o, err := store.ApplyOptions(opts)
	if err != nil {
		return nil, err
	}
	// pgxpool's parser knows the pool_ settings, which a plain connection
	// would send to the server as unknown parameters.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	conns := int(cfg.MaxConns)
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default is one connection per core, at least four. The
		// hub's handlers wait on the store concurrently (the sink, the
		// normaliser's provenance, every notice's idempotency key), and
		// with four connections they queued for the pool, not for the
		// database.
		conns = max(conns, DefaultMaxConns)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns) // database/sql keeps 2 by default: churn under load
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	return &Store{w: db, r: db, d: postgres, ids: o.Identity, seal: o.Sealer, heads: newChainHeads(chainHeadsKept)}, nil
}

var postgres = &dialect{
	name:   "postgres",
	bind:   func(q string) string { return q },
	list:   func(l []string) any { return l },
	inList: "SELECT unnest(CAST(%s AS text[]))",
	ints:   func(l []int64) any { return l },
	inInts: "SELECT unnest(CAST(%s AS int8[]))",
	time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	},
	// The database's clock, so instances agree on expiry whatever their
	// own clocks say.
	clock:         "clock_timestamp()",
	later:         "clock_timestamp() + CAST(%s AS bigint) * interval '1 microsecond'",
	forUpdate:     " FOR UPDATE",
	many:          pgMany,
	run:           pgRun,
	runEvents:     pgRunEvents,
	tableExists:   `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`,
	migrateLock:   `SELECT pg_advisory_lock(hashtext('lienthong.migrate.' || current_schema()))`,
	migrateUnlock: `SELECT pg_advisory_unlock(hashtext('lienthong.migrate.' || current_schema()))`,
	migrations:    migrationTypes{Postgres: true},
	auditLock:     pgAuditLock,
	bytewise:      ` COLLATE "C"`,
	cutLock:       pgCutLock,
}

// pgMany writes rows in one statement: each column travels as one array
// and is unnested server side, which avoids both the 65535-parameter limit
// of a multi-row VALUES and a round trip per row. WITH ORDINALITY … ORDER
// BY keeps the rows' order (identities follow it, and the ledger's rows are
// locked in ID order).
func pgMany(table string, cols []col, rows [][]any, suffix string) stmt {
	names, arrays, aliases := make([]string, len(cols)), make([]string, len(cols)), make([]string, len(cols))
	args := make([]any, len(cols))
	for j, c := range cols {
		names[j], aliases[j] = c.name, fmt.Sprintf("c%d", j)
		arrays[j] = fmt.Sprintf("CAST($%d AS %s[])", j+1, c.typ)
		args[j] = pgArray(c.typ, rows, j)
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `)
SELECT ` + strings.Join(aliases, ", ") + ` FROM unnest(` + strings.Join(arrays, ", ") + `)
	WITH ORDINALITY AS u(` + strings.Join(aliases, ", ") + `, ord)
ORDER BY ord ` + suffix
	return stmt{q: q, args: args}
}

// pgArray is column j of rows as a typed array, which pgx encodes without
// reflection.
func pgArray(typ string, rows [][]any, j int) any {
	switch typ {
	case "text":
		return column[string](rows, j)
	case "int8":
		return column[int64](rows, j)
	case "int4":
		return column[int32](rows, j)
	case "bytea":
		return column[[]byte](rows, j)
	case "bool":
		return column[bool](rows, j)
	case "timestamptz":
		out := make([]pgtype.Timestamptz, len(rows))
		for i, r := range rows {
			if t, ok := r[j].(time.Time); ok {
				out[i] = pgtype.Timestamptz{Time: t, Valid: true}
			}
		}
		return out
	}
	panic("sqlstore: no array type " + typ)
}

func column[T any](rows [][]any, j int) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = r[j].(T)
	}
	return out
}

// pgRun sends stmts as one pipelined batch: one round trip, which
// PostgreSQL runs as an implicit transaction.
func pgRun(ctx context.Context, s *Store, stmts []stmt) error {
	return pgPipeline(ctx, s, stmts, nil)
}

// pgPipeline is pgRun, with the rows of the last statement passed to scan
// (nil: none read). They come before the commit: the error of the whole
// says whether it happened.
func pgPipeline(ctx context.Context, s *Store, stmts []stmt, scan func(pgx.Rows) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		var b pgx.Batch
		for _, st := range stmts {
			if st.rows == nil {
				b.Queue(st.q, st.args...)
			}
			for _, r := range st.rows {
				b.Queue(st.q, r...)
			}
		}
		br := dc.(*stdlib.Conn).Conn().SendBatch(ctx, &b)
		if scan == nil {
			return br.Close()
		}
		err := func() error {
			for range b.Len() - 1 {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			if err := scan(rows); err != nil {
				return err
			}
			return rows.Err()
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
