package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/sim/devenv"
)

// devDataDir is where `hub dev` keeps its data unless told otherwise.
const devDataDir = "data"

// devKafkaFile, in the data directory of `hub dev`, holds the address of
// its embedded Kafka broker while it runs: `hub dlq replay --data` publishes
// there.
const devKafkaFile = "kafka.addr"

// devConfigFile, in the data directory of `hub dev`, is the configuration
// it runs with (simulated portals, embedded broker, store), as hub serve
// would read it, while it runs: the commands that call the portals (hub
// check, hub reconcile) read it for --data.
const devConfigFile = "hub-dev.yaml"

// target is the hub an operator command works on: the one a configuration
// file describes (--config FILE), or the one `hub dev` runs on its data
// directory (--data DIR, by default hub dev's ./data).
type target struct {
	fs     *flag.FlagSet
	config string
	data   string
}

// addTarget gives fs the flags --config and --data.
func addTarget(fs *flag.FlagSet) *target {
	t := &target{fs: fs}
	fs.StringVar(&t.config, "config", "", "configuration file (instead of --data)")
	fs.StringVar(&t.data, "data", devDataDir, "data directory of hub dev, when there is no --config")
	return t
}

// dataGiven reports whether --data was on the command line.
func (t *target) dataGiven() bool {
	given := false
	t.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "data" })
	return given
}

// dev reports whether the command works on the data of `hub dev`.
func (t *target) dev() bool { return t.config == "" }

// check refuses, once the flags are parsed and before anything is opened,
// a command line that says both or neither.
func (t *target) check(cmd string) error {
	switch {
	case t.config != "" && t.dataGiven():
		return fmt.Errorf("%s: --config FILE or --data DIR, not both (--config for a hub run with hub serve, --data for the data directory of hub dev)", cmd)
	case t.config == "" && strings.TrimSpace(t.data) == "":
		return fmt.Errorf("%s: --config FILE or --data DIR is required", cmd)
	}
	return nil
}

// load returns the hub's configuration and store keys: the configuration
// file's, or for `hub dev`'s data directory its SQLite store and the keys
// beside it. The latter configures no Kafka broker: see devKafka.
func (t *target) load(cmd string) (hub.Config, hub.StoreKeys, error) {
	if err := t.check(cmd); err != nil {
		return hub.Config{}, hub.StoreKeys{}, err
	}
	if !t.dev() {
		cfg, err := hub.LoadConfig(t.config)
		if err != nil {
			return hub.Config{}, hub.StoreKeys{}, err
		}
		keys, err := cfg.Store.Keys()
		return cfg, keys, err
	}
	if err := t.dataDir(cmd); err != nil {
		return hub.Config{}, hub.StoreKeys{}, err
	}
	sc, keys, err := hub.ExistingDevStore(t.data)
	if err != nil {
		return hub.Config{}, hub.StoreKeys{}, fmt.Errorf("%s: %w", cmd, err)
	}
	return hub.Config{Instance: devenv.Instance, Store: sc}, keys, nil
}

// writeConfig writes cfg as hub serve reads it, readable by its owner only
// (it holds the credentials).
func writeConfig(path string, cfg hub.Config) error {
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("write configuration %s: %w", path, err)
	}
	return os.WriteFile(path, raw, 0o600)
}

// dataDir checks that the data directory of `hub dev` exists.
func (t *target) dataDir(cmd string) error {
	fi, err := os.Stat(t.data)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.IsDir()) {
		what := "--data " + t.data + ": no such directory"
		if !t.dataGiven() {
			what = "no directory " + t.data + ", where hub dev keeps its data by default"
		}
		return fmt.Errorf("%s: %s: run hub dev first, give --data DIR where it keeps its data, or --config FILE for a hub run with hub serve", cmd, what)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// running returns the whole configuration of the hub t names, for a
// command that calls its portals: the configuration file, or the one
// `hub dev` runs with on its data directory, which exists only while it
// runs (its portals are simulated inside it).
func (t *target) running(cmd string) (hub.Config, error) {
	if err := t.check(cmd); err != nil {
		return hub.Config{}, err
	}
	if !t.dev() {
		return hub.LoadConfig(t.config)
	}
	if err := t.dataDir(cmd); err != nil {
		return hub.Config{}, err
	}
	path := filepath.Join(t.data, devConfigFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return hub.Config{}, fmt.Errorf("%s: hub dev is not running on %s, and this needs the portals it simulates: start hub dev --data %s, then run this again", cmd, t.data, t.data)
	}
	return hub.LoadConfig(path)
}

// devKafka is the address of the Kafka broker `hub dev` runs on dir, once
// it is seen to answer: there is none while hub dev is not running.
func devKafka(cmd, dir string) ([]string, error) {
	path := filepath.Join(dir, devKafkaFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: hub dev is not running on %s, and this needs the Kafka broker it embeds: start hub dev --data %s, then run this again", cmd, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	addr := strings.TrimSpace(string(raw))
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s: the Kafka broker of hub dev on %s does not answer at %s (%v): hub dev is not running, or stopped without removing %s; start hub dev --data %s, then run this again", cmd, dir, addr, err, path, dir)
	}
	_ = conn.Close()
	return []string{addr}, nil
}

// openStoreAs opens the store of the hub t names as a T (the operations cmd
// needs of it), or says that it has lacks (e.g. "no audit log"). Call
// closeStore when done.
func openStoreAs[T any](ctx context.Context, t *target, cmd, lacks string) (st T, closeStore func(), err error) {
	cfg, keys, err := t.load(cmd)
	if err != nil {
		return st, nil, err
	}
	hst, err := hub.OpenStore(ctx, cfg.Store, keys)
	if err != nil {
		return st, nil, err
	}
	st, ok := hst.(T)
	if !ok {
		_ = hst.Close()
		return st, nil, fmt.Errorf("%s: store %T has %s", cmd, hst, lacks)
	}
	return st, func() { _ = hst.Close() }, nil
}
