package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// OpenConfiguredStore opens the store c names with the keys it holds, as
// hub serve does.
func OpenConfiguredStore(ctx context.Context, c StoreConfig) (Store, error) {
	keys, err := c.Keys()
	if err != nil {
		return nil, err
	}
	return OpenStore(ctx, c, keys)
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

// Files of a `hub dev` data directory: its SQLite store, and the keys the
// store is encrypted with.
const (
	DevStoreFile         = "hub.db"
	devEncryptionKeyFile = "encryption.key"
	devIdentityKeyFile   = "identity.key"
	devSigningKeyFile    = "signing.key"
)

// DevKeys loads the store's keys from dir, creating them on first use: the
// embedded store of `hub dev` encrypts like production, with keys that live
// beside its data.
func DevKeys(dir string) (StoreKeys, error) {
	enc, err := store.LoadOrCreateKeyFile(filepath.Join(dir, devEncryptionKeyFile))
	if err != nil {
		return StoreKeys{}, err
	}
	id, err := store.LoadOrCreateKeyFile(filepath.Join(dir, devIdentityKeyFile))
	if err != nil {
		return StoreKeys{}, err
	}
	sig, err := store.LoadOrCreateKeyFile(filepath.Join(dir, devSigningKeyFile))
	if err != nil {
		return StoreKeys{}, err
	}
	return StoreKeys{Encryption: enc, Identity: id, Signing: sig}, nil
}

// DevStore is the store `hub dev` keeps in dir, with its keys, which it
// creates on first use (DevKeys).
func DevStore(dir string) (StoreConfig, StoreKeys, error) {
	keys, err := DevKeys(dir)
	if err != nil {
		return StoreConfig{}, StoreKeys{}, err
	}
	return StoreConfig{SQLitePath: filepath.Join(dir, DevStoreFile)}.WithKeys(keys), keys, nil
}

// ExistingDevStore is DevStore for the tools that work on the data of
// `hub dev` (hub dlq, hub token): it creates nothing, and fails, naming
// what is missing, unless hub dev has set up its store in dir.
func ExistingDevStore(dir string) (StoreConfig, StoreKeys, error) {
	for _, f := range []string{DevStoreFile, devEncryptionKeyFile, devIdentityKeyFile} {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case errors.Is(err, fs.ErrNotExist) && f == DevStoreFile:
			return StoreConfig{}, StoreKeys{}, fmt.Errorf("%s holds no store of hub dev (no %s): run hub dev with this data directory first", dir, f)
		case errors.Is(err, fs.ErrNotExist):
			return StoreConfig{}, StoreKeys{}, fmt.Errorf("%s holds the store of hub dev but not its key file %s: the store cannot be read without it", dir, f)
		case err != nil:
			return StoreConfig{}, StoreKeys{}, err
		}
	}
	return DevStore(dir)
}
