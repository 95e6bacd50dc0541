package vnpost

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// fake is a second, independent reading of §6 with liberties the spec
// allows: expires_in and numbers as strings, no _embedded and no lastId on
// an empty page, a 400 that names the field only in its message, events
// out of order and repeated.
type fake struct {
	mu      sync.Mutex
	bodies  []map[string]any
	answers []func(w http.ResponseWriter) // create-order answers, in turn
	pages   []string                      // tracking answers, in turn
	queries []string
}

func newFake(t *testing.T) (*fake, *Client) {
	f := &fake{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_id") != "ck" || r.FormValue("client_secret") != "cs" || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"access_token":"T","token_type":"bearer","expires_in":"300"}`)
	})
	mux.HandleFunc("POST /api/order/post", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T" {
			w.WriteHeader(401)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			w.WriteHeader(500)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, m)
		a := f.answers[0]
		f.answers = f.answers[1:]
		f.mu.Unlock()
		a(w)
	})
	mux.HandleFunc("GET /api/order/tracking", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		p := f.pages[0]
		f.pages = f.pages[1:]
		f.mu.Unlock()
		io.WriteString(w, p)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, ClientID: "ck", ClientSecret: "cs", CustomerCode: "KH01"})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func answer(status int, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestAgainstIndependentImplementation(t *testing.T) {
	f, c := newFake(t)
	f.answers = []func(http.ResponseWriter){
		answer(201, `{"itemCode":"EB123456789VN","orderNumber":"HS-1","status":"1","totalFee":"22000"}`),
		answer(409, `{"itemCode":"EB123456789VN","status":14,"totalFee":22000}`),
		answer(400, `{"message":"Invalid receiverTel"}`),
		answer(400, `{"message":"Số 0912345678 không hợp lệ","field":"receiverTel"}`),
		answer(200, `{"itemCode":"EB000000000VN","orderNumber":"OTHER"}`),
	}
	res, err := c.CreateOrder(ctx, order("HS-1", 30000))
	if err != nil || res != (OrderResult{ItemCode: "EB123456789VN", OrderNumber: "HS-1", Status: 1, TotalFee: 22000}) {
		t.Fatalf("201: %+v %v", res, err)
	}
	res, err = c.CreateOrder(ctx, order("HS-1", 30000))
	if err != nil || res != (OrderResult{ItemCode: "EB123456789VN", OrderNumber: "HS-1", Status: 14, TotalFee: 22000, Existing: true}) {
		t.Fatalf("409: %+v %v", res, err)
	}
	_, err = c.CreateOrder(ctx, order("HS-2", 0))
	if !errors.Is(err, ErrInvalidOrder) || !strings.Contains(err.Error(), "invalid field receiverTel: Invalid receiverTel") {
		t.Errorf("field named in the message only: %v", err)
	}
	_, err = c.CreateOrder(ctx, order("HS-3", 0))
	if !errors.Is(err, ErrInvalidOrder) || !strings.Contains(err.Error(), "invalid field receiverTel") || strings.Contains(err.Error(), "345") {
		t.Errorf("a message echoing the phone number must be left out: %v", err)
	}
	_, err = c.CreateOrder(ctx, order("HS-4", 0))
	if !httpx.IsTransient(err) || !errors.Is(err, httpx.ErrMalformed) {
		t.Errorf("answer about another order: %v", err)
	}

	// The request carries exactly the spec's keys, codAmount as a number.
	want := []string{"codAmount", "customerCode", "description", "orderNumber",
		"receiverAddress", "receiverCommune", "receiverDistrict", "receiverEmail", "receiverName", "receiverProvince", "receiverTel",
		"senderAddress", "senderDesc", "senderDistrict", "senderEmail", "senderName", "senderProvince", "senderTel"}
	var got []string
	for k := range f.bodies[0] {
		got = append(got, k)
	}
	sort.Strings(got)
	b := f.bodies[0]
	if !reflect.DeepEqual(got, want) || b["codAmount"] != float64(30000) || b["customerCode"] != "KH01" ||
		b["receiverTel"] != "+84912345678" || b["receiverDistrict"] != "" {
		t.Errorf("request %v", b)
	}

	f.pages = []string{
		`{"_embedded":{"rhDoc":[
			{"id":"12","orderNumber":"HS-1","itemCode":"EB123456789VN","statusCode":"12","statusMessage":"Đang phát","time":"2026-11-25T09:00:00+07:00"},
			{"id":11,"orderNumber":"HS-1","itemCode":"EB123456789VN","statusCode":10,"statusMessage":"Đang vận chuyển","time":"2026-11-25T02:00:00Z"},
			{"id":9,"orderNumber":"HS-1","itemCode":"EB123456789VN","statusCode":6,"statusMessage":"old","time":"2026-11-24T09:00:00+07:00"},
			{"id":12,"orderNumber":"HS-1","itemCode":"EB123456789VN","statusCode":12,"statusMessage":"Đang phát","time":"2026-11-25T09:00:00+07:00"},
			{"id":"x","orderNumber":"HS-1","statusCode":14},
			{"id":13,"orderNumber":"HS-1","itemCode":"EB123456789VN","statusCode":14,"statusMessage":"Phát thành công","time":"bad"}
		]},"lastId":13}`,
		`{"lastId":null}`,
		`{"_embedded":{"rhDoc":[]},"lastId":40}`,
		`not json`,
	}
	ev, next, err := c.Tracking(ctx, 10, 0)
	if err != nil || next != 13 || len(ev) != 3 {
		t.Fatalf("%+v %d %v", ev, next, err)
	}
	if ev[0].ID != 11 || ev[1].ID != 12 || ev[2].ID != 13 || ev[1].StatusCode != 12 || !ev[2].Time.IsZero() ||
		!ev[0].Time.Equal(time.Date(2026, 11, 25, 9, 0, 0, 0, schemas.Vietnam)) || ev[0].Time.Location() != schemas.Vietnam {
		t.Errorf("events %+v", ev)
	}
	if f.queries[0] != "lastId=10&pageSize=500" {
		t.Errorf("query %q", f.queries[0])
	}
	if ev, next, err = c.Tracking(ctx, 13, 50); err != nil || len(ev) != 0 || next != 13 {
		t.Errorf("empty HAL page: %+v %d %v", ev, next, err)
	}
	// A lastId past the events (other accounts' events skipped) is honoured.
	if _, next, err = c.Tracking(ctx, 13, 50); err != nil || next != 40 {
		t.Errorf("lastId ahead: %d %v", next, err)
	}
	if _, next, err = c.Tracking(ctx, 40, 50); !httpx.IsTransient(err) || !errors.Is(err, httpx.ErrMalformed) || next != 40 {
		t.Errorf("garbage: %d %v", next, err)
	}
}
