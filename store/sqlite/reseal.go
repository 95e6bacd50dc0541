package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

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
// The former values are overwritten in the file (secure_delete) and the
// WAL is checkpointed and truncated at the end, so the file no longer
// holds them; older copies of the file still do.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if !s.seal.Encrypts() {
		return 0, fmt.Errorf("reseal: %w", store.ErrNoEncryptionKey)
	}
	header := s.seal.CurrentHeader()
	total := 0
	for _, c := range []struct {
		column string
		sel    string // (header, header length, last key): key, row key parts, value
		upd    string // (new, key, old)
		row    func(a, b string) string
		intKey bool // the key is an INTEGER rowid, read as text
	}{
		{
			column: store.SealLedgerCanonical,
			sel: `SELECT dossier_id, dossier_id, '', canonical FROM ledger
WHERE length(canonical) > 0 AND substr(canonical, 1, ?2) <> ?1 AND dossier_id > ?3
ORDER BY dossier_id LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE ledger SET canonical = ? WHERE dossier_id = ? AND canonical = ?`,
			row: func(a, _ string) string { return a },
		},
		{
			column: store.SealQuarantinePayload,
			sel: `SELECT id, source, dossier_id, payload FROM quarantine
WHERE length(payload) > 0 AND substr(payload, 1, ?2) <> ?1 AND id > CAST(?3 AS INTEGER)
ORDER BY id LIMIT ` + fmt.Sprint(resealBatch),
			upd:    `UPDATE quarantine SET payload = ? WHERE id = ? AND payload = ?`,
			row:    store.QuarantineRowKey,
			intKey: true,
		},
		{
			column: store.SealIdempotencyResult,
			sel: `SELECT key, key, '', result FROM idempotency
WHERE length(result) > 0 AND substr(result, 1, ?2) <> ?1 AND key > ?3
ORDER BY key LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE idempotency SET result = ? WHERE key = ? AND result = ?`,
			row: func(a, _ string) string { return a },
		},
		{
			column: store.SealNoticePayload,
			sel: `SELECT id, ref, '', payload FROM payment_notices
WHERE length(payload) > 0 AND substr(payload, 1, ?2) <> ?1 AND id > CAST(?3 AS INTEGER)
ORDER BY id LIMIT ` + fmt.Sprint(resealBatch),
			upd:    `UPDATE payment_notices SET payload = ? WHERE id = ? AND payload = ?`,
			row:    func(a, _ string) string { return store.NoticeRowKey(a) },
			intKey: true,
		},
	} {
		last := ""
		if c.intKey {
			last = "0"
		}
		for {
			type change struct {
				key      any
				old, new []byte
			}
			var batch []change
			rows, err := s.r.QueryContext(ctx, c.sel, header, len(header), last)
			if err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			for rows.Next() {
				var (
					k, a, b string
					old     []byte
				)
				if err := rows.Scan(&k, &a, &b, &old); err != nil {
					rows.Close()
					return total, fmt.Errorf("reseal %s: scan: %w", c.column, err)
				}
				// Open decrypts in place: keep old intact for the
				// compare-and-swap.
				plain, err := s.seal.Open(c.column, c.row(a, b), append([]byte(nil), old...))
				if err != nil {
					rows.Close()
					return total, fmt.Errorf("reseal: key %s: %w", k, err)
				}
				var key any = k
				if c.intKey {
					id, err := strconv.ParseInt(k, 10, 64)
					if err != nil {
						rows.Close()
						return total, fmt.Errorf("reseal %s: id %q: %w", c.column, k, err)
					}
					key = id
				}
				batch = append(batch, change{key, old, s.seal.Seal([]byte{}, c.column, c.row(a, b), plain)})
				last = k
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			if len(batch) == 0 {
				break
			}
			// Only rows still holding the value read are rewritten: one the
			// hub rewrote meanwhile keeps its newer value.
			done := 0
			err = s.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
					return err
				}
				defer func() { _, _ = tx.ExecContext(ctx, `PRAGMA secure_delete = OFF`) }()
				st, err := tx.PrepareContext(ctx, c.upd)
				if err != nil {
					return err
				}
				defer st.Close()
				for _, ch := range batch {
					res, err := st.ExecContext(ctx, ch.new, ch.key, ch.old)
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
			if err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			total += done
			if len(batch) < resealBatch {
				break
			}
		}
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return total, fmt.Errorf("reseal: checkpoint: %w", err)
	}
	return total, nil
}
