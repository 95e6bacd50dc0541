package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// resealBatch is how many values Reseal rewrites per transaction.
const resealBatch = 500

// Reseal rewrites every personal-data value that is not sealed under the
// current encryption key: values in clear from before encryption (or from
// a store opened WithoutEncryption) and values under an old key of
// store.WithEncryptionKeys. It returns how many it rewrote. After it has
// run, the old keys can be dropped. It is safe to run while the hub
// writes: a value rewritten meanwhile (already under the current key) is
// left as written. A value no configured key opens stops it with an error
// wrapping store.ErrDecrypt.
//
// On PostgreSQL the rows it rewrites leave dead tuples holding the former
// values until VACUUM reclaims them (run VACUUM ANALYZE afterwards: column
// statistics sample values too). On SQLite the former values are
// overwritten in the file (secure_delete) and the WAL is checkpointed and
// truncated at the end. Older backups (and WAL archives) keep them.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if !s.seal.Encrypts() {
		return 0, fmt.Errorf("reseal: %w", store.ErrNoEncryptionKey)
	}
	header := s.seal.CurrentHeader()
	total := 0
	for _, c := range []struct {
		column, table, key, value string
		parts                     string // the row key's parts, as two text columns
		row                       func(a, b string) string
		intKey                    bool // an integer identity, paged in numeric order
	}{
		{store.SealLedgerCanonical, "ledger", "dossier_id", "canonical", "dossier_id, ''",
			func(a, _ string) string { return a }, false},
		{store.SealQuarantinePayload, "quarantine", "id", "payload", "source, dossier_id", store.QuarantineRowKey, true},
		{store.SealIdempotencyResult, "idempotency", "key", "result", "key, ''", func(a, _ string) string { return a }, false},
		{store.SealNoticePayload, "payment_notices", "id", "payload", "ref, ''",
			func(a, _ string) string { return store.NoticeRowKey(a) }, true},
	} {
		sel := fmt.Sprintf(`SELECT %[1]s, %[2]s, %[3]s FROM %[4]s
WHERE length(%[3]s) > 0 AND substr(%[3]s, 1, $2) <> $1 AND %[1]s > $3
ORDER BY %[1]s LIMIT %[5]d`, c.key, c.parts, c.value, c.table, resealBatch)
		upd := fmt.Sprintf(`UPDATE %[1]s SET %[2]s = $1 WHERE %[3]s = $2 AND %[2]s = $3`, c.table, c.value, c.key)
		var last any = ""
		if c.intKey {
			last = int64(0)
		}
		for {
			var batch [][]any // new, key, old
			rows, err := s.query(ctx, sel, header, len(header), last)
			_, err = all(rows, err, func(r store.Scanner) (struct{}, error) {
				var (
					k       any
					a, b    string
					old     []byte
					i64     int64
					text    string
					keyDest any = &text
				)
				if c.intKey {
					keyDest = &i64
				}
				if err := r.Scan(keyDest, &a, &b, &old); err != nil {
					return struct{}{}, err
				}
				if k = text; c.intKey {
					k = i64
				}
				// Open decrypts in place: keep old intact for the
				// compare-and-swap.
				plain, err := s.seal.Open(c.column, c.row(a, b), append([]byte(nil), old...))
				if err != nil {
					return struct{}{}, fmt.Errorf("key %v: %w", k, err)
				}
				batch = append(batch, []any{s.seal.Seal([]byte{}, c.column, c.row(a, b), plain), k, old})
				last = k
				return struct{}{}, nil
			})
			if err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			if len(batch) == 0 {
				break
			}
			// Only rows still holding the value read are rewritten: one the
			// hub rewrote meanwhile keeps its newer value.
			n, err := s.rewrite(ctx, upd, batch)
			if err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			total += n
			if len(batch) < resealBatch {
				break
			}
		}
	}
	if s.d.compact != "" {
		if _, err := s.w.ExecContext(ctx, s.d.compact); err != nil {
			return total, fmt.Errorf("reseal: checkpoint: %w", err)
		}
	}
	return total, nil
}

// rewrite rewrites a batch in one transaction and counts the rows
// rewritten.
func (s *Store) rewrite(ctx context.Context, upd string, batch [][]any) (int, error) {
	done := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if on, off := s.d.secureDelete[0], s.d.secureDelete[1]; on != "" {
			if _, err := tx.ExecContext(ctx, on); err != nil {
				return err
			}
			defer func() { _, _ = tx.ExecContext(ctx, off) }()
		}
		ps, err := tx.PrepareContext(ctx, s.d.bind(upd))
		if err != nil {
			return err
		}
		defer ps.Close()
		for _, args := range batch {
			res, err := ps.ExecContext(ctx, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			done += int(n)
		}
		return nil
	})
	return done, err
}
