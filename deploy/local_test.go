package deploy

import (
	"net"
	"path/filepath"
	"testing"
)

// TestLocalConfig checks deploy/local/hub.yaml: it loads with the hub's
// loader as it is (no environment needed), and every endpoint and
// credential in it is what `go run ./cmd/portalsim` listens on and accepts
// with no flags, the payment simulator's default callback included.
func TestLocalConfig(t *testing.T) {
	path := filepath.Join("local", "hub.yaml")
	if refs := envRefs(t, path); len(refs) > 0 {
		t.Errorf("%s takes %v from the environment; the README's commands set none", path, refs)
	}
	cfg := mustLoadHubConfig(t, path, nil)
	flags := portalsimFlags(t)
	checkAgainstPortalsim(t, cfg, nil, func(flag string) string { return simValue(flags, flag, nil) })
	checkPaymentCallback(t, simValue(flags, "payment-callback", nil), cfg.HTTP.Listen)

	for _, b := range cfg.Kafka.Brokers {
		if host, _ := splitHostPort(t, b); !net.ParseIP(host).IsLoopback() {
			t.Errorf("kafka.brokers %s: want a broker on this machine", b)
		}
	}
	if cfg.Kafka.ReplicationFactor != 1 {
		t.Errorf("kafka.replication_factor %d: a single local broker holds one copy", cfg.Kafka.ReplicationFactor)
	}
	if cfg.Store.PostgresDSN != "" || cfg.Store.SQLitePath == "" {
		t.Errorf("store: want the embedded SQLite file, nothing to install (got %+v)", cfg.Store)
	}
	if host, _ := splitHostPort(t, cfg.HTTP.Listen); !net.ParseIP(host).IsLoopback() {
		t.Errorf("http.listen %s: keep the local hub on loopback", cfg.HTTP.Listen)
	}
}
