package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/lienthong/lienthong/store"
)

// resealBatch is how many values Reseal rewrites per statement.
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
// The rows it rewrites leave dead tuples holding the former values until
// VACUUM reclaims them (run VACUUM ANALYZE afterwards: column statistics
// sample values too); older backups and WAL archives keep them.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if !s.seal.Encrypts() {
		return 0, fmt.Errorf("reseal: %w", store.ErrNoEncryptionKey)
	}
	total := 0
	for _, c := range []struct {
		column string
		// sel: ($1 header, $2 header length, $3 last key): key, row key
		// parts, value. An integer key is selected as text: order by the
		// table's column (a bare name would be the text output column, and
		// text order is not the order the key pages in).
		sel    string
		upd    string // ($1 keys, $2 old values, $3 new values)
		row    func(a, b string) string
		intKey bool // the key is a bigint identity, sent as text
	}{
		{
			column: store.SealLedgerCanonical,
			sel: `SELECT dossier_id, dossier_id, '', canonical FROM ledger
WHERE length(canonical) > 0 AND substring(canonical FROM 1 FOR $2) <> $1 AND dossier_id > $3
ORDER BY dossier_id LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE ledger AS t SET canonical = u.new
FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(k, old, new)
WHERE t.dossier_id = u.k AND t.canonical = u.old`,
			row: func(a, _ string) string { return a },
		},
		{
			column: store.SealQuarantinePayload,
			sel: `SELECT id::text, source, dossier_id, payload FROM quarantine
WHERE length(payload) > 0 AND substring(payload FROM 1 FOR $2) <> $1 AND id > $3::text::int8
ORDER BY quarantine.id LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE quarantine AS t SET payload = u.new
FROM unnest($1::int8[], $2::bytea[], $3::bytea[]) AS u(k, old, new)
WHERE t.id = u.k AND t.payload = u.old`,
			row:    store.QuarantineRowKey,
			intKey: true,
		},
		{
			column: store.SealIdempotencyResult,
			sel: `SELECT key, key, '', result FROM idempotency
WHERE length(result) > 0 AND substring(result FROM 1 FOR $2) <> $1 AND key > $3
ORDER BY key LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE idempotency AS t SET result = u.new
FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(k, old, new)
WHERE t.key = u.k AND t.result = u.old`,
			row: func(a, _ string) string { return a },
		},
		{
			column: store.SealNoticePayload,
			sel: `SELECT id::text, ref, '', payload FROM payment_notices
WHERE length(payload) > 0 AND substring(payload FROM 1 FOR $2) <> $1 AND id > $3::text::int8
ORDER BY payment_notices.id LIMIT ` + fmt.Sprint(resealBatch),
			upd: `UPDATE payment_notices AS t SET payload = u.new
FROM unnest($1::int8[], $2::bytea[], $3::bytea[]) AS u(k, old, new)
WHERE t.id = u.k AND t.payload = u.old`,
			row:    func(a, _ string) string { return store.NoticeRowKey(a) },
			intKey: true,
		},
	} {
		header := s.seal.CurrentHeader()
		last := ""
		if c.intKey {
			last = "0"
		}
		for {
			var keys []string
			var olds, news [][]byte
			rows, err := s.pool.Query(ctx, c.sel, header, len(header), last)
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
				keys, olds = append(keys, k), append(olds, old)
				news = append(news, s.seal.Seal([]byte{}, c.column, c.row(a, b), plain))
				last = k
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			if len(keys) == 0 {
				break
			}
			// Only rows still holding the value read are rewritten: one the
			// hub rewrote meanwhile keeps its newer value.
			var keyArg any = keys
			if c.intKey {
				ids := make([]int64, len(keys))
				for i, k := range keys {
					if ids[i], err = strconv.ParseInt(k, 10, 64); err != nil {
						return total, fmt.Errorf("reseal %s: id %q: %w", c.column, k, err)
					}
				}
				keyArg = ids
			}
			tag, err := s.pool.Exec(ctx, c.upd, keyArg, olds, news)
			if err != nil {
				return total, fmt.Errorf("reseal %s: %w", c.column, err)
			}
			total += int(tag.RowsAffected())
			if len(keys) < resealBatch {
				break
			}
		}
	}
	return total, nil
}
