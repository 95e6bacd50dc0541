// Command portalsim runs the simulators of provincial portals (by default the
// spec's three: Sơn La JSON REST, Thái Nguyên SOAP, Hà Tĩnh XML feed; -portal
// adds any number more of any kind, each its own province), of the national public
// service portal and of the level-4 systems the hub talks to (the payment
// platform, VNPost's order API, the SMS brand-name gateway and the SMTP relay),
// each on its own address. An empty address disables a simulator.
//
//	portalsim -generate 500 -seed 42 -steps 4
//	portalsim -state-dir .portalsim -generate 500
//	portalsim -payment-partners DVC14=secret,DVC19=secret2 -payment-callback http://127.0.0.1:18080/callbacks/payment
//	portalsim -portal name=laichau,kind=rest-json,province=12,addr=127.0.0.1:18084 \
//	          -portal name=nghean,kind=xml-feed,province=40,addr=127.0.0.1:18085,charset=utf-8
//
// The mail simulator listens twice: SMTP on -smtp-addr and its HTTP control
// port (/_sim/mail, /_sim/health, /_sim/faults) on -mail-addr; either may be
// disabled alone. The payment simulator posts its payment notifications (IPN)
// to -payment-callback, the hub's endpoint.
//
// With -state-dir, each simulator starts from DIR/<name>.state when the file
// exists (and then skips -generate) and saves its whole state there on
// shutdown, so a restart finds the dossiers, versions, feed, writebacks,
// transactions, orders, SMS and mail it left behind.
//
// Credentials come from flags or, when a flag is not given, from the
// environment variables named in its usage.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/mail"
	"github.com/lienthong/lienthong/sim/national"
	"github.com/lienthong/lienthong/sim/payment"
	"github.com/lienthong/lienthong/sim/restjson"
	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/sim/sms"
	"github.com/lienthong/lienthong/sim/soap"
	"github.com/lienthong/lienthong/sim/vnpost"
	"github.com/lienthong/lienthong/sim/xmlfeed"
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

	paymentAddr, vnpostAddr, smsAddr, mailAddr, smtpAddr string

	paymentPartners        map[string]string // MaDoiTac → secret
	paymentCallback        string
	paymentRetryDelays     []time.Duration // nil: the platform's default
	vnpostClientID         string
	vnpostClientSecret     string
	vnpostTokenTTL         time.Duration
	smsUser, smsPassword   string
	smtpUser, smtpPassword string
	smtpDomain             string

	generate, steps, intervalMS int
	seed                        int64

	portals []extraPortal // -portal, in order

	stateDir string
}

func env(name, dflt string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return dflt
}

// defaultPaymentPartners are the provinces' partner accounts of devenv
// (devenv.PaymentPartners), so a hub configured like `hub dev` can pay.
const defaultPaymentPartners = "DVC14=sonla-payment-secret,DVC19=thainguyen-payment-secret,DVC42=hatinh-payment-secret"

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var partners, retryDelays string
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

	fs.StringVar(&o.paymentAddr, "payment-addr", env("PORTALSIM_PAYMENT_ADDR", "127.0.0.1:18091"), "payment platform listen address (env PORTALSIM_PAYMENT_ADDR; empty disables)")
	fs.StringVar(&o.vnpostAddr, "vnpost-addr", env("PORTALSIM_VNPOST_ADDR", "127.0.0.1:18092"), "VNPost API listen address (env PORTALSIM_VNPOST_ADDR; empty disables)")
	fs.StringVar(&o.smsAddr, "sms-addr", env("PORTALSIM_SMS_ADDR", "127.0.0.1:18093"), "SMS gateway listen address (env PORTALSIM_SMS_ADDR; empty disables)")
	fs.StringVar(&o.mailAddr, "mail-addr", env("PORTALSIM_MAIL_ADDR", "127.0.0.1:18094"), "mail simulator HTTP control listen address (env PORTALSIM_MAIL_ADDR; empty disables)")
	fs.StringVar(&o.smtpAddr, "smtp-addr", env("PORTALSIM_SMTP_ADDR", "127.0.0.1:2525"), "mail simulator SMTP listen address (env PORTALSIM_SMTP_ADDR; empty disables)")

	fs.StringVar(&partners, "payment-partners", env("PORTALSIM_PAYMENT_PARTNERS", defaultPaymentPartners), "payment partner accounts, comma-separated MaDoiTac=secret (env PORTALSIM_PAYMENT_PARTNERS)")
	fs.StringVar(&o.paymentCallback, "payment-callback", env("PORTALSIM_PAYMENT_CALLBACK", "http://127.0.0.1:18080/callbacks/payment"), "URL the payment platform posts its notifications (IPN) to: the hub's endpoint (env PORTALSIM_PAYMENT_CALLBACK; empty: none are sent)")
	fs.StringVar(&retryDelays, "payment-retry-delays", env("PORTALSIM_PAYMENT_RETRY_DELAYS", ""), `comma-separated waits between IPN attempts not acknowledged (env PORTALSIM_PAYMENT_RETRY_DELAYS; empty: the platform's 30s,1m,2m,3m,3m30s; "none": no retries)`)
	fs.StringVar(&o.vnpostClientID, "vnpost-client-id", env("PORTALSIM_VNPOST_CLIENT_ID", "hub"), "VNPost client_id (env PORTALSIM_VNPOST_CLIENT_ID)")
	fs.StringVar(&o.vnpostClientSecret, "vnpost-client-secret", env("PORTALSIM_VNPOST_CLIENT_SECRET", "hub-secret"), "VNPost client_secret (env PORTALSIM_VNPOST_CLIENT_SECRET)")
	fs.DurationVar(&o.vnpostTokenTTL, "vnpost-token-ttl", time.Hour, "VNPost token lifetime")
	fs.StringVar(&o.smsUser, "sms-user", env("PORTALSIM_SMS_USER", "hub"), "SMS gateway Basic auth username (env PORTALSIM_SMS_USER)")
	fs.StringVar(&o.smsPassword, "sms-password", env("PORTALSIM_SMS_PASSWORD", "hub-secret"), "SMS gateway Basic auth password (env PORTALSIM_SMS_PASSWORD)")
	fs.StringVar(&o.smtpUser, "smtp-user", env("PORTALSIM_SMTP_USER", ""), "SMTP AUTH PLAIN username (env PORTALSIM_SMTP_USER; with -smtp-password empty too, no AUTH is required)")
	fs.StringVar(&o.smtpPassword, "smtp-password", env("PORTALSIM_SMTP_PASSWORD", ""), "SMTP AUTH PLAIN password (env PORTALSIM_SMTP_PASSWORD)")
	fs.StringVar(&o.smtpDomain, "smtp-domain", env("PORTALSIM_SMTP_DOMAIN", "mail.sim"), "domain the SMTP greeting announces (env PORTALSIM_SMTP_DOMAIN)")

	fs.IntVar(&o.generate, "generate", 0, "generate N dossiers on each provincial portal at start")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed")
	fs.IntVar(&o.steps, "steps", 3, "lifecycle changes applied to each generated dossier")
	fs.StringVar(&o.stateDir, "state-dir", env("PORTALSIM_STATE_DIR", ""), "restore each simulator from DIR/<name>.state at start if present and save it there on shutdown (env PORTALSIM_STATE_DIR; empty: keep nothing)")
	fs.IntVar(&o.intervalMS, "interval-ms", 0, "apply the lifecycle changes in the background, one per dossier every interval (0: at once)")
	fs.Func("portal", "one more provincial portal, repeatable: name=NAME,kind=rest-json|soap|xml-feed,province=CODE,addr=HOST:PORT[,user=…][,secret=…][,charset=utf-8|windows-1258] (credentials default to hub / hub-secret, API key hub-key)", func(v string) error {
		p, err := parsePortal(v)
		if err == nil {
			o.portals = append(o.portals, p)
		}
		return err
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	taken := map[string]bool{"sonla": true, "thainguyen": true, "hatinh": true, "national": true, "payment": true, "vnpost": true, "sms": true, "mail": true}
	for _, p := range o.portals {
		if taken[p.name] {
			return o, fmt.Errorf("-portal name=%s: the name of another simulator", p.name)
		}
		taken[p.name] = true
	}
	if o.generate < 0 || o.steps < 0 || o.intervalMS < 0 {
		return o, errors.New("-generate, -steps and -interval-ms must not be negative")
	}
	if err := soap.ValidPrefix(o.tnPrefix); err != nil {
		return o, err
	}
	switch strings.ToLower(o.htCharset) {
	case "utf-8", "utf8", "windows-1258", "cp1258":
	default:
		return o, fmt.Errorf("-hatinh-charset %q: want utf-8 or windows-1258", o.htCharset)
	}
	var err error
	if o.paymentPartners, err = parsePartners(partners); err != nil {
		return o, fmt.Errorf("-payment-partners: %w", err)
	}
	if o.paymentAddr != "" && len(o.paymentPartners) == 0 {
		return o, errors.New("-payment-partners: at least one MaDoiTac=secret is needed")
	}
	if o.paymentRetryDelays, err = parseDelays(retryDelays); err != nil {
		return o, fmt.Errorf("-payment-retry-delays: %w", err)
	}
	if o.paymentCallback != "" {
		u, err := url.Parse(o.paymentCallback)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("-payment-callback %q: want an http(s) URL", o.paymentCallback)
		}
	}
	if o.vnpostClientID == "" {
		return o, errors.New("-vnpost-client-id must not be empty")
	}
	return o, nil
}

// extraPortal is one -portal.
type extraPortal struct {
	name, kind, province, addr string
	user, secret, charset      string
}

// parsePortal parses a -portal value.
func parsePortal(v string) (extraPortal, error) {
	var p extraPortal
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, fmt.Errorf("%q: want key=value", kv)
		}
		switch k {
		case "name":
			p.name = val
		case "kind":
			p.kind = val
		case "province":
			p.province = val
		case "addr":
			p.addr = val
		case "user":
			p.user = val
		case "secret":
			p.secret = val
		case "charset":
			p.charset = val
		default:
			return p, fmt.Errorf("unknown key %q (want name, kind, province, addr, user, secret, charset)", k)
		}
	}
	switch {
	case p.name == "" || p.addr == "":
		return p, errors.New("name and addr are required")
	case p.kind != schemas.KindRESTJSON && p.kind != schemas.KindSOAP && p.kind != schemas.KindXMLFeed:
		return p, fmt.Errorf("kind %q: want rest-json, soap or xml-feed", p.kind)
	case len(p.province) != 2 || strings.Trim(p.province, "0123456789") != "":
		return p, fmt.Errorf("province %q: want a two-digit code", p.province)
	case p.charset != "" && p.kind != schemas.KindXMLFeed:
		return p, errors.New("charset is for kind xml-feed only")
	}
	switch strings.ToLower(p.charset) {
	case "", "utf-8", "utf8", "windows-1258", "cp1258":
	default:
		return p, fmt.Errorf("charset %q: want utf-8 or windows-1258", p.charset)
	}
	return p, nil
}

// parsePartners parses "CODE=secret,CODE2=secret2" (secrets cannot hold a
// comma); an empty list is no partner.
func parsePartners(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		code, secret, ok := strings.Cut(p, "=")
		code, secret = strings.TrimSpace(code), strings.TrimSpace(secret)
		if !ok || code == "" || secret == "" {
			return nil, fmt.Errorf("%q: want MaDoiTac=secret", p)
		}
		if _, dup := out[code]; dup {
			return nil, fmt.Errorf("partner %s given twice", code)
		}
		out[code] = secret
	}
	return out, nil
}

// parseDelays parses comma-separated durations: "" is nil (the default),
// "none" an empty list (no retries).
func parseDelays(s string) ([]time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, nil
	case "none":
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, fmt.Errorf("%s: must be positive", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// simulator is what every simulator offers: serving, releasing held requests
// and stopping background work, and saving and restoring its state.
type simulator interface {
	http.Handler
	Close()
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// mailSim adapts the mail simulator to simulator: it serves its HTTP control
// port, and Close also stops SMTP. Close's error, from closing the SMTP
// listener, is dropped: run closes that listener itself anyway.
type mailSim struct{ *mail.Server }

func (m mailSim) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.Handler().ServeHTTP(w, r) }
func (m mailSim) Close()                                           { _ = m.Server.Close() }

var (
	_ simulator = (*restjson.Server)(nil)
	_ simulator = (*soap.Server)(nil)
	_ simulator = (*xmlfeed.Server)(nil)
	_ simulator = (*national.Server)(nil)
	_ simulator = (*payment.Server)(nil)
	_ simulator = (*vnpost.Server)(nil)
	_ simulator = (*sms.Server)(nil)
	_ simulator = mailSim{}
)

type service struct {
	name string
	addr string // HTTP listen address; "" for none (mail serving only SMTP)
	sim  simulator
	book *simctl.Book // provincial portals only
	// smtp serves SMTP on smtpAddr (the mail simulator only).
	smtp     *mail.Server
	smtpAddr string
}

// build creates the enabled simulators, in a stable order.
func build(o options) []service {
	var out []service
	add := func(addr string, mk func() service) {
		if addr != "" {
			out = append(out, mk())
		}
	}
	add(o.sonlaAddr, func() service {
		sl := restjson.New(restjson.Config{ClientID: o.sonlaClientID, ClientSecret: o.sonlaClientSecret, TokenTTL: o.sonlaTokenTTL})
		return service{name: "sonla", addr: o.sonlaAddr, sim: sl, book: sl.Book()}
	})
	add(o.thainguyenAddr, func() service {
		tn := soap.New(soap.Config{Username: o.tnUser, Password: o.tnPassword, Prefix: o.tnPrefix})
		return service{name: "thainguyen", addr: o.thainguyenAddr, sim: tn, book: tn.Book()}
	})
	add(o.hatinhAddr, func() service {
		ht := xmlfeed.New(xmlfeed.Config{APIKey: o.htAPIKey, Charset: o.htCharset})
		return service{name: "hatinh", addr: o.hatinhAddr, sim: ht, book: ht.Book()}
	})
	for _, p := range o.portals {
		prof := gen.ForProvince(p.province)
		user := cmp.Or(p.user, "hub")
		add(p.addr, func() service {
			var sim interface {
				simulator
				Book() *simctl.Book
			}
			switch p.kind {
			case schemas.KindRESTJSON:
				sim = restjson.New(restjson.Config{ClientID: user, ClientSecret: cmp.Or(p.secret, "hub-secret"), Profile: &prof})
			case schemas.KindSOAP:
				sim = soap.New(soap.Config{Username: user, Password: cmp.Or(p.secret, "hub-secret"), Profile: &prof})
			default:
				sim = xmlfeed.New(xmlfeed.Config{APIKey: cmp.Or(p.secret, "hub-key"), Charset: p.charset, Profile: &prof})
			}
			return service{name: p.name, addr: p.addr, sim: sim, book: sim.Book()}
		})
	}
	add(o.nationalAddr, func() service {
		var accounts []national.Account
		for _, d := range strings.Split(o.natDst, ",") {
			accounts = append(accounts, national.Account{DstCode: strings.TrimSpace(d), Username: o.natUser, Password: o.natPassword})
		}
		return service{name: "national", addr: o.nationalAddr, sim: national.New(national.Config{Accounts: accounts, SessionTTL: o.natSessionTTL})}
	})
	add(o.paymentAddr, func() service {
		return service{name: "payment", addr: o.paymentAddr, sim: payment.New(payment.Config{
			Partners: o.paymentPartners, CallbackURL: o.paymentCallback, RetryDelays: o.paymentRetryDelays})}
	})
	add(o.vnpostAddr, func() service {
		return service{name: "vnpost", addr: o.vnpostAddr, sim: vnpost.New(vnpost.Config{
			Clients: map[string]string{o.vnpostClientID: o.vnpostClientSecret}, TokenTTL: o.vnpostTokenTTL})}
	})
	add(o.smsAddr, func() service {
		return service{name: "sms", addr: o.smsAddr, sim: sms.New(sms.Config{Username: o.smsUser, Password: o.smsPassword})}
	})
	// The mail simulator runs when either of its ports is enabled.
	add(cmp.Or(o.mailAddr, o.smtpAddr), func() service {
		m := mail.New(mail.Config{Domain: o.smtpDomain, Username: o.smtpUser, Password: o.smtpPassword})
		return service{name: "mail", addr: o.mailAddr, sim: mailSim{m}, smtp: m, smtpAddr: o.smtpAddr}
	})
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

	errc := make(chan error, 2*len(services))
	var servers []*http.Server
	var smtpListeners []net.Listener
	closeAll := func() {
		for _, srv := range servers {
			_ = srv.Close()
		}
		for _, ln := range smtpListeners {
			_ = ln.Close()
		}
	}
	for _, s := range services {
		if s.addr != "" {
			ln, err := net.Listen("tcp", s.addr)
			if err != nil {
				closeAll()
				return fmt.Errorf("%s: %w", s.name, err)
			}
			srv := &http.Server{Handler: s.sim, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
			servers = append(servers, srv)
			logger.Printf("%s listening on http://%s", s.name, ln.Addr())
			go func() { errc <- srv.Serve(ln) }()
		}
		if s.smtp != nil && s.smtpAddr != "" {
			ln, err := net.Listen("tcp", s.smtpAddr)
			if err != nil {
				closeAll()
				return fmt.Errorf("%s: smtp: %w", s.name, err)
			}
			smtpListeners = append(smtpListeners, ln)
			logger.Printf("%s listening on smtp://%s", s.name, ln.Addr())
			go func() {
				if err := s.smtp.ServeSMTP(ln); err != nil {
					errc <- fmt.Errorf("%s: smtp: %w", s.name, err)
				}
			}()
		}
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Release requests held by timeout_rate first, or Shutdown would wait on
	// them; this also stops SMTP and drops its sessions.
	for _, s := range services {
		s.sim.Close()
	}
	// Should Close have raced ServeSMTP's start, the listener is closed here.
	for _, ln := range smtpListeners {
		_ = ln.Close()
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
