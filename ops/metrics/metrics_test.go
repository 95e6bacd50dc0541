package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/ops/metrics/progress"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// scrape GETs m's handler over HTTP and parses the text format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return fams
}

// sample returns the one sample of family name whose labels are exactly
// labels (a histogram's sample count for histograms).
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels map[string]string) float64 {
	t.Helper()
	v, ok := lookup(t, fams, name, typ, labels)
	if !ok {
		t.Fatalf("%s%v: no such series", name, labels)
	}
	return v
}

func lookup(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("%s not in the scrape", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is a %v, want a %v", name, f.GetType(), typ)
	}
	if f.GetHelp() == "" {
		t.Errorf("%s has no help", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if !equalLabels(got, labels) {
			continue
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// failingBreaker opens set's breaker named name against a server answering
// 500: failures calls fail, one more is rejected.
func failingBreaker(t *testing.T, set *breaker.Set, name string, failures int) {
	t.Helper()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer down.Close()
	c := &http.Client{Transport: set.Transport(name, nil)}
	for range failures {
		resp, err := c.Get(down.URL)
		if err != nil {
			t.Fatalf("call %s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("call %s: %s", name, resp.Status)
		}
	}
	if !set.Open(name) {
		t.Fatalf("breaker %s not open after %d failures", name, failures)
	}
	if _, err := c.Get(down.URL); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("call %s through an open breaker: %v, want ErrOpen", name, err)
	}
}

// drive exercises every series of a Metrics: it is what the dashboard and
// alert tests scrape.
type driven struct {
	m *Metrics
	// okFrom and okTo bracket the end of the last successful call to
	// "payment".
	okFrom, okTo time.Time
	// lagAt is when the sonla message still in flight was pulled.
	lagAt time.Time
	// changeFrom and changeTo bracket sonla's last change.
	changeFrom, changeTo time.Time
}

func drive(t *testing.T) driven {
	t.Helper()
	counters := progress.New()
	for _, c := range []struct {
		name string
		n    int64
	}{
		{progress.Pulled, 10}, {progress.Normalised, 8}, {progress.Quarantined, 2},
		{progress.Synced, 7}, {progress.Skipped, 1}, {progress.Deleted, 3},
	} {
		counters.Add("sonla", c.name, c.n)
	}
	counters.Add("hatinh", progress.Pulled, 4)
	counters.Add("unconfigured", progress.Pulled, 99) // not in sources: not exported

	set := breaker.New(breaker.Settings{Failures: 2, Timeout: time.Hour}, quiet)
	failingBreaker(t, set, "national", 2)
	set.CountRetry("national")
	set.CountRetry("national")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer up.Close()
	okFrom := time.Now()
	resp, err := (&http.Client{Transport: set.Transport("payment", nil)}).Get(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	okTo := time.Now()

	m := New(counters, set, []string{"sonla", "thainguyen", "hatinh", "sonla"})

	msg := message.NewMessage("1", nil)
	ok := m.Middleware("normalise-sonla")(func(*message.Message) ([]*message.Message, error) {
		time.Sleep(2 * time.Millisecond)
		return nil, nil
	})
	for range 3 {
		if _, err := ok(msg); err != nil {
			t.Fatal(err)
		}
	}
	failing := m.Middleware("national")(func(*message.Message) ([]*message.Message, error) {
		return nil, errors.New("portal down")
	})
	for range 2 {
		if _, err := failing(msg); err == nil {
			t.Fatal("error lost")
		}
	}
	panicking := m.Middleware("fees")(func(*message.Message) ([]*message.Message, error) { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the handler's panic", r)
			}
		}()
		_, _ = panicking(msg)
	}()
	_ = m.Middleware("postal") // made, never called

	// sonla: the older of two messages stays in flight; hatinh: one done,
	// one pulled "in the future" (clock skew) still in flight.
	lagAt := time.Now().Add(-90 * time.Second)
	m.TrackLag("sonla", lagAt)
	m.TrackLag("sonla", time.Now().Add(-time.Second))()
	m.TrackLag("sonla", time.Now().Add(-10*time.Second))
	m.TrackLag("hatinh", time.Now().Add(-time.Hour))()
	m.TrackLag("hatinh", time.Now().Add(time.Hour))
	m.TrackLag("unconfigured", time.Now().Add(-time.Hour))
	m.SetQuarantineOpen("sonla", 7)
	m.SetQuarantineOpen("hatinh", 0)
	// sonla: two pages with records and an empty pull; hatinh: only empty
	// pulls (no last change).
	changeFrom := time.Now()
	m.Changed("sonla", 5)
	m.Changed("sonla", 0)
	m.Changed("sonla", 2)
	m.Changed("hatinh", 0)
	changeTo := time.Now()
	m.SetOverdue("sonla", 4)
	m.SetOverdue("hatinh", 0)
	return driven{m: m, okFrom: okFrom, okTo: okTo, lagAt: lagAt, changeFrom: changeFrom, changeTo: changeTo}
}

func TestScrape(t *testing.T) {
	d := drive(t)
	fams := scrape(t, d.m)
	const (
		counter   = dto.MetricType_COUNTER
		gauge     = dto.MetricType_GAUGE
		histogram = dto.MetricType_HISTOGRAM
	)
	src := func(s string) map[string]string { return map[string]string{"source": s} }
	ep := func(s string) map[string]string { return map[string]string{"endpoint": s} }
	hd := func(s string) map[string]string { return map[string]string{"handler": s} }

	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels map[string]string
		want   float64
	}{
		{"lienthong_records_pulled_total", counter, src("sonla"), 10},
		{"lienthong_records_pulled_total", counter, src("hatinh"), 4},
		{"lienthong_records_pulled_total", counter, src("thainguyen"), 0},
		{"lienthong_records_normalised_total", counter, src("sonla"), 8},
		{"lienthong_records_quarantined_total", counter, src("sonla"), 2},
		{"lienthong_dossiers_synced_total", counter, map[string]string{"source": "sonla", "target": "national"}, 7},
		{"lienthong_dossiers_synced_total", counter, map[string]string{"source": "thainguyen", "target": "national"}, 0},
		{"lienthong_dossiers_skipped_total", counter, src("sonla"), 1},
		{"lienthong_dossiers_deleted_total", counter, src("sonla"), 3},

		{"lienthong_breaker_state", gauge, ep("national"), BreakerOpen},
		{"lienthong_breaker_state", gauge, ep("payment"), BreakerClosed},
		{"lienthong_breaker_requests_total", counter, ep("national"), 2},
		{"lienthong_breaker_successes_total", counter, ep("national"), 0},
		{"lienthong_breaker_failures_total", counter, ep("national"), 2},
		{"lienthong_breaker_rejected_total", counter, ep("national"), 1},
		{"lienthong_breaker_state_changes_total", counter, ep("national"), 1},
		{"lienthong_retries_total", counter, ep("national"), 2},
		{"lienthong_breaker_requests_total", counter, ep("payment"), 1},
		{"lienthong_breaker_successes_total", counter, ep("payment"), 1},
		{"lienthong_breaker_failures_total", counter, ep("payment"), 0},
		{"lienthong_retries_total", counter, ep("payment"), 0},

		{"lienthong_handler_duration_seconds", histogram, hd("normalise-sonla"), 3},
		{"lienthong_handler_errors_total", counter, hd("normalise-sonla"), 0},
		{"lienthong_handler_duration_seconds", histogram, hd("national"), 2},
		{"lienthong_handler_errors_total", counter, hd("national"), 2},
		{"lienthong_handler_duration_seconds", histogram, hd("fees"), 1},
		{"lienthong_handler_errors_total", counter, hd("fees"), 1},
		{"lienthong_handler_duration_seconds", histogram, hd("postal"), 0},
		{"lienthong_handler_errors_total", counter, hd("postal"), 0},

		{"lienthong_sync_lag_seconds", gauge, src("hatinh"), 0},
		{"lienthong_sync_lag_seconds", gauge, src("thainguyen"), 0},
		{"lienthong_quarantine_open", gauge, src("sonla"), 7},
		{"lienthong_quarantine_open", gauge, src("hatinh"), 0},

		{"lienthong_records_changed_total", counter, src("sonla"), 7},
		{"lienthong_records_changed_total", counter, src("hatinh"), 0},
		{"lienthong_records_changed_total", counter, src("thainguyen"), 0},
		{"lienthong_dossiers_overdue", gauge, src("sonla"), 4},
		{"lienthong_dossiers_overdue", gauge, src("hatinh"), 0},
	} {
		if got := sample(t, fams, c.name, c.typ, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Only the configured sources, once each.
	if n := len(fams["lienthong_records_pulled_total"].GetMetric()); n != 3 {
		t.Errorf("lienthong_records_pulled_total has %d series, want 3 (sonla, thainguyen, hatinh)", n)
	}
	if _, ok := lookup(t, fams, "lienthong_records_pulled_total", counter, src("unconfigured")); ok {
		t.Error("a source not given to New is exported")
	}
	// Lag: the oldest sonla message in flight, read at the scrape.
	if got, want := sample(t, fams, "lienthong_sync_lag_seconds", gauge, src("sonla")), time.Since(d.lagAt).Seconds(); got < 90 || got > want {
		t.Errorf("lienthong_sync_lag_seconds{source=sonla} = %v, want between 90 and %v", got, want)
	}
	if n := len(fams["lienthong_sync_lag_seconds"].GetMetric()); n != 3 {
		t.Errorf("lienthong_sync_lag_seconds has %d series, want 3 (the configured sources)", n)
	}
	// Last success: when the payment call ended; none for national, whose
	// calls all failed.
	got := sample(t, fams, "lienthong_last_success_timestamp_seconds", gauge, ep("payment"))
	if from, to := float64(d.okFrom.UnixNano())/1e9, float64(d.okTo.UnixNano())/1e9; got < from || got > to {
		t.Errorf("lienthong_last_success_timestamp_seconds{endpoint=payment} = %v, want between %v and %v", got, from, to)
	}
	if _, ok := lookup(t, fams, "lienthong_last_success_timestamp_seconds", gauge, ep("national")); ok {
		t.Error("lienthong_last_success_timestamp_seconds{endpoint=national}: national never succeeded")
	}
	// Last change: sonla's second page; none for hatinh, whose pulls were
	// all empty, nor thainguyen.
	got = sample(t, fams, "lienthong_source_last_change_timestamp_seconds", gauge, src("sonla"))
	if from, to := float64(d.changeFrom.Unix()), float64(d.changeTo.UnixNano())/1e9; got < from || got > to {
		t.Errorf("lienthong_source_last_change_timestamp_seconds{source=sonla} = %v, want between %v and %v", got, from, to)
	}
	for _, s := range []string{"hatinh", "thainguyen"} {
		if _, ok := lookup(t, fams, "lienthong_source_last_change_timestamp_seconds", gauge, src(s)); ok {
			t.Errorf("lienthong_source_last_change_timestamp_seconds{source=%s}: no pull of it returned a record", s)
		}
	}
	// The buckets are the documented ones.
	for _, m := range fams["lienthong_handler_duration_seconds"].GetMetric() {
		var bounds []float64
		for _, b := range m.GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		if want := append(slices.Clone(HandlerBuckets), math.Inf(1)); !slices.Equal(bounds, want) {
			t.Fatalf("buckets %v, want %v", bounds, want)
		}
	}
	if s := fams["lienthong_handler_duration_seconds"]; s != nil {
		for _, m := range s.GetMetric() {
			if m.GetLabel()[0].GetValue() == "normalise-sonla" && m.GetHistogram().GetSampleSum() < 3*0.002 {
				t.Errorf("normalise-sonla took %vs in all, want at least 6ms", m.GetHistogram().GetSampleSum())
			}
		}
	}

	// Runtime and process collectors.
	for _, c := range []struct {
		name string
		typ  dto.MetricType
	}{
		{"go_goroutines", gauge},
		{"go_memstats_heap_alloc_bytes", gauge},
		{"process_cpu_seconds_total", counter},
		{"process_resident_memory_bytes", gauge},
		{"go_build_info", gauge},
	} {
		f := fams[c.name]
		if f == nil || f.GetType() != c.typ || len(f.GetMetric()) == 0 {
			t.Errorf("%s: missing, or not a %v", c.name, c.typ)
		}
	}
}

// The hub's own series carry only bounded labels: names from configuration
// and code, never a dossier or a person.
func TestLabelsBounded(t *testing.T) {
	// kind and result take values from code (store.DriftKinds, the
	// reconciler's outcomes).
	allowed := map[string]bool{"source": true, "target": true, "endpoint": true, "handler": true, "kind": true, "result": true}
	fams := scrape(t, drive(t).m)
	var ours []*dto.MetricFamily
	for name, f := range fams {
		if !strings.HasPrefix(name, "lienthong_") {
			continue
		}
		ours = append(ours, f)
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !allowed[lp.GetName()] {
					t.Errorf("%s has label %q", name, lp.GetName())
				}
			}
		}
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// The package doc's tables list exactly the lienthong_ series the scrape
// has, with their types.
func TestDocumented(t *testing.T) {
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "\npackage metrics")
	documented := map[string]string{} // name → type
	for _, line := range strings.Split(doc, "\n") {
		fields := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(fields) >= 2 && strings.HasPrefix(fields[0], "lienthong_") {
			documented[fields[0]] = fields[1]
		}
	}
	fams := scrape(t, drive(t).m)
	for name, f := range fams {
		if !strings.HasPrefix(name, "lienthong_") {
			continue
		}
		typ := strings.ToLower(f.GetType().String())
		if documented[name] != typ {
			t.Errorf("%s (%s) is not in the package doc's tables as a %s", name, typ, typ)
		}
	}
	for name := range documented {
		if fams[name] == nil {
			t.Errorf("%s is documented but not exposed", name)
		}
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	set := breaker.New(breaker.Settings{Failures: 1, Timeout: 20 * time.Millisecond}, quiet)
	failingBreaker(t, set, "vnpost", 1)
	m := New(nil, set, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams := scrape(t, m)
		v := sample(t, fams, "lienthong_breaker_state", dto.MetricType_GAUGE, map[string]string{"endpoint": "vnpost"})
		if v == BreakerHalfOpen {
			break
		}
		if v != BreakerOpen || time.Now().After(deadline) {
			t.Fatalf("lienthong_breaker_state{endpoint=vnpost} = %v, want %v (half-open) once the timeout has passed", v, BreakerHalfOpen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := scrape(t, m)["lienthong_records_pulled_total"]; ok {
		t.Error("progress series without counters")
	}
}

// As router-wide middleware, an unnamed Middleware takes the handler's name
// from the router.
func TestMiddlewareRouter(t *testing.T) {
	m := New(nil, nil, nil)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer pubsub.Close()
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	r.AddMiddleware(m.Middleware(""))
	r.AddConsumerHandler("echo", "in", pubsub, func(*message.Message) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-r.Running()
	if err := pubsub.Publish("in", message.NewMessage("1", nil)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams := scrape(t, m)
		if _, ok := fams["lienthong_handler_duration_seconds"]; ok {
			n, ok := lookup(t, fams, "lienthong_handler_duration_seconds", dto.MetricType_HISTOGRAM, map[string]string{"handler": "echo"})
			if ok && n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no lienthong_handler_duration_seconds{handler=echo} sample after a message went through the router")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNil(t *testing.T) {
	var m *Metrics
	done := m.TrackLag("sonla", time.Now().Add(-time.Hour))
	done()
	done()
	if l := m.Lag("sonla"); l != 0 {
		t.Errorf("nil Lag = %v", l)
	}
	m.SetQuarantineOpen("sonla", 1)
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
	h := m.Middleware("x")(func(*message.Message) ([]*message.Message, error) { return nil, errors.New("kept") })
	if _, err := h(message.NewMessage("1", nil)); err == nil || err.Error() != "kept" {
		t.Errorf("nil Middleware: %v", err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler: %d", rec.Code)
	}
}

// Concurrent use, for the race detector.
func TestConcurrent(t *testing.T) {
	counters := progress.New()
	set := breaker.New(breaker.Settings{}, quiet)
	m := New(counters, set, []string{"sonla"})
	start := time.Now()
	done := make(chan struct{})
	ctx := context.Background()
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			h := m.Middleware("")(func(*message.Message) ([]*message.Message, error) { return nil, nil })
			for j := range 100 {
				counters.Add("sonla", progress.Pulled, 1)
				set.CountRetry("national")
				release := m.TrackLag("sonla", time.Now().Add(-time.Duration(j)*time.Second))
				if m.Lag("sonla") < time.Duration(j)*time.Second {
					t.Errorf("lag %v with a message %ds old in flight", m.Lag("sonla"), j)
				}
				m.SetQuarantineOpen("sonla", j)
				_ = set.Do(ctx, "national", func(context.Context) error { return nil }, nil)
				_, _ = h(message.NewMessage("1", nil))
				release()
				release()
			}
		}()
	}
	for range 3 {
		scrape(t, m)
	}
	for range 4 {
		<-done
	}
	fams := scrape(t, m)
	if v := sample(t, fams, "lienthong_records_pulled_total", dto.MetricType_COUNTER, map[string]string{"source": "sonla"}); v != 400 {
		t.Errorf("pulled %v, want 400", v)
	}
	if v := sample(t, fams, "lienthong_last_success_timestamp_seconds", dto.MetricType_GAUGE, map[string]string{"endpoint": "national"}); v < float64(start.UnixNano())/1e9 {
		t.Errorf("last success %v, before the test started at %v", v, start)
	}
	if v := sample(t, fams, "lienthong_sync_lag_seconds", dto.MetricType_GAUGE, map[string]string{"source": "sonla"}); v != 0 {
		t.Errorf("lag %v with nothing in flight, want 0", v)
	}
	if l := m.Lag("sonla"); l != 0 {
		t.Errorf("Lag = %v with nothing in flight, want 0", l)
	}
	if v := sample(t, fams, "lienthong_handler_duration_seconds", dto.MetricType_HISTOGRAM, map[string]string{"handler": "unknown"}); v != 400 {
		t.Errorf("handler samples %v, want 400", v)
	}
}

// Lag grows while a message stays in flight, follows the oldest one, and
// drops to 0 once all are done.
func TestLagInFlight(t *testing.T) {
	m := New(nil, nil, []string{"sonla", "hatinh"})
	lagGauge := func(source string) float64 {
		t.Helper()
		return sample(t, scrape(t, m), "lienthong_sync_lag_seconds", dto.MetricType_GAUGE, map[string]string{"source": source})
	}
	if l, g := m.Lag("sonla"), lagGauge("sonla"); l != 0 || g != 0 {
		t.Fatalf("nothing in flight: Lag %v, gauge %v; want 0", l, g)
	}

	pulled := time.Now()
	doneOld := m.TrackLag("sonla", pulled)
	time.Sleep(20 * time.Millisecond)
	l1 := m.Lag("sonla")
	if l1 < 20*time.Millisecond || l1 > time.Since(pulled) {
		t.Fatalf("Lag %v, want at least 20ms and at most %v", l1, time.Since(pulled))
	}
	time.Sleep(20 * time.Millisecond)
	if g := lagGauge("sonla"); g < (l1 + 20*time.Millisecond).Seconds() {
		t.Fatalf("gauge %vs, want it grown past %v", g, l1+20*time.Millisecond)
	}
	if l, g := m.Lag("hatinh"), lagGauge("hatinh"); l != 0 || g != 0 {
		t.Fatalf("hatinh: Lag %v, gauge %v; want 0, nothing of it in flight", l, g)
	}

	// A newer message: the lag is still the oldest one's.
	newer := time.Now().Add(-5 * time.Millisecond)
	doneNew := m.TrackLag("sonla", newer)
	if l := m.Lag("sonla"); l < 40*time.Millisecond {
		t.Fatalf("Lag %v with the old message still in flight", l)
	}
	// The old one done (twice: the second call changes nothing): the lag
	// is the newer one's.
	doneOld()
	doneOld()
	if l := m.Lag("sonla"); l < 5*time.Millisecond || l > time.Since(newer) {
		t.Fatalf("Lag %v, want the newer message's age (at most %v)", l, time.Since(newer))
	}
	// Pulled after now (clock skew): never negative.
	doneFuture := m.TrackLag("hatinh", time.Now().Add(time.Hour))
	if l, g := m.Lag("hatinh"), lagGauge("hatinh"); l != 0 || g != 0 {
		t.Fatalf("future since: Lag %v, gauge %v; want 0", l, g)
	}
	doneFuture()

	doneNew()
	if l, g := m.Lag("sonla"), lagGauge("sonla"); l != 0 || g != 0 {
		t.Fatalf("all done: Lag %v, gauge %v; want 0", l, g)
	}
}

// TestLagPublished: records published and not yet resolved count in the
// lag although nothing of them is in flight (they wait in Kafka); a
// resolved record of a later pull clears the earlier ones.
func TestLagPublished(t *testing.T) {
	m := New(nil, nil, []string{"sonla"})
	now := time.Now()
	m.Published("sonla", now.Add(-40*time.Second))
	m.Published("sonla", now.Add(-40*time.Second+100*time.Millisecond)) // the same second
	m.Published("sonla", now.Add(-20*time.Second))
	if got := m.lag("sonla", now); got != 40*time.Second {
		t.Errorf("lag with two pulls waiting: %v, want 40s", got)
	}
	m.Resolved("sonla", now.Add(-30*time.Second))
	if got := m.lag("sonla", now); got != 20*time.Second {
		t.Errorf("lag once the first pull is resolved: %v, want 20s", got)
	}
	done := m.TrackLag("sonla", now.Add(-25*time.Second)) // an older record still in flight
	m.Resolved("sonla", now.Add(-20*time.Second))
	if got := m.lag("sonla", now); got != 25*time.Second {
		t.Errorf("lag with a record in flight: %v, want 25s", got)
	}
	done()
	if got := m.lag("sonla", now); got != 0 {
		t.Errorf("lag with everything resolved: %v, want 0", got)
	}
	m.Published("sonla", now.Add(-time.Hour)) // older than what is resolved: nothing waits
	if got := m.lag("sonla", now); got != 0 {
		t.Errorf("lag after a stale pull: %v, want 0", got)
	}
	var nilM *Metrics
	nilM.Published("sonla", now)
	nilM.Resolved("sonla", now)
	nilM.Changed("sonla", 3)
}
