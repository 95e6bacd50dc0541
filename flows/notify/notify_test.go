package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/sms"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/once"
	"github.com/lienthong/lienthong/schemas"
	simmail "github.com/lienthong/lienthong/sim/mail"
	simsms "github.com/lienthong/lienthong/sim/sms"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// world is the notifier over a real SQLite store, with the SMTP relay
// simulated over TCP and the SMS gateway over HTTP. Its log is kept, to
// check what it says.
type world struct {
	store *sqlstore.Store
	relay *simmail.Server
	sms   *simsms.Server
	log   *bytes.Buffer
	cfg   notify.Config
	nf    *notify.Notifier
	// where the relay and the gateway listen, to connect again with
	// other credentials
	smtpAddr, smsURL string
}

// The credentials the simulated relay and gateway take.
const (
	relayUser, relayPassword = "hub", "relay-secret"
	gatewayUser              = "hub"
)

// smsPassword makes the notifier log in to the gateway with password.
func (w *world) smsPassword(t *testing.T, password string) {
	t.Helper()
	sc, err := sms.New(sms.Config{BaseURL: w.smsURL, Username: gatewayUser, Password: password, Brandname: "DICHVUCONG", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.cfg.SMS = sc
	w.nf = notify.New(w.cfg)
}

// mailPassword makes the notifier log in to the relay with password.
func (w *world) mailPassword(t *testing.T, password string) {
	t.Helper()
	mc, err := email.New(email.Config{Addr: w.smtpAddr, From: "khongtraloi@dichvucong.example", Timeout: time.Second,
		Username: relayUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	w.cfg.Mail = mc
	w.nf = notify.New(w.cfg)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "hub.db"), storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	relay := simmail.New(simmail.Config{Username: relayUser, Password: relayPassword})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- relay.ServeSMTP(ln) }()
	t.Cleanup(func() { _ = relay.Close(); <-done })
	gateway := simsms.New(simsms.Config{})
	t.Cleanup(gateway.Close)
	srv := httptest.NewServer(gateway)
	t.Cleanup(srv.Close)
	log := &bytes.Buffer{}
	w := &world{store: st, relay: relay, sms: gateway, log: log, smtpAddr: ln.Addr().String(), smsURL: srv.URL,
		cfg: notify.Config{Store: st, Instance: "test", Log: slog.New(slog.NewTextHandler(log, nil))}}
	w.mailPassword(t, relayPassword)
	w.smsPassword(t, "hub-secret") // the simulated gateway's default
	return w
}

func notice() notify.Notice {
	return notify.Notice{Kind: notify.Received, Occurrence: "s1", Dossier: &schemas.Dossier{
		ID: "000.00.14.H52-261121-0301", Source: "sonla", SourceVersion: 2, Status: schemas.StatusReceived,
		Procedure: schemas.Procedure{Name: "Đăng ký khai sinh"},
		Applicant: schemas.Applicant{Name: "Lò Văn Minh", Email: "minh@example.vn"},
	}}
}

// key is the notice's email idempotency key: dossier, kind, occurrence.
func key(n notify.Notice) string {
	return "notify/email/" + n.Dossier.ID + "/" + n.Kind + "/" + n.Occurrence
}

func (w *world) kinds(t *testing.T, id string) map[string]int {
	t.Helper()
	tl, err := w.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range tl {
		out[ev.Kind]++
	}
	return out
}

// leaves claims what a hub killed at some point of a send would leave.
func (w *world) leaves(t *testing.T, keys map[string]string) {
	t.Helper()
	for k, effect := range keys {
		if _, _, err := w.store.ClaimIdempotency(context.Background(), k, effect); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEmailOncePerNotice(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	n := notice()
	for range 2 {
		if err := w.nf.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if m := w.relay.Mail(); len(m) != 1 {
		t.Fatalf("%d mails; want one", len(m))
	}
	if k := w.kinds(t, n.Dossier.ID); k["notify.email"] != 1 || k["notify.email.resent"] != 0 {
		t.Errorf("timeline %v", k)
	}
	// Nothing is left to mislead a later attempt.
	already, _, err := w.store.ClaimIdempotency(ctx, once.MarkerKey(key(n)), "notify email committing")
	if err != nil || already {
		t.Errorf("marker left after a finished send: %v %v", already, err)
	}
}

// A hub killed before DATA certainly sent nothing: the retry sends it, and
// it is no duplicate.
func TestEmailAfterCrashBeforeData(t *testing.T) {
	w := newWorld(t)
	n := notice()
	w.leaves(t, map[string]string{key(n): "notify email"})
	if err := w.nf.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if m := w.relay.Mail(); len(m) != 1 {
		t.Fatalf("%d mails; want one", len(m))
	}
	if k := w.kinds(t, n.Dossier.ID); k["notify.email.resent"] != 0 {
		t.Errorf("timeline %v: a send after a crash before DATA is no possible duplicate", k)
	}
}

// A hub killed between DATA and the confirmation (the one window left) may
// have had the relay take the message: the retry sends it again, with the
// same Message-ID, and says so on the dossier's timeline; then never again.
func TestEmailAfterCrashInWindow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	n := notice()
	w.leaves(t, map[string]string{key(n): "notify email", once.MarkerKey(key(n)): "notify email committing"})
	for range 2 {
		if err := w.nf.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	m := w.relay.Mail()
	if len(m) != 1 {
		t.Fatalf("%d mails; want one more after the crash, then none", len(m))
	}
	k := w.kinds(t, n.Dossier.ID)
	if k["notify.email.resent"] != 1 || k["notify.email"] != 1 {
		t.Errorf("timeline %v; want the send and its possible duplicate noted once", k)
	}
	var ev store.Event
	tl, _ := w.store.Timeline(ctx, n.Dossier.ID)
	for _, e := range tl {
		if e.Kind == "notify.email.resent" {
			ev = e
		}
	}
	if ev.Detail == "" || ev.DossierID != n.Dossier.ID {
		t.Errorf("resent event %+v", ev)
	}
}

// The relay took the whole message and its reply never came (timeout_rate:
// it holds the answer, then drops the connection): as good as a crash in
// the window. The retry sends it again and notes the possible duplicate.
func TestEmailAfterLostReply(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	n := notice()
	if _, err := w.relay.Controller().Patch([]byte(`{"timeout_rate":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.nf.Notify(ctx, n); err == nil {
		t.Fatal("a send without a reply reported success")
	}
	if _, err := w.relay.Controller().Patch([]byte(`{"timeout_rate":0}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.nf.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	if m := w.relay.Mail(); len(m) != 1 {
		t.Fatalf("%d mails recorded; want the retry's", len(m))
	}
	if k := w.kinds(t, n.Dossier.ID); k["notify.email.resent"] != 1 {
		t.Errorf("timeline %v; want the possible duplicate noted", k)
	}
}
