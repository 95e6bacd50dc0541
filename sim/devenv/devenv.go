// Package devenv brings up the simulated portals (five provinces by default) on loopback TCP and a
// hub configuration pointing at them. `hub dev`, `hub bench` and the
// end-to-end tests share it, so they all exercise the same wiring.
package devenv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lienthong/lienthong/hub"
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

// Names of the simulated provincial portals `hub dev` runs, as used for
// sources, addresses and state files.
const (
	NameSonLa      = "sonla"
	NameLaiChau    = "laichau"
	NameThaiNguyen = "thainguyen"
	NameHaTinh     = "hatinh"
	NameNgheAn     = "nghean"
)

// Names of the other simulators.
const (
	NameNational = "national"
	NamePayment  = "payment"
	NameVNPost   = "vnpost"
	NameSMS      = "sms"
	NameMail     = "mail" // the SMTP simulator's HTTP control port
	// NameSMTP and NameHub are addresses only: the SMTP listener, and the
	// hub's own HTTP listener the payment simulator posts IPNs to.
	NameSMTP = "smtp"
	NameHub  = "hub"
)

// Instance is the instance name of the hub `hub dev` runs.
const Instance = "dev"

// Level4 lists the level-4 simulators with an HTTP port, in a stable order.
var Level4 = []string{NamePayment, NameVNPost, NameSMS, NameMail}

// VNPostCustomer is the hub's VNPost customer code.
const VNPostCustomer = "LIENTHONG"

// Credentials the simulators are started with (their defaults).
const (
	user      = "hub"
	secret    = "hub-secret"
	hatinhKey = "hub-key"
)

// Portal is one simulated provincial portal: an instance of an interface
// kind with its own province, agencies and data.
type Portal struct {
	Name    string // source name
	Label   string // name for people
	Kind    string // schemas.KindRESTJSON, KindSOAP, KindXMLFeed
	Profile gen.Profile
	// Unit is the province's national unit code (dstcode and madonvi).
	Unit string
	// Charset of an xml-feed portal ("utf-8" default, "windows-1258").
	Charset string
	// Credentials the simulator accepts: client ID or user name (default
	// hub), and secret, password or API key (default hub-secret, API key
	// hub-key).
	ClientID, ClientSecret string
	Partner                hub.PartnerConfig // its payment partner account
	Sender                 hub.SenderConfig  // its postal sending office
}

// Province returns the portal's province code.
func (p Portal) Province() string { return p.Profile.Province }

// DevPortals are the five provinces `hub dev` runs: two of the JSON REST
// kind, one SOAP, and two change feeds (one windows-1258, one UTF-8).
func DevPortals() []Portal {
	return []Portal{
		{Name: NameSonLa, Label: "Sơn La", Kind: schemas.KindRESTJSON, Profile: gen.SonLa(), Unit: "000.00.00.H52",
			Partner: hub.PartnerConfig{Code: "DVC14", Secret: "sonla-payment-secret"},
			Sender:  hub.SenderConfig{Name: "Bộ phận một cửa tỉnh Sơn La", Tel: "02123852000", Address: "Tổ 2, phường Tô Hiệu", Province: "14"}},
		{Name: NameLaiChau, Label: "Lai Châu", Kind: schemas.KindRESTJSON, Profile: gen.LaiChau(), Unit: "000.00.00.H33",
			ClientID: "hub-laichau", ClientSecret: "laichau-secret",
			Partner: hub.PartnerConfig{Code: "DVC12", Secret: "laichau-payment-secret"},
			Sender:  hub.SenderConfig{Name: "Trung tâm Phục vụ hành chính công tỉnh Lai Châu", Tel: "02133876000", Address: "Tổ 12, phường Tân Phong", Province: "12"}},
		{Name: NameThaiNguyen, Label: "Thái Nguyên", Kind: schemas.KindSOAP, Profile: gen.ThaiNguyen(), Unit: "000.00.00.H55",
			Partner: hub.PartnerConfig{Code: "DVC19", Secret: "thainguyen-payment-secret"},
			Sender:  hub.SenderConfig{Name: "Trung tâm Phục vụ hành chính công tỉnh Thái Nguyên", Tel: "02083856000", Address: "Số 18, đường Nha Trang, phường Phan Đình Phùng", Province: "19"}},
		{Name: NameHaTinh, Label: "Hà Tĩnh", Kind: schemas.KindXMLFeed, Profile: gen.HaTinh(), Unit: "000.00.00.H25", Charset: "windows-1258",
			Partner: hub.PartnerConfig{Code: "DVC42", Secret: "hatinh-payment-secret"},
			Sender:  hub.SenderConfig{Name: "Trung tâm Phục vụ hành chính công tỉnh Hà Tĩnh", Tel: "02393855000", Address: "Số 2, đường Nguyễn Tất Thành, phường Thành Sen", Province: "42"}},
		{Name: NameNgheAn, Label: "Nghệ An", Kind: schemas.KindXMLFeed, Profile: gen.NgheAn(), Unit: "000.00.00.H40", Charset: "utf-8",
			ClientSecret: "nghean-key",
			Partner:      hub.PartnerConfig{Code: "DVC40", Secret: "nghean-payment-secret"},
			Sender:       hub.SenderConfig{Name: "Trung tâm Phục vụ hành chính công tỉnh Nghệ An", Tel: "02383599000", Address: "Số 16, đường Trường Thi, phường Trường Thi", Province: "40"}},
	}
}

// DevPortal is the portal of DevPortals named name.
func DevPortal(name string) (Portal, bool) {
	for _, p := range DevPortals() {
		if p.Name == name {
			return p, true
		}
	}
	return Portal{}, false
}

// Sources are the names of DevPortals, in order.
var Sources = func() []string {
	var out []string
	for _, p := range DevPortals() {
		out = append(out, p.Name)
	}
	return out
}()

// Options chooses where the simulators listen and how they speak.
type Options struct {
	// Addrs maps a simulator name to host:port; missing means 127.0.0.1:0.
	Addrs map[string]string
	// StateDir, when set, restores each simulator from StateDir/<name>.state
	// at start and writes it back on Close, so `hub dev` can be restarted.
	StateDir string
	// Portals are the provincial portals to simulate (default DevPortals).
	Portals []Portal
	// HaTinhCharset, when set, overrides the charset of every xml-feed
	// portal ("utf-8" or "windows-1258").
	HaTinhCharset string
	// ThaiNguyenPrefix is the namespace prefix of SOAP answers ("" default
	// namespace, "mc", "tns", "*" to rotate).
	ThaiNguyenPrefix string
}

// Sims are the running simulators.
type Sims struct {
	// Portals are the provincial portals simulated, in order.
	Portals []Portal
	// SonLa, ThaiNguyen and HaTinh are those portals' simulators when they
	// are simulated (tests that drive one kind reach for them).
	SonLa      *restjson.Server
	ThaiNguyen *soap.Server
	HaTinh     *xmlfeed.Server
	National   *national.Server
	Payment    *payment.Server
	VNPost     *vnpost.Server
	SMS        *sms.Server
	Mail       *mail.Server
	// URLs maps a simulator name to its base URL.
	URLs map[string]string
	// SMTPAddr is the SMTP simulator's host:port, HubAddr the host:port the
	// hub must listen on for the payment platform's notifications.
	SMTPAddr string
	HubAddr  string
	smtpLn   net.Listener

	portals   map[string]portalSim
	stateDir  string
	servers   map[string]*http.Server
	handlers  map[string]http.Handler
	snapshots map[string]snapshotter
}

// snapshotter is what every simulator offers to survive a restart.
type snapshotter interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// portalSim is what every provincial simulator offers.
type portalSim interface {
	http.Handler
	snapshotter
	Book() *simctl.Book
	Controller() *simctl.Controller
	Close()
}

var (
	_ portalSim   = (*restjson.Server)(nil)
	_ portalSim   = (*soap.Server)(nil)
	_ portalSim   = (*xmlfeed.Server)(nil)
	_ snapshotter = (*national.Server)(nil)
	_ snapshotter = (*payment.Server)(nil)
	_ snapshotter = (*vnpost.Server)(nil)
	_ snapshotter = (*sms.Server)(nil)
	_ snapshotter = (*mail.Server)(nil)
)

// Start starts the simulators: the four portals and the level-4 systems.
func Start(o Options) (*Sims, error) {
	hubAddr, err := reserveAddr(o.Addrs[NameHub])
	if err != nil {
		return nil, err
	}
	if o.Portals == nil {
		o.Portals = DevPortals()
	}
	partners := map[string]string{}
	for _, p := range o.Portals {
		partners[p.Partner.Code] = p.Partner.Secret
	}
	s := &Sims{
		Portals: o.Portals,
		Payment: payment.New(payment.Config{Partners: partners, CallbackURL: "http://" + hubAddr + hub.PaymentCallbackPath,
			RetryDelays: []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second}}),
		VNPost:   vnpost.New(vnpost.Config{Clients: map[string]string{user: secret}}),
		SMS:      sms.New(sms.Config{Username: user, Password: secret}),
		Mail:     mail.New(mail.Config{Domain: "mail.sim"}),
		HubAddr:  hubAddr,
		National: national.New(national.Config{Accounts: []national.Account{{Username: user, Password: secret}}}),
		URLs:     map[string]string{},
		portals:  map[string]portalSim{},
		stateDir: o.StateDir,
		servers:  map[string]*http.Server{},
	}
	s.handlers = map[string]http.Handler{NameNational: s.National,
		NamePayment: s.Payment, NameVNPost: s.VNPost, NameSMS: s.SMS, NameMail: s.Mail.Handler()}
	s.snapshots = map[string]snapshotter{NameNational: s.National,
		NamePayment: s.Payment, NameVNPost: s.VNPost, NameSMS: s.SMS, NameMail: s.Mail}
	var names []string
	for _, p := range o.Portals {
		if _, dup := s.portals[p.Name]; dup || s.handlers[p.Name] != nil {
			return nil, fmt.Errorf("simulator %s: named twice", p.Name)
		}
		prof := p.Profile
		var ps portalSim
		switch p.Kind {
		case schemas.KindRESTJSON:
			sim := restjson.New(restjson.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Profile: &prof})
			if p.Name == NameSonLa {
				s.SonLa = sim
			}
			ps = sim
		case schemas.KindSOAP:
			sim := soap.New(soap.Config{Username: p.ClientID, Password: p.ClientSecret, Prefix: o.ThaiNguyenPrefix, Profile: &prof})
			if p.Name == NameThaiNguyen {
				s.ThaiNguyen = sim
			}
			ps = sim
		case schemas.KindXMLFeed:
			charset := p.Charset
			if o.HaTinhCharset != "" {
				charset = o.HaTinhCharset
			}
			sim := xmlfeed.New(xmlfeed.Config{APIKey: p.ClientSecret, Charset: charset, Profile: &prof})
			if p.Name == NameHaTinh {
				s.HaTinh = sim
			}
			ps = sim
		default:
			return nil, fmt.Errorf("simulator %s: unknown kind %q", p.Name, p.Kind)
		}
		s.portals[p.Name], s.handlers[p.Name], s.snapshots[p.Name] = ps, ps, ps
		names = append(names, p.Name)
	}

	if o.StateDir != "" {
		if err := s.restore(); err != nil {
			return nil, err
		}
	}
	smtpAddr := o.Addrs[NameSMTP]
	if smtpAddr == "" {
		smtpAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("simulator smtp: listen %s: %w", smtpAddr, err)
	}
	s.smtpLn, s.SMTPAddr = ln, ln.Addr().String()
	go func() { _ = s.Mail.ServeSMTP(ln) }()
	for _, name := range append(append(names, NameNational), Level4...) {
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
	for name, h := range s.snapshots {
		if _, err := simctl.LoadStateFile(s.statePath(name), h.Restore); err != nil {
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
	for _, p := range s.portals {
		p.Close()
	}
	s.National.Close()
	s.Payment.Close()
	s.VNPost.Close()
	s.SMS.Close()
	_ = s.Mail.Close()
	if s.stateDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.stateDir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name, h := range s.snapshots {
		errs = append(errs, simctl.SaveStateFile(s.statePath(name), h.Snapshot))
	}
	return errors.Join(errs...)
}

// HubConfig returns a hub configuration for these simulators.
func (s *Sims) HubConfig(brokers []string, st hub.StoreConfig) hub.Config {
	cfg := hub.Config{
		Instance: Instance,
		Kafka:    hub.KafkaConfig{Brokers: brokers, Partitions: 16, ReplicationFactor: 1},
		Store:    st,
		National: hub.NationalConfig{BaseURL: s.URLs[NameNational], Username: user, Password: secret, Linger: 5 * time.Millisecond},

		HTTP: hub.HTTPConfig{Listen: s.HubAddr},
		Payment: &hub.PaymentConfig{BaseURL: s.URLs[NamePayment],
			QueryAfter: 5 * time.Second, ReconcileInterval: time.Second},
		VNPost: &hub.VNPostConfig{BaseURL: s.URLs[NameVNPost], ClientID: user, ClientSecret: secret,
			CustomerCode: VNPostCustomer, PollInterval: 250 * time.Millisecond},
		SMS:  &hub.SMSConfig{BaseURL: s.URLs[NameSMS], Username: user, Password: secret, Brandname: "DICHVUCONG"},
		SMTP: &hub.SMTPConfig{Addr: s.SMTPAddr, From: "khongtraloi@dichvucong.gov.vn"},
	}
	for _, p := range s.Portals {
		cfg.Sources = append(cfg.Sources, p.Source(s.URLs[p.Name]))
	}
	return cfg
}

// Source is the hub's source entry for the portal at baseURL.
func (p Portal) Source(baseURL string) hub.SourceConfig {
	c := hub.SourceConfig{Name: p.Name, Label: p.Label, Province: p.Province(), Kind: p.Kind, BaseURL: baseURL,
		PageSize: 500, PollInterval: 250 * time.Millisecond, DstCode: p.Unit, MaDonVi: p.Unit}
	id := cmp.Or(p.ClientID, user)
	switch p.Kind {
	case schemas.KindRESTJSON:
		c.ClientID, c.ClientSecret = id, cmp.Or(p.ClientSecret, secret)
	case schemas.KindSOAP:
		c.Username, c.Password = id, cmp.Or(p.ClientSecret, secret)
	case schemas.KindXMLFeed:
		c.APIKey = cmp.Or(p.ClientSecret, hatinhKey)
	}
	partner, sender := p.Partner, p.Sender
	c.Payment, c.PostalSender = &partner, &sender
	return c
}

// reserveAddr returns addr, or a free loopback port when addr is empty: the
// payment simulator must know the hub's callback address before the hub
// starts.
//
// The port is free again until the hub binds it. One from the kernel's
// ephemeral range (Linux: 32768-60999) can meanwhile become the local port of
// any outgoing connection, of which tests open many, so it is picked below
// that range first.
func reserveAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	return FreeAddr()
}

// FreeAddr is a loopback address free a moment ago, for a process that
// binds it later (see reserveAddr for why below the ephemeral range).
func FreeAddr() (string, error) {
	for range 50 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			addr := ln.Addr().String()
			return addr, ln.Close()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reserve a loopback port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
