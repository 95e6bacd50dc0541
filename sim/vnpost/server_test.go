package vnpost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 25, 10, 12, 0, 0, time.UTC)

func newSim(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv
}

func do(t *testing.T, method, u, auth, ctype, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func login(t *testing.T, base, id, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	code, _, b := do(t, "POST", base+"/token", "", "application/x-www-form-urlencoded", form.Encode())
	if code != 200 {
		t.Fatalf("login: %d %s", code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return "Bearer " + m["access_token"].(string)
}

// orderJSON hand-builds a create-order body in the spec's field names;
// over replaces or adds keys (nil deletes).
func orderJSON(orderNumber string, cod int64, over map[string]any) string {
	m := map[string]any{
		"customerCode": "C0001", "orderNumber": orderNumber, "codAmount": cod,
		"senderName": "UBND xã Chiềng Lề", "senderTel": "02123852000", "senderAddress": "Trụ sở UBND",
		"senderProvince": "14", "senderDistrict": "", "senderEmail": "motcua@sonla.gov.vn", "senderDesc": "Trả kết quả",
		"receiverName": "Lò Văn Minh", "receiverTel": "0912 345.678", "receiverAddress": "Bản Bó",
		"receiverProvince": "14", "receiverDistrict": "", "receiverCommune": "03646", "receiverEmail": "",
		"description": "Giấy khai sinh",
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// s10Valid checks a UPU S10 item code's check digit.
func s10Valid(code string) bool {
	w := []int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, x := range w {
		sum += int(code[2+i]-'0') * x
	}
	c := 11 - sum%11
	if c == 10 {
		c = 0
	} else if c == 11 {
		c = 5
	}
	return int(code[10]-'0') == c
}

// TestWireFormat checks the answers byte-level against §6, building
// requests by hand and reading answers as generic JSON.
func TestWireFormat(t *testing.T) {
	_, srv := newSim(t, Config{})
	form := "grant_type=client_credentials&client_id=hub&client_secret=hub-secret"
	code, _, b := do(t, "POST", srv.URL+"/token", "", "application/x-www-form-urlencoded", form)
	var tok map[string]any
	if code != 200 || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("token: %d %s", code, b)
	}
	if tok["token_type"] != "Bearer" || tok["expires_in"] != float64(3600) || tok["access_token"] == "" {
		t.Fatalf("token body %s", b)
	}
	auth := "Bearer " + tok["access_token"].(string)

	body := orderJSON("HS-0001", 50000, nil)
	code, _, b = do(t, "POST", srv.URL+"/api/order/post", auth, "application/json", body)
	var created map[string]any
	if code != 201 || json.Unmarshal(b, &created) != nil {
		t.Fatalf("create: %d %s", code, b)
	}
	if got := keys(created); !reflect.DeepEqual(got, []string{"itemCode", "orderNumber", "status", "totalFee"}) {
		t.Fatalf("create keys %v", got)
	}
	item, _ := created["itemCode"].(string)
	if !regexp.MustCompile(`^EB\d{9}VN$`).MatchString(item) || !s10Valid(item) {
		t.Errorf("itemCode %q", item)
	}
	if created["orderNumber"] != "HS-0001" || created["status"] != float64(1) {
		t.Errorf("create body %s", b)
	}
	if fee, ok := created["totalFee"].(float64); !ok || fee != 22000+5000 {
		t.Errorf("totalFee %v", created["totalFee"])
	}

	code, _, b2 := do(t, "POST", srv.URL+"/api/order/post", auth, "application/json", body)
	if code != 409 || !bytes.Equal(b, b2) {
		t.Fatalf("repeat: %d %s, want 409 %s", code, b2, b)
	}

	code, _, b = do(t, "GET", srv.URL+"/api/order/tracking?lastId=0&pageSize=10", auth, "", "")
	var tr map[string]any
	if code != 200 || json.Unmarshal(b, &tr) != nil {
		t.Fatalf("tracking: %d %s", code, b)
	}
	if got := keys(tr); !reflect.DeepEqual(got, []string{"_embedded", "lastId"}) {
		t.Fatalf("tracking keys %v", got)
	}
	docs := tr["_embedded"].(map[string]any)["rhDoc"].([]any)
	if len(docs) != 1 || tr["lastId"] != float64(1) {
		t.Fatalf("tracking %s", b)
	}
	ev := docs[0].(map[string]any)
	if got := keys(ev); !reflect.DeepEqual(got, []string{"id", "itemCode", "orderNumber", "statusCode", "statusMessage", "time"}) {
		t.Fatalf("event keys %v", got)
	}
	if ev["id"] != float64(1) || ev["itemCode"] != item || ev["orderNumber"] != "HS-0001" || ev["statusCode"] != float64(1) {
		t.Errorf("event %s", b)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$`).MatchString(ev["time"].(string)) {
		t.Errorf("time %v not RFC 3339 in +07:00", ev["time"])
	}

	// Nothing after the last id: an empty rhDoc array and the requested lastId.
	code, _, b = do(t, "GET", srv.URL+"/api/order/tracking?lastId=1&pageSize=10", auth, "", "")
	if code != 200 || string(b) != `{"_embedded":{"rhDoc":[]},"lastId":1}` {
		t.Errorf("empty tracking: %d %s", code, b)
	}
}

func TestCreateValidation(t *testing.T) {
	_, srv := newSim(t, Config{})
	auth := login(t, srv.URL, "hub", "hub-secret")
	cases := []struct {
		body  string
		field string
	}{
		{`[1,2]`, ""},
		{`{"orderNumber":`, ""},
		{orderJSON("", 0, nil), "orderNumber"},
		{orderJSON("A1", 0, map[string]any{"orderNumber": 12}), "orderNumber"},
		{orderJSON("A1", 0, map[string]any{"receiverName": " "}), "receiverName"},
		{orderJSON("A1", 0, map[string]any{"receiverTel": nil}), "receiverTel"},
		{orderJSON("A1", 0, map[string]any{"receiverTel": "0212 385 2000"}), "receiverTel"},
		{orderJSON("A1", 0, map[string]any{"receiverTel": "091234567"}), "receiverTel"},
		{orderJSON("A1", 0, map[string]any{"receiverAddress": ""}), "receiverAddress"},
		{orderJSON("A1", 0, map[string]any{"receiverProvince": nil}), "receiverProvince"},
		{orderJSON("A1", 0, map[string]any{"receiverProvince": "Sơn La"}), "receiverProvince"},
		{orderJSON("A1", 0, map[string]any{"receiverCommune": "3646"}), "receiverCommune"},
		{orderJSON("A1", 0, map[string]any{"senderName": true}), "senderName"},
		{orderJSON("A1", -1, nil), "codAmount"},
		{orderJSON("A1", 0, map[string]any{"codAmount": "5000"}), "codAmount"},
		{orderJSON("A1", 0, map[string]any{"codAmount": 1.5}), "codAmount"},
		{orderJSON("A1", 0, map[string]any{"codAmount": nil}), "codAmount"},
	}
	for _, c := range cases {
		code, _, b := do(t, "POST", srv.URL+"/api/order/post", auth, "application/json", c.body)
		var e struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		}
		if code != 400 || json.Unmarshal(b, &e) != nil || e.Field != c.field || e.Message == "" {
			t.Errorf("%s: %d %s, want 400 naming %q", c.body, code, b, c.field)
		}
		for _, personal := range []string{"0212", "091234567", "Sơn La"} {
			if strings.Contains(e.Message, personal) {
				t.Errorf("message %q repeats a value", e.Message)
			}
		}
	}
	// Accepted variants: +84 numbers, a district code, no optional fields.
	ok := orderJSON("A2", 0, map[string]any{"receiverTel": "+84 983.456.789", "receiverDistrict": "116",
		"senderName": nil, "senderTel": nil, "description": nil, "customerCode": nil})
	if code, _, b := do(t, "POST", srv.URL+"/api/order/post", auth, "application/json", ok); code != 201 {
		t.Errorf("valid order: %d %s", code, b)
	}
}

func TestAuth(t *testing.T) {
	clk := &fakeClock{t: t0}
	s, srv := newSim(t, Config{Clients: map[string]string{"k1": "s1"}, TokenTTL: time.Hour, Clock: clk.Now})
	form := func(v url.Values) string { return v.Encode() }
	for name, v := range map[string]url.Values{
		"wrong secret": {"grant_type": {"client_credentials"}, "client_id": {"k1"}, "client_secret": {"x"}},
		"unknown id":   {"grant_type": {"client_credentials"}, "client_id": {"hub"}, "client_secret": {"hub-secret"}},
		"empty":        {"grant_type": {"client_credentials"}},
	} {
		if code, _, _ := do(t, "POST", srv.URL+"/token", "", "application/x-www-form-urlencoded", form(v)); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if code, _, _ := do(t, "POST", srv.URL+"/token", "", "application/x-www-form-urlencoded",
		"grant_type=password&client_id=k1&client_secret=s1"); code != 400 {
		t.Errorf("wrong grant: %d, want 400", code)
	}
	for _, a := range []string{"", "Bearer nope", "Basic azE6czE="} {
		if code, _, _ := do(t, "GET", srv.URL+"/api/order/tracking", a, "", ""); code != 401 {
			t.Errorf("auth %q: %d, want 401", a, code)
		}
	}
	auth := login(t, srv.URL, "k1", "s1")
	get := func() int {
		code, _, _ := do(t, "GET", srv.URL+"/api/order/tracking", auth, "", "")
		return code
	}
	if get() != 200 {
		t.Fatal("fresh token refused")
	}
	clk.Add(time.Hour - time.Second)
	if get() != 200 {
		t.Fatal("token refused before expiry")
	}
	clk.Add(time.Second)
	if get() != 401 {
		t.Fatal("expired token accepted")
	}
	auth = login(t, srv.URL, "k1", "s1")
	if _, err := s.Controller().Patch([]byte(`{"session_ttl_s":5}`)); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Second)
	if get() != 401 {
		t.Fatal("shortening session_ttl_s did not expire the token")
	}
	var tok map[string]any
	_, _, b := do(t, "POST", srv.URL+"/token", "", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=k1&client_secret=s1")
	if json.Unmarshal(b, &tok) != nil || tok["expires_in"] != float64(5) {
		t.Errorf("expires_in after session_ttl_s 5: %s", b)
	}
}

// tracking reads the whole feed of one account through the HTTP API.
func tracking(t *testing.T, base, auth string, pageSize int) []Event {
	t.Helper()
	var all []Event
	last := int64(0)
	for {
		code, _, b := do(t, "GET", fmt.Sprintf("%s/api/order/tracking?lastId=%d&pageSize=%d", base, last, pageSize), auth, "", "")
		var a trackingAnswer
		if code != 200 || json.Unmarshal(b, &a) != nil {
			t.Fatalf("tracking: %d %s", code, b)
		}
		all = append(all, a.Embedded.RhDoc...)
		if len(a.Embedded.RhDoc) < pageSize {
			return all
		}
		last = a.LastID
	}
}

func TestTrackingScopedToAccount(t *testing.T) {
	_, srv := newSim(t, Config{Clients: map[string]string{"a": "sa", "b": "sb"}})
	authA, authB := login(t, srv.URL, "a", "sa"), login(t, srv.URL, "b", "sb")
	for i := range 5 {
		auth := authA
		if i%2 == 1 {
			auth = authB
		}
		if code, _, b := do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON(fmt.Sprintf("O%d", i), 0, nil)); code != 201 {
			t.Fatalf("%d %s", code, b)
		}
	}
	evA, evB := tracking(t, srv.URL, authA, 2), tracking(t, srv.URL, authB, 2)
	if len(evA) != 3 || len(evB) != 2 || evA[1].OrderNumber != "O2" || evB[1].OrderNumber != "O3" {
		t.Fatalf("A %+v B %+v", evA, evB)
	}
	// A page of A that ends at id 3 says lastId 3, though B's id 4 follows.
	_, _, b := do(t, "GET", srv.URL+"/api/order/tracking?lastId=1&pageSize=1", authA, "", "")
	var a trackingAnswer
	if json.Unmarshal(b, &a) != nil || a.LastID != 3 || len(a.Embedded.RhDoc) != 1 {
		t.Errorf("page %s", b)
	}
	for _, q := range []string{"pageSize=0", "pageSize=501", "pageSize=x", "lastId=-1", "lastId=1.5"} {
		code, _, b := do(t, "GET", srv.URL+"/api/order/tracking?"+q, authA, "", "")
		if code != 400 || !strings.Contains(string(b), `"field"`) {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
}

func TestAdvanceAndAuto(t *testing.T) {
	s, srv := newSim(t, Config{})
	auth := login(t, srv.URL, "hub", "hub-secret")
	for _, o := range []struct {
		n   string
		cod int64
	}{{"COD", 30000}, {"PLAIN", 0}, {"FAIL", 0}} {
		if code, _, b := do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON(o.n, o.cod, nil)); code != 201 {
			t.Fatalf("%d %s", code, b)
		}
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/_sim/advance/NOPE", `{"statusCode":14}`, 404},
		{"/_sim/advance/FAIL", `{"statusCode":23}`, 400},
		{"/_sim/advance/FAIL", `{"statusCode":-1}`, 400},
		{"/_sim/advance/FAIL", `{}`, 400},
		{"/_sim/advance/FAIL", `{"status":15}`, 400},
		{"/_sim/advance/FAIL", `{"statusCode":15}`, 200},
		{"/_sim/auto", `{"auto":true,"interval_ms":0}`, 400},
		{"/_sim/auto", `{}`, 400},
	} {
		if code, _, b := do(t, "POST", srv.URL+c.path, "", "", c.body); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.path, c.body, code, b, c.want)
		}
	}
	// One step per order per tick, deterministic without the timer.
	s.mu.Lock()
	for s.stepLocked() > 0 {
	}
	s.mu.Unlock()
	want := map[string][]int{"COD": {1, 6, 10, 12, 14, 21}, "PLAIN": {1, 6, 10, 12, 14}, "FAIL": {1, 15}}
	for _, o := range s.Orders() {
		var got []int
		for _, ev := range o.Tracking {
			got = append(got, ev.StatusCode)
		}
		if !reflect.DeepEqual(got, want[o.OrderNumber]) || o.Status != got[len(got)-1] {
			t.Errorf("%s: %v (status %d), want %v", o.OrderNumber, got, o.Status, want[o.OrderNumber])
		}
	}
	// The feed interleaves orders in id order: each tick moves every order.
	ev := tracking(t, srv.URL, auth, 500)
	if len(ev) != 13 || ev[4].OrderNumber != "COD" || ev[4].StatusCode != 6 || ev[5].OrderNumber != "PLAIN" || ev[5].StatusCode != 6 {
		t.Errorf("feed %+v", ev)
	}
	if ev[3].StatusMessage != "Phát không thành công" {
		t.Errorf("message of 15: %q", ev[3].StatusMessage)
	}

	// The timer: a new order goes all the way, then auto off stops ticking.
	do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON("LATE", 1000, nil))
	if code, _, b := do(t, "POST", srv.URL+"/_sim/auto", "", "", `{"auto":true,"interval_ms":5}`); code != 200 || string(b) != `{"auto":true,"interval_ms":5}` {
		t.Fatalf("auto on: %d %s", code, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		o, _ := s.Order("LATE")
		if o.Status == StatusCODPaid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LATE stuck at %d", o.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _, b := do(t, "POST", srv.URL+"/_sim/auto", "", "", `{"auto":false}`); code != 200 || string(b) != `{"auto":false,"interval_ms":5}` {
		t.Fatalf("auto off: %d %s", code, b)
	}
	do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON("AFTER", 0, nil))
	time.Sleep(30 * time.Millisecond)
	if o, _ := s.Order("AFTER"); o.Status != StatusCreated || len(o.Tracking) != 1 {
		t.Errorf("auto off still moved an order: %+v", o.Tracking)
	}
}

func TestSimOrdersView(t *testing.T) {
	_, srv := newSim(t, Config{})
	auth := login(t, srv.URL, "hub", "hub-secret")
	body := orderJSON("HS/7", 0, nil)
	do(t, "POST", srv.URL+"/api/order/post", auth, "", body)
	do(t, "POST", srv.URL+"/_sim/advance/HS/7", "", "", `{"statusCode":2,"statusMessage":"Bưu tá Nguyễn Văn A"}`)
	code, _, b := do(t, "GET", srv.URL+"/_sim/orders", "", "", "")
	var orders []map[string]any
	if code != 200 || json.Unmarshal(b, &orders) != nil || len(orders) != 1 {
		t.Fatalf("%d %s", code, b)
	}
	o := orders[0]
	req, _ := json.Marshal(o["request"])
	if !jsonEqual(t, req, []byte(body)) || o["status"] != float64(2) || o["statusMessage"] != "Bưu tá Nguyễn Văn A" ||
		o["clientId"] != "hub" || len(o["tracking"].([]any)) != 2 {
		t.Errorf("order view %s", b)
	}
	if code, _, b := do(t, "GET", srv.URL+"/_sim/orders/HS/7", "", "", ""); code != 200 || !strings.Contains(string(b), `"HS/7"`) {
		t.Errorf("one order: %d %s", code, b)
	}
	if code, _, _ := do(t, "GET", srv.URL+"/_sim/orders/none", "", "", ""); code != 404 {
		t.Errorf("unknown order: %d", code)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestFaults(t *testing.T) {
	_, srv := newSim(t, Config{})
	auth := login(t, srv.URL, "hub", "hub-secret")
	do(t, "POST", srv.URL+"/_sim/faults", "", "", `{"error_rate":1}`)
	code, h, b := do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON("X", 0, nil))
	if code != 500 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || !strings.Contains(string(b), `"message"`) {
		t.Errorf("error_rate: %d %s", code, b)
	}
	for _, p := range []string{"/_sim/health", "/_sim/orders", "/_sim/auto"} {
		if code, _, _ := do(t, "GET", srv.URL+p, "", "", ""); code != 200 {
			t.Errorf("%s under faults: %d", p, code)
		}
	}
	do(t, "POST", srv.URL+"/_sim/faults", "", "", `{"error_rate":0,"down":true}`)
	if code, _, _ := do(t, "GET", srv.URL+"/api/order/tracking", auth, "", ""); code != 503 {
		t.Errorf("down: %d", code)
	}
	do(t, "POST", srv.URL+"/_sim/faults", "", "", `{"down":false,"rate_limit_rps":0.5}`)
	do(t, "GET", srv.URL+"/api/order/tracking", auth, "", "")
	code, h, _ = do(t, "GET", srv.URL+"/api/order/tracking", auth, "", "")
	if code != 429 || h.Get("Retry-After") != "2" {
		t.Errorf("rate limit: %d Retry-After %q", code, h.Get("Retry-After"))
	}
}

func TestSnapshotRestore(t *testing.T) {
	clk := &fakeClock{t: t0}
	s, srv := newSim(t, Config{Clock: clk.Now})
	auth := login(t, srv.URL, "hub", "hub-secret")
	for i := range 3 {
		do(t, "POST", srv.URL+"/api/order/post", auth, "", orderJSON(fmt.Sprintf("S%d", i), int64(i)*1000, nil))
		clk.Add(time.Minute)
	}
	if _, err := s.Advance("S1", 15, ""); err != nil {
		t.Fatal(err)
	}
	s.SetAuto(true, time.Hour) // kept in the state, resumed by Restore
	s.Close()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatal("snapshot is not JSON")
	}

	clk2 := &fakeClock{t: t0} // a wall clock behind the state
	s2, srv2 := newSim(t, Config{Clock: clk2.Now})
	if err := s2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mustJSON(t, s.Orders()), mustJSON(t, s2.Orders())) {
		t.Fatalf("orders differ:\n%s\n%s", mustJSON(t, s.Orders()), mustJSON(t, s2.Orders()))
	}
	if v := s2.autoView(); !v.Auto || v.IntervalMS != 3600000 {
		t.Errorf("auto not restored: %+v", v)
	}
	if code, _, _ := do(t, "GET", srv2.URL+"/api/order/tracking", auth, "", ""); code != 401 {
		t.Errorf("token survived the restart: %d", code)
	}
	auth2 := login(t, srv2.URL, "hub", "hub-secret")
	code, _, b := do(t, "POST", srv2.URL+"/api/order/post", auth2, "", orderJSON("S0", 0, nil))
	if code != 409 || !strings.Contains(string(b), s.Orders()[0].ItemCode) {
		t.Errorf("restored order not found: %d %s", code, b)
	}
	do(t, "POST", srv2.URL+"/api/order/post", auth2, "", orderJSON("S3", 0, nil))
	ev := tracking(t, srv2.URL, auth2, 2)
	if len(ev) != 5 || ev[4].ID != 5 || ev[4].OrderNumber != "S3" || ev[4].Time.Before(ev[3].Time) {
		t.Errorf("ids or times do not continue: %+v", ev)
	}
	items := map[string]bool{}
	for _, o := range s2.Orders() {
		if items[o.ItemCode] {
			t.Errorf("item code %s reused", o.ItemCode)
		}
		items[o.ItemCode] = true
	}

	for name, c := range map[string]struct{ in, want string }{
		"garbage":       {"lienthong-sim-state vnpost 1\n", "not a simulator state file"},
		"other system":  {`{"system":"sonla","version":1}`, `holds the state of "sonla"`},
		"other version": {`{"system":"vnpost","version":9}`, "format version 9"},
		"bad event":     {`{"system":"vnpost","version":1,"lastEventId":1,"orders":[{"orderNumber":"A","tracking":[{"id":2,"orderNumber":"A"}]}]}`, "bad tracking event 2"},
		"repeated":      {`{"system":"vnpost","version":1,"orders":[{"orderNumber":"A"},{"orderNumber":"A"}]}`, "repeated order number"},
	} {
		if err := New(Config{}).Restore(strings.NewReader(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestItemCodes(t *testing.T) {
	if !s10Valid("RR473124829GB") || s10Valid("RR473124828GB") { // the UPU S10 worked example
		t.Fatal("s10Valid")
	}
	seen := map[string]bool{}
	for i := int64(1); i <= 20000; i++ {
		c := itemCode(i)
		if seen[c] || !s10Valid(c) || len(c) != 13 {
			t.Fatalf("serial %d: %s", i, c)
		}
		seen[c] = true
	}
}
