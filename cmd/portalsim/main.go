// Command portalsim runs the simulators of the three provincial portals (Sơn
// La JSON REST, Thái Nguyên SOAP, Hà Tĩnh XML feed) and of the national public
// service portal, each on its own address.
//
//	portalsim -generate 500 -seed 42 -steps 4
//	portalsim -state-dir .portalsim -generate 500
//
// With -state-dir, each simulator starts from DIR/<name>.state when the file
// exists (and then skips -generate) and saves its whole state there on
// shutdown, so a restart finds the dossiers, versions, feed and writebacks it
// left behind.
//
// Credentials come from flags or, when a flag is not given, from the
// environment variables named in its usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lienthong/lienthong/sim/hatinh"
	"github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/sim/sonla"
	"github.com/lienthong/lienthong/sim/thainguyen"
)

// options are the command-line settings.
type options struct {
	sonlaAddr, thainguyenAddr, hatinhAddr, nationalAddr string

	sonlaClientID, sonlaClientSecret string
	sonlaTokenTTL                    time.Duration
	tnUser, tnPassword, tnPrefix     string
	htAPIKey, htCharset              string
	natUser, natPassword, natDst     string
	natSessionTTL                    time.Duration

	generate, steps, intervalMS int
	seed                        int64

	stateDir string
}

func env(name, dflt string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return dflt
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("portalsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.sonlaAddr, "sonla-addr", env("PORTALSIM_SONLA_ADDR", "127.0.0.1:18081"), "Sơn La listen address (env PORTALSIM_SONLA_ADDR; empty disables)")
	fs.StringVar(&o.thainguyenAddr, "thainguyen-addr", env("PORTALSIM_THAINGUYEN_ADDR", "127.0.0.1:18082"), "Thái Nguyên listen address (env PORTALSIM_THAINGUYEN_ADDR; empty disables)")
	fs.StringVar(&o.hatinhAddr, "hatinh-addr", env("PORTALSIM_HATINH_ADDR", "127.0.0.1:18083"), "Hà Tĩnh listen address (env PORTALSIM_HATINH_ADDR; empty disables)")
	fs.StringVar(&o.nationalAddr, "national-addr", env("PORTALSIM_NATIONAL_ADDR", "127.0.0.1:18090"), "national portal listen address (env PORTALSIM_NATIONAL_ADDR; empty disables)")

	fs.StringVar(&o.sonlaClientID, "sonla-client-id", env("PORTALSIM_SONLA_CLIENT_ID", "hub"), "Sơn La OAuth client_id (env PORTALSIM_SONLA_CLIENT_ID)")
	fs.StringVar(&o.sonlaClientSecret, "sonla-client-secret", env("PORTALSIM_SONLA_CLIENT_SECRET", "hub-secret"), "Sơn La OAuth client_secret (env PORTALSIM_SONLA_CLIENT_SECRET)")
	fs.DurationVar(&o.sonlaTokenTTL, "sonla-token-ttl", 300*time.Second, "Sơn La token lifetime")
	fs.StringVar(&o.tnUser, "thainguyen-user", env("PORTALSIM_THAINGUYEN_USER", "hub"), "Thái Nguyên TenDangNhap (env PORTALSIM_THAINGUYEN_USER)")
	fs.StringVar(&o.tnPassword, "thainguyen-password", env("PORTALSIM_THAINGUYEN_PASSWORD", "hub-secret"), "Thái Nguyên MatKhau (env PORTALSIM_THAINGUYEN_PASSWORD)")
	fs.StringVar(&o.tnPrefix, "thainguyen-prefix", env("PORTALSIM_THAINGUYEN_PREFIX", ""), `Thái Nguyên answer namespace prefix: "" (default namespace), mc, tns, ns1, … or "*" to rotate`)
	fs.StringVar(&o.htAPIKey, "hatinh-api-key", env("PORTALSIM_HATINH_API_KEY", "hub-key"), "Hà Tĩnh X-API-Key (env PORTALSIM_HATINH_API_KEY)")
	fs.StringVar(&o.htCharset, "hatinh-charset", env("PORTALSIM_HATINH_CHARSET", "utf-8"), "Hà Tĩnh feed charset: utf-8 or windows-1258")
	fs.StringVar(&o.natUser, "national-user", env("PORTALSIM_NATIONAL_USER", "hub"), "national portal username (env PORTALSIM_NATIONAL_USER)")
	fs.StringVar(&o.natPassword, "national-password", env("PORTALSIM_NATIONAL_PASSWORD", "hub-secret"), "national portal password (env PORTALSIM_NATIONAL_PASSWORD)")
	fs.StringVar(&o.natDst, "national-dstcodes", env("PORTALSIM_NATIONAL_DSTCODES", ""), "comma-separated dstcodes the national login accepts (empty: any)")
	fs.DurationVar(&o.natSessionTTL, "national-session-ttl", 30*time.Minute, "national portal session lifetime")

	fs.IntVar(&o.generate, "generate", 0, "generate N dossiers on each provincial portal at start")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed")
	fs.IntVar(&o.steps, "steps", 3, "lifecycle changes applied to each generated dossier")
	fs.StringVar(&o.stateDir, "state-dir", env("PORTALSIM_STATE_DIR", ""), "restore each simulator from DIR/<name>.state at start if present and save it there on shutdown (env PORTALSIM_STATE_DIR; empty: keep nothing)")
	fs.IntVar(&o.intervalMS, "interval-ms", 0, "apply the lifecycle changes in the background, one per dossier every interval (0: at once)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.generate < 0 || o.steps < 0 || o.intervalMS < 0 {
		return o, errors.New("-generate, -steps and -interval-ms must not be negative")
	}
	if err := thainguyen.ValidPrefix(o.tnPrefix); err != nil {
		return o, err
	}
	switch strings.ToLower(o.htCharset) {
	case "utf-8", "utf8", "windows-1258", "cp1258":
	default:
		return o, fmt.Errorf("-hatinh-charset %q: want utf-8 or windows-1258", o.htCharset)
	}
	return o, nil
}

// simulator is what every simulator offers: serving, releasing held requests
// and stopping background work, and saving and restoring its state.
type simulator interface {
	http.Handler
	Close()
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

type service struct {
	name string
	addr string
	sim  simulator
	book *simctl.Book // provincial portals only
}

func build(o options) []service {
	var accounts []national.Account
	for _, d := range strings.Split(o.natDst, ",") {
		accounts = append(accounts, national.Account{DstCode: strings.TrimSpace(d), Username: o.natUser, Password: o.natPassword})
	}
	sl := sonla.New(sonla.Config{ClientID: o.sonlaClientID, ClientSecret: o.sonlaClientSecret, TokenTTL: o.sonlaTokenTTL})
	tn := thainguyen.New(thainguyen.Config{Username: o.tnUser, Password: o.tnPassword, Prefix: o.tnPrefix})
	ht := hatinh.New(hatinh.Config{APIKey: o.htAPIKey, Charset: o.htCharset})
	nat := national.New(national.Config{Accounts: accounts, SessionTTL: o.natSessionTTL})
	all := []service{
		{"sonla", o.sonlaAddr, sl, sl.Book()},
		{"thainguyen", o.thainguyenAddr, tn, tn.Book()},
		{"hatinh", o.hatinhAddr, ht, ht.Book()},
		{"national", o.nationalAddr, nat, nil},
	}
	var out []service
	for _, s := range all {
		if s.addr != "" {
			out = append(out, s)
		}
	}
	return out
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "portalsim: ", log.LstdFlags)
	services := build(o)
	defer func() {
		for _, s := range services {
			s.sim.Close()
		}
	}()

	restored := map[string]bool{}
	if o.stateDir != "" {
		for _, s := range services {
			ok, err := restoreState(o.stateDir, s)
			if err != nil {
				return err
			}
			if ok {
				restored[s.name] = true
				logger.Printf("%s: restored state from %s", s.name, statePath(o.stateDir, s.name))
			}
		}
	}

	if o.generate > 0 {
		for _, s := range services {
			if s.book == nil {
				continue
			}
			if restored[s.name] {
				logger.Printf("%s: state restored, not generating", s.name)
				continue
			}
			seed := o.seed
			res, err := s.book.Generate(simctl.GenerateRequest{Count: o.generate, Seed: &seed, Steps: o.steps, IntervalMS: o.intervalMS})
			if err != nil {
				return fmt.Errorf("%s: generate: %w", s.name, err)
			}
			logger.Printf("%s: generated %d dossiers (%d changes applied, %d pending)", s.name, len(res.Created), res.Applied, res.Pending)
		}
	}

	errc := make(chan error, len(services))
	var servers []*http.Server
	for _, s := range services {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, srv := range servers {
				_ = srv.Close()
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		srv := &http.Server{Handler: s.sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
		servers = append(servers, srv)
		logger.Printf("%s listening on http://%s", s.name, ln.Addr())
		go func() { errc <- srv.Serve(ln) }()
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Release requests held by timeout_rate first, or Shutdown would wait on them.
	for _, s := range services {
		s.sim.Close()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if o.stateDir != "" {
		// Every server has stopped: nothing changes the state any more.
		for _, s := range services {
			if serr := saveState(o.stateDir, s); serr != nil {
				err = errors.Join(err, serr)
				continue
			}
			logger.Printf("%s: state saved to %s", s.name, statePath(o.stateDir, s.name))
		}
	}
	return err
}

func statePath(dir, name string) string { return filepath.Join(dir, name+".state") }

// restoreState restores s from its state file; ok is false when there is none.
func restoreState(dir string, s service) (ok bool, err error) {
	ok, err = simctl.LoadStateFile(statePath(dir, s.name), s.sim.Restore)
	if err != nil {
		return false, fmt.Errorf("%s: restore %w", s.name, err)
	}
	return ok, nil
}

// saveState saves s to DIR/<name>.state atomically (temporary file, sync,
// rename), so a crash at any point never leaves a torn file.
func saveState(dir string, s service) error {
	if err := simctl.SaveStateFile(statePath(dir, s.name), s.sim.Snapshot); err != nil {
		return fmt.Errorf("%s: save state: %w", s.name, err)
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "portalsim:", err)
		os.Exit(1)
	}
}
