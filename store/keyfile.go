package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadOrCreateKeyFile returns the 32-byte key kept in the file at path as
// 64 hex digits, first creating the file with a new random key when it
// does not exist (mode 0600, its directory 0700 if created). It is for an
// embedded store with no configuration to take keys from (`hub dev` keeps
// its keys next to its database): use one file per purpose, e.g.
// encryption.key for WithEncryptionKey and identity.key for
// WithIdentityKey. Processes racing to create the file agree on one key.
//
// A key file next to the database protects a copied database file, not a
// copied data directory; production passes keys from its configuration.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key = make([]byte, EncryptionKeyLen)
	_, _ = rand.Read(key)
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600.
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	// Link, unlike rename, fails when path exists: a process that lost the
	// race reads the winner's key rather than replacing it.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("key file: %w", err)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != EncryptionKeyLen {
		return nil, fmt.Errorf("key file %s: want %d hex digits: %w", path, 2*EncryptionKeyLen, ErrInvalid)
	}
	return key, nil
}
