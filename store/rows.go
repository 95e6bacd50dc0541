package store

import (
	"errors"
	"fmt"
)

// Scanner is one row to scan: a pgx.Row, a *sql.Row, or Rows at a row.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a query's result as ScanRows reads it: pgx.Rows and *sql.Rows
// both are one.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanRows scans every row of rows with scan; none is nil. The caller
// closes rows.
func ScanRows[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WrittenOrCurrent finishes a guarded write: an INSERT … ON CONFLICT DO
// NOTHING or an UPDATE … WHERE guard, whose RETURNING row was scanned into
// row, err wrapping ErrNotFound when it wrote none. Written, it returns
// row and true. Not written (the key was taken, or a guard failed), it
// returns the row as current reads it, and false: the caller is shown what
// is stored, which is the outcome of whatever write won.
func WrittenOrCurrent[T any](row T, err error, current func() (T, error)) (T, bool, error) {
	if errors.Is(err, ErrNotFound) {
		row, err = current()
		return row, false, err
	}
	return row, err == nil, err
}
