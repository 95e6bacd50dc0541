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

// Simulator names, as used for addresses and state files.
const (
	NameSonLa      = schemas.SourceSonLa
	NameThaiNguyen = schemas.SourceThaiNguyen
	NameHaTinh     = schemas.SourceHaTinh
	NameNational   = "national"
	NamePayment    = "payment"
	NameVNPost     = "vnpost"
	NameSMS        = "sms"
	NameMail       = "mail" // the SMTP simulator's HTTP control port
	// NameSMTP and NameHub are addresses only: the SMTP listener, and the
	// hub's own HTTP listener the payment simulator posts IPNs to.
	NameSMTP = "smtp"
	NameHub  = "hub"
)

// Level4 lists the level-4 simulators with an HTTP port, in a stable order.
var Level4 = []string{NamePayment, NameVNPost, NameSMS, NameMail}

// PaymentPartners are the provinces' partner accounts at the simulated
// payment platform, by source.
var PaymentPartners = map[string]hub.PartnerConfig{
	NameSonLa:      {Code: "DVC14", Secret: "sonla-payment-secret"},
	NameThaiNguyen: {Code: "DVC19", Secret: "thainguyen-payment-secret"},
	NameHaTinh:     {Code: "DVC42", Secret: "hatinh-payment-secret"},
}

// VNPostCustomer is the hub's VNPost customer code.
const VNPostCustomer = "LIENTHONG"

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

var (
	_ snapshotter = (*restjson.Server)(nil)
	_ snapshotter = (*soap.Server)(nil)
	_ snapshotter = (*xmlfeed.Server)(nil)
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
	partners := map[string]string{}
	for _, p := range PaymentPartners {
		partners[p.Code] = p.Secret
	}
	s := &Sims{
		Payment: payment.New(payment.Config{Partners: partners, CallbackURL: "http://" + hubAddr + hub.PaymentCallbackPath,
			RetryDelays: []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second}}),
		VNPost:     vnpost.New(vnpost.Config{Clients: map[string]string{user: secret}}),
		SMS:        sms.New(sms.Config{Username: user, Password: secret}),
		Mail:       mail.New(mail.Config{Domain: "mail.sim"}),
		HubAddr:    hubAddr,
		SonLa:      restjson.New(restjson.Config{ClientID: user, ClientSecret: secret}),
		ThaiNguyen: soap.New(soap.Config{Username: user, Password: secret, Prefix: o.ThaiNguyenPrefix}),
		HaTinh:     xmlfeed.New(xmlfeed.Config{APIKey: hatinhKey, Charset: o.HaTinhCharset}),
		National:   national.New(national.Config{Accounts: []national.Account{{Username: user, Password: secret}}}),
		URLs:       map[string]string{},
		stateDir:   o.StateDir,
		servers:    map[string]*http.Server{},
	}
	s.handlers = map[string]http.Handler{NameSonLa: s.SonLa, NameThaiNguyen: s.ThaiNguyen, NameHaTinh: s.HaTinh, NameNational: s.National,
		NamePayment: s.Payment, NameVNPost: s.VNPost, NameSMS: s.SMS, NameMail: s.Mail.Handler()}
	s.snapshots = map[string]snapshotter{NameSonLa: s.SonLa, NameThaiNguyen: s.ThaiNguyen, NameHaTinh: s.HaTinh, NameNational: s.National,
		NamePayment: s.Payment, NameVNPost: s.VNPost, NameSMS: s.SMS, NameMail: s.Mail}

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
	for _, name := range append(append(append([]string{}, Sources...), NameNational), Level4...) {
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
	s.SonLa.Close()
	s.ThaiNguyen.Close()
	s.HaTinh.Close()
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
	common := func(name string) hub.PortalCommon {
		return hub.PortalCommon{
			BaseURL: s.URLs[name], PageSize: 500, PollInterval: 250 * time.Millisecond,
			DstCode: units[name], MaDonVi: units[name],
		}
	}
	return hub.Config{
		Instance:   "dev",
		Kafka:      hub.KafkaConfig{Brokers: brokers, Partitions: 16, ReplicationFactor: 1},
		Store:      st,
		National:   hub.NationalConfig{BaseURL: s.URLs[NameNational], Username: user, Password: secret, Linger: 5 * time.Millisecond},
		SonLa:      &hub.SonLaConfig{PortalCommon: common(NameSonLa), ClientID: user, ClientSecret: secret},
		ThaiNguyen: &hub.ThaiNguyenConfig{PortalCommon: common(NameThaiNguyen), Username: user, Password: secret},
		HaTinh:     &hub.HaTinhConfig{PortalCommon: common(NameHaTinh), APIKey: hatinhKey},

		HTTP: hub.HTTPConfig{Listen: s.HubAddr},
		Payment: &hub.PaymentConfig{BaseURL: s.URLs[NamePayment], Partners: PaymentPartners,
			QueryAfter: 5 * time.Second, ReconcileInterval: time.Second},
		VNPost: &hub.VNPostConfig{BaseURL: s.URLs[NameVNPost], ClientID: user, ClientSecret: secret,
			CustomerCode: VNPostCustomer, PollInterval: 250 * time.Millisecond, Senders: senders},
		SMS:  &hub.SMSConfig{BaseURL: s.URLs[NameSMS], Username: user, Password: secret, Brandname: "DICHVUCONG"},
		SMTP: &hub.SMTPConfig{Addr: s.SMTPAddr, From: "khongtraloi@dichvucong.gov.vn"},
	}
}

// senders are the provincial one-stop offices results are posted from.
var senders = map[string]hub.SenderConfig{
	NameSonLa:      {Name: "Bộ phận một cửa tỉnh Sơn La", Tel: "02123852000", Address: "Tổ 2, phường Tô Hiệu", Province: "14"},
	NameThaiNguyen: {Name: "Trung tâm Phục vụ hành chính công tỉnh Thái Nguyên", Tel: "02083856000", Address: "Số 18, đường Nha Trang, phường Phan Đình Phùng", Province: "19"},
	NameHaTinh:     {Name: "Trung tâm Phục vụ hành chính công tỉnh Hà Tĩnh", Tel: "02393855000", Address: "Số 2, đường Nguyễn Tất Thành, phường Thành Sen", Province: "42"},
}

// reserveAddr returns addr, or a free loopback port when addr is empty: the
// payment simulator must know the hub's callback address before the hub
// starts.
func reserveAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reserve a port for the hub: %w", err)
	}
	addr = ln.Addr().String()
	return addr, ln.Close()
}
