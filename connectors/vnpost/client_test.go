package vnpost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/connectors/httpx/httpxtest"
	"github.com/lienthong/lienthong/schemas"
	vnsim "github.com/lienthong/lienthong/sim/vnpost"
)

// env is the simulator over real HTTP, counting logins and 401 answers.
type env struct {
	sim *vnsim.Server
	srv *httptest.Server
	clk *httpxtest.Clock // the simulator's clock

	mu           sync.Mutex
	logins, s401 int
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clk: httpxtest.NewClock(time.Now())}
	e.sim = vnsim.New(vnsim.Config{Clients: map[string]string{"ck-001": "s3cret"}, Clock: e.clk.Now})
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: 200}
		e.sim.ServeHTTP(rec, r)
		e.mu.Lock()
		if r.URL.Path == "/token" && rec.status == 200 {
			e.logins++
		}
		if rec.status == 401 {
			e.s401++
		}
		e.mu.Unlock()
	}))
	t.Cleanup(func() { e.sim.Close(); e.srv.Close() })
	return e
}

func (e *env) counts() (logins, unauthorized int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logins, e.s401
}

func (e *env) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: e.srv.URL + "/", ClientID: "ck-001", ClientSecret: "s3cret", CustomerCode: "C0001", Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) post(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s %s: %d", path, body, resp.StatusCode)
	}
}

func order(n string, cod int64) Order {
	return Order{
		OrderNumber: n, CODAmount: cod,
		SenderName: "UBND xã Chiềng Lề", SenderTel: "0212 3852 000", SenderAddress: "Trụ sở UBND xã", SenderProvince: "14",
		SenderEmail: "motcua@sonla.gov.vn", SenderDesc: "Bộ phận một cửa",
		ReceiverName: "Lò Văn Minh", ReceiverTel: "+84 912 345 678", ReceiverAddress: "Bản Bó, xã Chiềng Lề",
		ReceiverProvince: "14", ReceiverCommune: "03646", ReceiverEmail: "minh@example.vn",
		Description: "Kết quả hồ sơ " + n,
	}
}

var ctx = context.Background()

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	o := order("HS-0001", 0)
	o.ReceiverName = norm.NFD.String(o.ReceiverName) // some sources send decomposed text
	o.ReceiverTel = "0912.345.678"
	res, err := c.CreateOrder(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^EB\d{9}VN$`).MatchString(res.ItemCode) || res.OrderNumber != "HS-0001" ||
		res.Status != StatusCreated || res.TotalFee != 22000 || res.Existing {
		t.Fatalf("result %+v", res)
	}
	got, _ := e.sim.Order("HS-0001")
	if !strings.Contains(string(got.Request), `"receiverName":"Lò Văn Minh"`) || !norm.NFC.IsNormal(got.Request) ||
		!strings.Contains(string(got.Request), `"receiverTel":"0912345678"`) || !strings.Contains(string(got.Request), `"customerCode":"C0001"`) {
		t.Errorf("request as received %s", got.Request)
	}

	// Asked again (a retry after a lost answer): the existing order, not an error.
	e.post(t, "/_sim/advance/HS-0001", `{"statusCode":6}`)
	again, err := c.CreateOrder(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.ItemCode != res.ItemCode || again.TotalFee != res.TotalFee || again.Status != StatusPickedUp {
		t.Errorf("repeat %+v, first %+v", again, res)
	}
	cod, err := c.CreateOrder(ctx, order("HS-0002", 250000))
	if err != nil || cod.ItemCode == res.ItemCode || cod.TotalFee != 22000+5000 {
		t.Errorf("COD order %+v %v", cod, err)
	}
	if logins, _ := e.counts(); logins != 1 {
		t.Errorf("%d logins, want 1 (token reused)", logins)
	}
}

func TestCreateOrderInvalid(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	o := order("HS-BAD", 0)
	o.ReceiverTel = "0212 385 2000" // a landline
	_, err := c.CreateOrder(ctx, o)
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != 400 || !errors.Is(err, ErrInvalidOrder) || !httpx.IsPermanent(err) {
		t.Fatalf("%v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "HS-BAD") || !strings.Contains(msg, "invalid field receiverTel") {
		t.Errorf("message does not name the order and field: %s", msg)
	}
	for _, p := range []string{"0212", "Lò", "Bản Bó"} {
		if strings.Contains(msg, p) {
			t.Errorf("message %q holds personal data %q", msg, p)
		}
	}

	o = order("HS-BAD2", 0)
	o.ReceiverCommune = ""
	if _, err := c.CreateOrder(ctx, o); !errors.Is(err, ErrInvalidOrder) || !strings.Contains(err.Error(), "receiverCommune") {
		t.Errorf("missing commune: %v", err)
	}
	// Refused before any request.
	e2 := newEnv(t)
	c2 := e2.client(t, nil)
	for _, o := range []Order{order(" ", 0), order("HS-NEG", -1)} {
		if _, err := c2.CreateOrder(ctx, o); !errors.Is(err, ErrInvalidOrder) || httpx.IsTransient(err) {
			t.Errorf("%q: %v", o.OrderNumber, err)
		}
	}
	if logins, _ := e2.counts(); logins != 0 {
		t.Errorf("invalid orders were sent")
	}
}

func TestExpiredTokenRelogin(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	if _, err := c.CreateOrder(ctx, order("HS-1", 0)); err != nil {
		t.Fatal(err)
	}
	// The simulator's clock moves past the token's hour; the client's does not,
	// so it still sends the old token and meets a 401.
	e.clk.Add(2 * time.Hour)
	if _, err := c.CreateOrder(ctx, order("HS-2", 0)); err != nil {
		t.Fatal(err)
	}
	if logins, u := e.counts(); logins != 2 || u != 1 {
		t.Errorf("logins %d, 401s %d; want 2 and 1", logins, u)
	}
	// session_ttl_s shortened: tokens already issued expire too.
	if _, err := e.sim.Controller().Patch([]byte(`{"session_ttl_s":2}`)); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(3 * time.Second)
	if _, _, err := c.Tracking(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if logins, u := e.counts(); logins != 3 || u != 2 {
		t.Errorf("logins %d, 401s %d; want 3 and 2", logins, u)
	}
	// With a shared clock the client renews before expiry, without a 401.
	c2 := e.client(t, func(cfg *Config) { cfg.Now = e.clk.Now })
	if _, _, err := c2.Tracking(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(2 * time.Second)
	if _, _, err := c2.Tracking(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if logins, u := e.counts(); logins != 5 || u != 2 {
		t.Errorf("logins %d, 401s %d; want 5 and 2", logins, u)
	}
}

func TestAuthRejected(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(cfg *Config) { cfg.ClientSecret = "wrong" })
	_, err := c.CreateOrder(ctx, order("HS-1", 0))
	if !errors.Is(err, httpx.ErrAuth) || !httpx.IsPermanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("%v", err)
	}
	if _, err := New(Config{BaseURL: "ftp://x", ClientID: "a", ClientSecret: "b"}); err == nil {
		t.Error("bad BaseURL accepted")
	}
	if _, err := New(Config{BaseURL: "http://x"}); err == nil {
		t.Error("missing credentials accepted")
	}
}

func TestTransientErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	if _, err := c.CreateOrder(ctx, order("HS-1", 0)); err != nil { // logged in before the faults
		t.Fatal(err)
	}
	check := func(name string, err error, status int, retry time.Duration) {
		t.Helper()
		var he *httpx.Error
		if !errors.As(err, &he) || !httpx.IsTransient(err) || he.Status != status || httpx.RetryAfter(err) != retry {
			t.Errorf("%s: %v (status want %d, retry want %v)", name, err, status, retry)
		}
	}
	e.post(t, "/_sim/faults", `{"error_rate":1}`)
	_, err := c.CreateOrder(ctx, order("HS-2", 0))
	check("error_rate create", err, 500, 0)
	_, next, err := c.Tracking(ctx, 7, 10)
	check("error_rate tracking", err, 500, 0)
	if next != 7 {
		t.Errorf("next %d after an error, want 7", next)
	}
	e.post(t, "/_sim/faults", `{"error_rate":0,"down":true}`)
	_, err = c.CreateOrder(ctx, order("HS-2", 0))
	check("down", err, 503, 0)
	e.post(t, "/_sim/faults", `{"down":false,"rate_limit_rps":0.5}`)
	_, _, _ = c.Tracking(ctx, 0, 10)
	_, _, err = c.Tracking(ctx, 0, 10)
	check("rate limit", err, 429, 2*time.Second)
	e.post(t, "/_sim/faults", `{"rate_limit_rps":0}`)
	if o, _ := e.sim.Order("HS-2"); o.OrderNumber != "" {
		t.Error("an order was created under faults")
	}

	e.srv.Close()
	_, err = c.CreateOrder(ctx, order("HS-3", 0))
	var he *httpx.Error
	if !errors.As(err, &he) || !httpx.IsTransient(err) || he.Status != 0 {
		t.Errorf("connection refused: %v", err)
	}
}

func TestTrackingPaging(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	for i := range 4 {
		if _, err := c.CreateOrder(ctx, order(fmt.Sprintf("HS-%d", i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range []int{2, 3, 4} {
		for i := range 4 {
			e.post(t, fmt.Sprintf("/_sim/advance/HS-%d", i), fmt.Sprintf(`{"statusCode":%d}`, code))
		}
	}
	// 16 events in pages of 3.
	var all []TrackingEvent
	last, pages := int64(0), 0
	for {
		ev, next, err := c.Tracking(ctx, last, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, ev...)
		if len(ev) > 0 && next != ev[len(ev)-1].ID {
			t.Fatalf("next %d, last event %d", next, ev[len(ev)-1].ID)
		}
		if len(ev) == 0 && next != last {
			t.Fatalf("empty page moved next from %d to %d", last, next)
		}
		last = next
		if len(ev) < 3 {
			break
		}
	}
	if len(all) != 16 || pages != 6 {
		t.Fatalf("%d events in %d pages", len(all), pages)
	}
	for i, ev := range all {
		if ev.ID != int64(i+1) { // ascending, no duplicates, no gaps
			t.Fatalf("event %d has id %d", i, ev.ID)
		}
		if ev.Time.IsZero() || ev.ItemCode == "" || ev.StatusMessage == "" {
			t.Errorf("event %+v", ev)
		}
	}
	// New events after the drained feed: only they come.
	e.post(t, "/_sim/advance/HS-2", `{"statusCode":9}`)
	ev, next, err := c.Tracking(ctx, last, 3)
	if err != nil || len(ev) != 1 || ev[0].ID != 17 || ev[0].OrderNumber != "HS-2" || ev[0].StatusCode != StatusPickupCancelled || next != 17 {
		t.Fatalf("%+v %d %v", ev, next, err)
	}
	if !Problem(ev[0].StatusCode) {
		t.Error("pickup cancelled is a problem")
	}
}

func TestAdvanceAndAutoSequences(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, nil)
	for _, o := range []Order{order("COD", 120000), order("PLAIN", 0), order("FAIL", 50000)} {
		if _, err := c.CreateOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.post(t, "/_sim/advance/FAIL", `{"statusCode":15}`)
	e.post(t, "/_sim/auto", `{"auto":true,"interval_ms":2}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cod, _ := e.sim.Order("COD")
		plain, _ := e.sim.Order("PLAIN")
		if cod.Status == StatusCODPaid && plain.Status == StatusDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auto stuck: COD %d PLAIN %d", cod.Status, plain.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.post(t, "/_sim/auto", `{"auto":false}`)

	seq := map[string][]int{}
	var delivered TrackingEvent
	last := int64(0)
	for {
		ev, next, err := c.Tracking(ctx, last, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ev {
			seq[x.OrderNumber] = append(seq[x.OrderNumber], x.StatusCode)
			if x.StatusCode == StatusDelivered && delivered.ID == 0 {
				delivered = x
			}
		}
		last = next
		if len(ev) < 4 {
			break
		}
	}
	want := map[string][]int{
		"COD":   {StatusCreated, StatusPickedUp, StatusInTransit, StatusDelivering, StatusDelivered, StatusCODPaid},
		"PLAIN": {StatusCreated, StatusPickedUp, StatusInTransit, StatusDelivering, StatusDelivered},
		"FAIL":  {StatusCreated, StatusDeliveryFailed}, // off the happy path: auto leaves it
	}
	if !reflect.DeepEqual(seq, want) {
		t.Errorf("sequences %v, want %v", seq, want)
	}
	if delivered.StatusMessage != "Phát thành công" || delivered.Time.Location() != schemas.Vietnam {
		t.Errorf("delivered event %+v", delivered)
	}
	if !Problem(StatusDeliveryFailed) || Problem(StatusDelivered) || Problem(StatusCODPaid) {
		t.Error("Problem")
	}
}

func TestStatusTable(t *testing.T) {
	problems := map[int]bool{5: true, 8: true, 9: true, 15: true, 16: true, 17: true, 18: true, 19: true, 20: true, 22: true}
	for code := -1; code <= 23; code++ {
		if Problem(code) != problems[code] {
			t.Errorf("Problem(%d) = %v", code, Problem(code))
		}
		if (StatusText(code) != "") != (code >= 0 && code <= 22) {
			t.Errorf("StatusText(%d) = %q", code, StatusText(code))
		}
	}
	if StatusText(StatusDelivered) != "delivered" || StatusText(StatusCODPaid) != "COD paid" {
		t.Error("StatusText")
	}
}
