package sqlstore

import (
	"context"
	"fmt"

	"github.com/lienthong/lienthong/store"
)

// PutInstance writes in's row, replacing the one it wrote before. SeenAt
// is the store's clock.
func (s *Store) PutInstance(ctx context.Context, in store.Instance) error {
	if in.ID == "" {
		return fmt.Errorf("put instance: empty id: %w", store.ErrInvalid)
	}
	if _, err := s.exec(ctx, `
INSERT INTO instances (id, name, started_at, seen_at, state) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, started_at = excluded.started_at,
	seen_at = excluded.seen_at, state = excluded.state`,
		in.ID, in.Name, s.d.time(store.Normalise(in.StartedAt)), s.d.time(store.Now()), string(in.State)); err != nil {
		return fmt.Errorf("put instance %s: %w", in.ID, err)
	}
	return nil
}

// ListInstances returns every instance row, by StartedAt then ID.
func (s *Store) ListInstances(ctx context.Context) ([]store.Instance, error) {
	rows, err := s.query(ctx, `SELECT id, name, started_at, seen_at, state FROM instances ORDER BY started_at, id`)
	out, err := all(rows, err, func(r store.Scanner) (in store.Instance, err error) {
		var state string
		err = r.Scan(&in.ID, &in.Name, at(&in.StartedAt), at(&in.SeenAt), &state)
		in.State = []byte(state)
		return in, err
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// ListLeases returns the leases held now (not expired, by the clock
// AcquireLease uses), by name.
func (s *Store) ListLeases(ctx context.Context) ([]store.Lease, error) {
	rows, err := s.query(ctx, `SELECT name, holder, expires_at FROM leases WHERE expires_at > `+s.d.clock+` ORDER BY name`)
	out, err := all(rows, err, func(r store.Scanner) (l store.Lease, err error) {
		return l, r.Scan(&l.Name, &l.Holder, at(&l.ExpiresAt))
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}
