package hub

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
)

// OpenStore opens PostgreSQL when a DSN is configured, else the embedded
// SQLite file. Both apply their migrations on open. Without an encryption
// key the store refuses to open: personal data is never kept in clear by
// accident.
func OpenStore(ctx context.Context, c StoreConfig, k StoreKeys) (Store, error) {
	var opts []store.Option
	if k.Encryption != nil {
		opts = append(opts, store.WithEncryptionKeys(k.Encryption, k.OldEncryption...))
	}
	if k.Identity != nil {
		opts = append(opts, store.WithIdentityKey(k.Identity))
	}
	if c.PostgresDSN != "" {
		st, err := sqlstore.OpenPostgres(ctx, c.PostgresDSN, opts...)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	st, err := sqlstore.OpenSQLite(ctx, c.SQLitePath, opts...)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", c.SQLitePath, err)
	}
	return st, nil
}

// MigrateStore applies the migrations and closes the store. Migrating writes
// no personal data, so it needs no keys.
func MigrateStore(ctx context.Context, c StoreConfig) error {
	var (
		st  interface{ Close() error }
		err error
	)
	if c.PostgresDSN != "" {
		st, err = sqlstore.OpenPostgres(ctx, c.PostgresDSN, store.WithoutEncryption())
	} else {
		st, err = sqlstore.OpenSQLite(ctx, c.SQLitePath, store.WithoutEncryption())
	}
	if err != nil {
		return fmt.Errorf("migrate store: %w", err)
	}
	return st.Close()
}

// DevKeys loads the store's keys from dir, creating them on first use: the
// embedded store of `hub dev` encrypts like production, with keys that live
// beside its data.
func DevKeys(dir string) (StoreKeys, error) {
	enc, err := store.LoadOrCreateKeyFile(filepath.Join(dir, "encryption.key"))
	if err != nil {
		return StoreKeys{}, err
	}
	id, err := store.LoadOrCreateKeyFile(filepath.Join(dir, "identity.key"))
	if err != nil {
		return StoreKeys{}, err
	}
	return StoreKeys{Encryption: enc, Identity: id}, nil
}
