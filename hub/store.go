package hub

import (
	"context"
	"fmt"

	"github.com/lienthong/lienthong/store/postgres"
	"github.com/lienthong/lienthong/store/sqlite"
)

// OpenStore opens PostgreSQL when a DSN is configured, else the embedded
// SQLite file. Both apply their migrations on open.
func OpenStore(ctx context.Context, c StoreConfig) (Store, error) {
	if c.PostgresDSN != "" {
		st, err := postgres.Open(ctx, c.PostgresDSN)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, c.SQLitePath)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", c.SQLitePath, err)
	}
	return st, nil
}
