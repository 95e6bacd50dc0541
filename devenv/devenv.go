// Package devenv brings up the four simulated portals on loopback TCP and a
// hub configuration pointing at them. `hub dev`, `hub bench` and the
// end-to-end tests share it, so they all exercise the same wiring.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/hatinh"
	"github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/sim/sonla"
	"github.com/lienthong/lienthong/sim/thainguyen"
)

// Simulator names, as used for addresses and state files.
const (
	NameSonLa      = schemas.SourceSonLa
	NameThaiNguyen = schemas.SourceThaiNguyen
	NameHaTinh     = schemas.SourceHaTinh
	NameNational   = "national"
)

// Sources lists the provincial simulators in a stable order.
var Sources = []string{NameSonLa, NameThaiNguyen, NameHaTinh}

// Credentials the simulators are started with (their defaults).
const (
	user      = "hub"
	secret    = "hub-secret"
	hatinhKey = "hub-key"
)

// National units of the three provinces (QCVN 102 codes of the simulators'
// provincial offices).
var units = map[string]string{
	NameSonLa:      "000.00.00.H52",
	NameThaiNguyen: "000.00.00.H55",
	NameHaTinh:     "000.00.00.H25",
}

// Options chooses where the simulators listen and how they speak.
type Options struct {
	// Addrs maps a simulator name to host:port; missing means 127.0.0.1:0.
	Addrs map[string]string
	// StateDir, when set, restores each simulator from StateDir/<name>.state
	// at start and writes it back on Close, so `hub dev` can be restarted.
	StateDir string
	// HaTinhCharset is "utf-8" (default) or "windows-1258".
	HaTinhCharset string
	// ThaiNguyenPrefix is the namespace prefix of SOAP answers ("" default
	// namespace, "mc", "tns", "*" to rotate).
	ThaiNguyenPrefix string
}

// Sims are the running simulators.
type Sims struct {
	SonLa      *sonla.Server
	ThaiNguyen *thainguyen.Server
	HaTinh     *hatinh.Server
	National   *national.Server
	// URLs maps a simulator name to its base URL.
	URLs map[string]string

	stateDir string
	servers  map[string]*http.Server
	handlers map[string]http.Handler
}

// snapshotter is what every simulator offers to survive a restart.
type snapshotter interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

var (
	_ snapshotter = (*sonla.Server)(nil)
	_ snapshotter = (*thainguyen.Server)(nil)
	_ snapshotter = (*hatinh.Server)(nil)
	_ snapshotter = (*national.Server)(nil)
)

// Start starts the four simulators.
func Start(o Options) (*Sims, error) {
	s := &Sims{
		SonLa:      sonla.New(sonla.Config{ClientID: user, ClientSecret: secret}),
		ThaiNguyen: thainguyen.New(thainguyen.Config{Username: user, Password: secret, Prefix: o.ThaiNguyenPrefix}),
		HaTinh:     hatinh.New(hatinh.Config{APIKey: hatinhKey, Charset: o.HaTinhCharset}),
		National:   national.New(national.Config{Accounts: []national.Account{{Username: user, Password: secret}}}),
		URLs:       map[string]string{},
		stateDir:   o.StateDir,
		servers:    map[string]*http.Server{},
	}
	s.handlers = map[string]http.Handler{NameSonLa: s.SonLa, NameThaiNguyen: s.ThaiNguyen, NameHaTinh: s.HaTinh, NameNational: s.National}

	if o.StateDir != "" {
		if err := s.restore(); err != nil {
			return nil, err
		}
	}
	for _, name := range append(append([]string{}, Sources...), NameNational) {
		addr := o.Addrs[name]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("simulator %s: listen %s: %w", name, addr, err)
		}
		srv := &http.Server{Handler: s.handlers[name], ReadHeaderTimeout: 10 * time.Second}
		s.servers[name] = srv
		s.URLs[name] = "http://" + ln.Addr().String()
		go func() { _ = srv.Serve(ln) }()
	}
	return s, nil
}

func (s *Sims) statePath(name string) string { return filepath.Join(s.stateDir, name+".state") }

func (s *Sims) restore() error {
	for name, h := range s.handlers {
		if _, err := simctl.LoadStateFile(s.statePath(name), h.(snapshotter).Restore); err != nil {
			return fmt.Errorf("simulator %s: %w", name, err)
		}
	}
	return nil
}

// Close stops the simulators and, with a state directory, saves them.
func (s *Sims) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.SonLa.Close()
	s.ThaiNguyen.Close()
	s.HaTinh.Close()
	s.National.Close()
	if s.stateDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.stateDir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name, h := range s.handlers {
		errs = append(errs, simctl.SaveStateFile(s.statePath(name), h.(snapshotter).Snapshot))
	}
	return errors.Join(errs...)
}

// HubConfig returns a hub configuration for these simulators.
func (s *Sims) HubConfig(brokers []string, st hub.StoreConfig) hub.Config {
	common := func(name string) hub.PortalCommon {
		return hub.PortalCommon{
			BaseURL: s.URLs[name], PageSize: 500, PollInterval: 250 * time.Millisecond,
			DstCode: units[name], MaDonVi: units[name],
		}
	}
	return hub.Config{
		Instance:   "dev",
		Kafka:      hub.KafkaConfig{Brokers: brokers, Partitions: 64, ReplicationFactor: 1},
		Store:      st,
		National:   hub.NationalConfig{BaseURL: s.URLs[NameNational], Username: user, Password: secret, Linger: 5 * time.Millisecond},
		SonLa:      &hub.SonLaConfig{PortalCommon: common(NameSonLa), ClientID: user, ClientSecret: secret},
		ThaiNguyen: &hub.ThaiNguyenConfig{PortalCommon: common(NameThaiNguyen), Username: user, Password: secret},
		HaTinh:     &hub.HaTinhConfig{PortalCommon: common(NameHaTinh), APIKey: hatinhKey},
	}
}
