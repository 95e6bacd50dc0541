package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/metrics"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestHealthWhileRunningAndAfterStop: while the hub runs, /healthz and
// /readyz on its listener answer 200; once it has stopped (cleanly: Run
// returns nil), both answer 503.
func TestHealthWhileRunningAndAfterStop(t *testing.T) {
	b, err := broker.Start(context.Background(), broker.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h, log := testHub(t, b.Addrs())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()

	base := "http://" + h.cfg.HTTP.Listen
	for _, path := range []string{"/healthz", "/readyz"} {
		waitStatus(t, base+path, http.StatusOK, done, log)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return within 30 s of cancel\n%s", log)
	}
	srv := httptest.NewServer(surface(h))
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := get(t, srv.URL+path)
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s after the hub stopped: %d %q, want 503", path, code, body)
		}
		t.Logf("%s: %d %s", path, code, strings.TrimSpace(body))
	}
}

// TestHealthAfterRouterStops: the broker answers but refuses to create the
// Sơn La raw topic, so that topic's normaliser handler stops at once while
// the other handlers run (and the stopped handler has closed the publisher
// the pollers share). Run must return an error naming the handler, and
// /healthz and /readyz must answer 503 with the reason, although the store
// and the broker answer.
func TestHealthAfterRouterStops(t *testing.T) {
	refused := router.Topics{}.Raw("sonla")
	b, err := broker.Start(context.Background(), broker.Config{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := b.Cluster()
	c.ControlKey(int16(kmsg.CreateTopics), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.CreateTopicsRequest)
		hit := false
		for _, rt := range req.Topics {
			hit = hit || rt.Topic == refused
		}
		if !hit {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewCreateTopicsResponseTopic()
			t.Topic = rt.Topic
			t.ErrorCode = kerr.PolicyViolation.Code
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil, true
	})

	h, log := testHub(t, b.Addrs())
	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "normalise-sonla") {
			t.Fatalf("Run returned %v, want an error naming the handler normalise-sonla\n%s", err, log)
		}
		t.Logf("Run: %v", err)
	case <-time.After(60 * time.Second):
		code, body := get(t, "http://"+h.cfg.HTTP.Listen+"/healthz")
		t.Fatalf("Run still running 60 s after the handler normalise-sonla stopped; /healthz answers %d %q\n%s", code, body, log)
	}
	if err := h.ready(context.Background()); err != nil {
		t.Fatalf("store or broker do not answer, so this test proves nothing: %v", err)
	}
	srv := httptest.NewServer(surface(h))
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		code, body := get(t, srv.URL+path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "normalise-sonla") {
			t.Errorf("%s after the router handler stopped: %d %q, want 503 naming normalise-sonla", path, code, body)
		}
		t.Logf("%s: %d %s", path, code, strings.TrimSpace(body))
	}
}

// testHub is a hub over a SQLite store in a test directory with one portal
// and the national portal both unreachable (their pollers and sink only
// retry), against brokers, listening on a free loopback port.
func testHub(t *testing.T, brokers []string) (*Hub, *lockedBuffer) {
	t.Helper()
	keys := StoreKeys{Encryption: storetest.EncryptionKey, Identity: storetest.IdentityKey}
	stc := StoreConfig{SQLitePath: filepath.Join(t.TempDir(), "hub.db")}
	st, err := OpenStore(context.Background(), stc, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	nowhere := "http://" + freeAddr(t)
	cfg := Config{
		Instance: "health-test",
		Kafka:    KafkaConfig{Brokers: brokers, Partitions: 2},
		National: NationalConfig{BaseURL: nowhere, Username: "hub", Password: "hub-secret"},
		Sources: []SourceConfig{{Name: "sonla", Kind: schemas.KindRESTJSON, Province: "14", BaseURL: nowhere, PollInterval: 200 * time.Millisecond,
			DstCode: "000.00.00.H52", ClientID: "hub", ClientSecret: "hub-secret"}},
		HTTP:  HTTPConfig{Listen: freeAddr(t)},
		Store: stc.WithKeys(keys), // Kafka messages are sealed with them
	}
	log := &lockedBuffer{}
	return New(cfg, st, nil, slog.New(slog.NewJSONHandler(log, nil))), log
}

// surface is the hub's HTTP surface over the hub's state, built afresh so
// that it can be asked after Run has returned and closed the listener.
func surface(h *Hub) http.Handler {
	return h.httpHandler(&level4{}, api.New(api.Config{Store: h.store, Log: h.log}), metrics.New(h.counters, h.breakers, nil))
}

// waitStatus polls url until it answers want, failing after a minute or if
// Run returns first.
func waitStatus(t *testing.T, url string, want int, done <-chan error, log *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	code, body := 0, ""
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v while waiting for %s\n%s", err, url, log)
		default:
		}
		if code, body = get(t, url); code == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s answers %d %q after a minute, want %d\n%s", url, code, body, want, log)
}

// get returns the status and body of GET url; 0 when it cannot connect.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr is a loopback address free a moment ago, below the ephemeral
// port range (as devenv.FreeAddr, which this package cannot import), so no
// outgoing connection takes it before the hub binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 50 {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))); err == nil {
			defer ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is a log the hub writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
