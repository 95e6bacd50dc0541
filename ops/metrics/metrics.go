// Package metrics exposes the hub's state as Prometheus metrics, on a
// registry of its own (never the global one), served in the Prometheus text
// format by Metrics.Handler.
//
// Most series are read at scrape time from the state the hub already keeps
// (the per-source progress counters, the circuit breakers' counts, the Go
// runtime and the process); the rest are set by the hub as things happen
// (Middleware, TrackLag, Published, Changed, SetQuarantineOpen, SetOverdue).
// Nothing runs in the background.
//
// Labels never carry a dossier ID, a MaHoSo, a URL, an error text or
// anything from a record: only names from the hub's configuration and code
// (sources, endpoints, handlers, targets), so the number of series stays
// bounded. The dashboard (deploy/grafana/lienthong.json) and the alert rules
// (deploy/prometheus/alerts.yml) use these names; a test checks that every
// series they reference is exposed here.
//
// # Series
//
// Per source (from progress.Counters; sources are the ones given to New):
//
//	name                                 type     labels                     meaning
//	lienthong_records_pulled_total       counter  source                     records the source's poller pulled and published to raw.<source>
//	lienthong_records_normalised_total   counter  source                     records mapped to a canonical dossier
//	lienthong_records_quarantined_total  counter  source                     records and dossier versions put in quarantine (unmappable, or refused by the national portal: 21, 24, unknown code)
//	lienthong_dossiers_synced_total      counter  source, target="national"  dossier versions the national portal acknowledged (code 00)
//	lienthong_dossiers_skipped_total     counter  source                     dossier versions with nothing new for the national portal (older than what it holds, or already there)
//	lienthong_dossiers_deleted_total     counter  source                     dossiers recorded as deleted at the source (XOA)
//
// Set by the hub (Middleware, TrackLag, Changed, SetQuarantineOpen, SetOverdue):
//
//	name                                            type       labels   meaning
//	lienthong_handler_duration_seconds              histogram  handler  time a Watermill handler took per message, errors and panics included
//	lienthong_handler_errors_total                  counter    handler  messages a handler returned an error for (or panicked on): nacked, to be redelivered
//	lienthong_sync_lag_seconds                      gauge      source   how long the source's oldest record not yet resolved has waited since it was pulled: in flight to the national portal (TrackLag) or published and still in Kafka (Published, until Resolved); 0 when none waits
//	lienthong_quarantine_open                       gauge      source   quarantined records still open (neither replayed nor discarded)
//	lienthong_records_changed_total                 counter    source   records pulled that are new or changed versions at the source, counted once their page's cursor is stored (Changed); empty pulls add nothing; 0 from the start for the sources given to New
//	lienthong_source_last_change_timestamp_seconds  gauge      source   Unix time of the last pull that returned at least one record (Changed); absent until one has. Unlike lienthong_last_success_timestamp_seconds (any successful call, empty pulls included), it shows when the province last sent something
//	lienthong_dossiers_overdue                      gauge      source   dossiers past their due date (NgayHenTra) and not resolved (status 9 or 10), from the ledger (store OverdueCounts; the on-time report's overdue_now)
//	lienthong_drift_open                            gauge      source, kind  dossiers whose national copy drifted from the ledger, found by reconciliation and not resolved yet (store DriftCounts); 0 for every kind of the sources given to New
//	lienthong_reconcile_checks_total                counter    source, result  reconciliation's checks against TraCuuHoSo: ok, in_flight, skipped, error or a drift kind (ReconcileChecked); "ok" at 0 from the start for the sources given to New
//
// The lag is computed at scrape time from the messages TrackLag has
// registered and not yet released, for every source given to New.
//
// Per endpoint (from breaker.Set.Stats; endpoints are the provinces by
// source name, "national", "payment", "vnpost", "sms", "smtp", as they are
// first used):
//
//	name                                      type     labels    meaning
//	lienthong_breaker_state                   gauge    endpoint  0 closed, 1 half-open, 2 open
//	lienthong_breaker_requests_total          counter  endpoint  calls the breaker let through
//	lienthong_breaker_successes_total         counter  endpoint  of those, counted as successes
//	lienthong_breaker_failures_total          counter  endpoint  of those, counted as failures (timeouts, connection errors, 5xx, 429)
//	lienthong_breaker_rejected_total          counter  endpoint  calls refused at once because the breaker was open (or half-open and busy)
//	lienthong_breaker_state_changes_total     counter  endpoint  breaker transitions, any direction
//	lienthong_retries_total                   counter  endpoint  retries of calls to the endpoint, as the callers' retry loops report them
//	lienthong_last_success_timestamp_seconds  gauge    endpoint  Unix time the last call counted as a success ended; absent for an endpoint that never succeeded
//
// Runtime and process (client_golang's standard collectors): go_* (goroutines,
// memory, GC, scheduler), process_* (CPU, resident memory, open file
// descriptors, start time), go_build_info, and
// promhttp_metric_handler_errors_total (scrapes that failed to gather).
//
// The counters are the process's own, from its start: several instances
// each export theirs, so dashboards sum them by source or endpoint. The
// gauges take their max: quarantine and overdue, read from the store, are
// the same on every instance; lag, last success and last change are each instance's
// own (its messages in flight, its calls, the pollers it holds the lease
// of), and the max is the worst lag and the newest success or change of
// them all. A poller runs on one instance at a time: the others export its
// source's lienthong_records_changed_total at 0.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/store"
)

const namespace = "lienthong"

// Breaker state values of lienthong_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// HandlerBuckets are the bucket bounds (seconds) of
// lienthong_handler_duration_seconds: from a normalisation (milliseconds) to
// a national batch that waited for its linger and retried (a minute).
var HandlerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics holds the hub's Prometheus registry and the series the hub sets.
// It is safe for concurrent use. A nil *Metrics records nothing (its
// Middleware passes messages straight through), so components can run
// without one.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	handlerDuration *prometheus.HistogramVec
	handlerErrors   *prometheus.CounterVec
	quarantineOpen  *prometheus.GaugeVec
	recordsChanged  *prometheus.CounterVec
	lastChange      *prometheus.GaugeVec
	overdue         *prometheus.GaugeVec
	driftOpen       *prometheus.GaugeVec
	reconciled      *prometheus.CounterVec

	mu       sync.Mutex
	nextID   uint64
	inFlight map[string]map[uint64]time.Time // by source: TrackLag's messages not yet done, by id → since
	pulls    map[string][]time.Time          // by source: Published pull times after resolved, ascending
	resolved map[string]time.Time            // by source: the latest pull time Resolved was told of
}

// New returns the metrics of a hub: counters are its progress counters,
// exported for each of sources (the configured source names; counters of
// other sources are not exported); breakers its circuit breakers. Either
// may be nil, which leaves its series out.
func New(counters *progress.Counters, breakers *breaker.Set, sources []string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:      reg,
		inFlight: map[string]map[uint64]time.Time{},
		pulls:    map[string][]time.Time{},
		resolved: map[string]time.Time{},
		handlerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "handler_duration_seconds",
			Help:    "Time a Watermill handler took per message, errors and panics included.",
			Buckets: HandlerBuckets,
		}, []string{"handler"}),
		handlerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "handler_errors_total",
			Help: "Messages a Watermill handler returned an error for or panicked on (nacked, to be redelivered).",
		}, []string{"handler"}),
		quarantineOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "quarantine_open",
			Help: "Quarantined records of the source still open (neither replayed nor discarded).",
		}, []string{"source"}),
		recordsChanged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "records_changed_total",
			Help: "Records pulled from the source that are new or changed versions (empty pulls add nothing).",
		}, []string{"source"}),
		lastChange: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "source_last_change_timestamp_seconds",
			Help: "Unix time of the source's last pull that returned at least one record; absent until one has.",
		}, []string{"source"}),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "dossiers_overdue",
			Help: "Dossiers of the source past their due date (NgayHenTra) and not resolved (status 9 or 10).",
		}, []string{"source"}),
		driftOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "drift_open",
			Help: "Dossiers whose national copy drifted from the ledger, by kind, not resolved yet.",
		}, []string{"source", "kind"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reconcile_checks_total",
			Help: "Reconciliation checks against the national portal, by result (ok, in_flight, skipped, error or a drift kind).",
		}, []string{"source", "result"}),
	}
	// At 0 from the start, so that the first change is an increase.
	for _, src := range sortedUnique(sources) {
		m.recordsChanged.WithLabelValues(src)
		m.reconciled.WithLabelValues(src, "ok")
		m.SetDrift(src, nil)
	}
	reg.MustRegister(
		m.handlerDuration, m.handlerErrors, m.quarantineOpen, m.recordsChanged, m.lastChange, m.overdue,
		m.driftOpen, m.reconciled,
		newLagCollector(m, sources),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if counters != nil {
		reg.MustRegister(newProgressCollector(counters, sources))
	}
	if breakers != nil {
		reg.MustRegister(newBreakerCollector(breakers))
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// One collector failing leaves the others' series in the scrape;
		// the failure is counted in promhttp_metric_handler_errors_total.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
	return m
}

// Registry is the registry the metrics are on, for components that add
// series of their own (and for tests). Do not register on the global one.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics in the Prometheus text format (or in the
// format the scraper negotiates), for /metrics.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Middleware times a Watermill handler's every message in
// lienthong_handler_duration_seconds{handler} and counts the messages it
// returned an error for (or panicked on, the panic going on up) in
// lienthong_handler_errors_total{handler}. An empty handler takes the
// router's name of the handler from the message's context, for use as
// router-wide middleware (message.Router.AddMiddleware). Both series exist,
// at zero, as soon as a named handler's middleware is made.
func (m *Metrics) Middleware(handler string) message.HandlerMiddleware {
	if m == nil {
		return func(h message.HandlerFunc) message.HandlerFunc { return h }
	}
	var (
		dur  prometheus.Observer
		errs prometheus.Counter
	)
	if handler != "" {
		dur, errs = m.handlerDuration.WithLabelValues(handler), m.handlerErrors.WithLabelValues(handler)
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) (out []*message.Message, err error) {
			d, e := dur, errs
			if d == nil {
				name := message.HandlerNameFromCtx(msg.Context())
				if name == "" {
					name = "unknown"
				}
				d, e = m.handlerDuration.WithLabelValues(name), m.handlerErrors.WithLabelValues(name)
			}
			start := time.Now()
			failed := true // until h returns: a panic counts as an error
			defer func() {
				d.Observe(time.Since(start).Seconds())
				if failed {
					e.Inc()
				}
			}()
			out, err = h(msg)
			failed = err != nil
			return out, err
		}
	}
}

// TrackLag registers one message of source in flight since since (the time
// its record was pulled from the source; the zero time means now) and
// returns the func that releases it once the message is handled. done may
// be called more than once; only the first call counts. While the message
// is in flight, Lag(source) and lienthong_sync_lag_seconds{source} are at
// least now − since. A nil *Metrics returns a no-op done.
func (m *Metrics) TrackLag(source string, since time.Time) (done func()) {
	if m == nil {
		return func() {}
	}
	if since.IsZero() {
		since = time.Now()
	}
	m.mu.Lock()
	m.nextID++
	id := m.nextID
	f := m.inFlight[source]
	if f == nil {
		f = map[uint64]time.Time{}
		m.inFlight[source] = f
	}
	f[id] = since
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		// Ids are never reused: a second call finds nothing to delete.
		if f := m.inFlight[source]; f != nil {
			delete(f, id)
			if len(f) == 0 {
				delete(m.inFlight, source) // sources are few; keep no empty sets
			}
		}
	}
}

// Lag returns how long the oldest message of source in flight (registered
// by TrackLag, not yet done) has been waiting: now minus its since. It is 0
// when none is in flight, and never negative. A nil *Metrics returns 0.
func (m *Metrics) Lag(source string) time.Duration {
	if m == nil {
		return 0
	}
	return m.lag(source, time.Now())
}

// maxPulls bounds the pull times kept per source while nothing is
// resolved (the national portal down for long): the oldest stay, which
// are the ones the lag counts from.
const maxPulls = 10000

// Published records that records of source pulled at pulled are on their
// way (ingest.Poller.Published). Until Resolved is told of a record pulled
// then or later, Lag(source) is at least now − pulled: the records may be
// waiting in Kafka, where TrackLag does not see them.
func (m *Metrics) Published(source string, pulled time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !pulled.After(m.resolved[source]) {
		return
	}
	p := m.pulls[source]
	// Pages come in order; within a second one time is as good as many.
	if n := len(p); (n > 0 && pulled.Sub(p[n-1]) < time.Second) || n >= maxPulls {
		return
	}
	m.pulls[source] = append(p, pulled)
}

// Resolved records that a record of source pulled at pulled went as far as
// it goes (acknowledged, skipped or quarantined): every pull up to then is
// taken as resolved. Records are resolved out of order across partitions;
// the older ones still waiting are in flight, where TrackLag sees them.
func (m *Metrics) Resolved(source string, pulled time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !pulled.After(m.resolved[source]) {
		return
	}
	m.resolved[source] = pulled
	p := m.pulls[source]
	i := 0
	for i < len(p) && !p[i].After(pulled) {
		i++
	}
	m.pulls[source] = p[i:]
}

func (m *Metrics) lag(source string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest time.Time
	if p := m.pulls[source]; len(p) > 0 {
		oldest = p[0]
	}
	for _, since := range m.inFlight[source] {
		if oldest.IsZero() || since.Before(oldest) {
			oldest = since
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest), 0)
}

// Changed records that a pull of source returned n records, each a new or
// changed version (ingest.Poller.Changed): it adds n to
// lienthong_records_changed_total{source} and, when n > 0, sets
// lienthong_source_last_change_timestamp_seconds{source} to now. An empty
// pull (n <= 0) changes nothing.
func (m *Metrics) Changed(source string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.recordsChanged.WithLabelValues(source).Add(float64(n))
	m.lastChange.WithLabelValues(source).SetToCurrentTime()
}

// SetQuarantineOpen sets lienthong_quarantine_open{source}, the
// number of the source's quarantined records still open.
func (m *Metrics) SetQuarantineOpen(source string, n int) {
	if m == nil {
		return
	}
	m.quarantineOpen.WithLabelValues(source).Set(float64(max(n, 0)))
}

// SetOverdue sets lienthong_dossiers_overdue{source}, the number of the
// source's dossiers past their due date and not resolved.
func (m *Metrics) SetOverdue(source string, n int) {
	if m == nil {
		return
	}
	m.overdue.WithLabelValues(source).Set(float64(max(n, 0)))
}

// SetDrift sets lienthong_drift_open{source,kind} for every kind of
// store.DriftKinds, from counts (a kind absent is 0).
func (m *Metrics) SetDrift(source string, counts map[string]int) {
	if m == nil {
		return
	}
	for _, k := range store.DriftKinds {
		m.driftOpen.WithLabelValues(source, k).Set(float64(max(counts[k], 0)))
	}
}

// ReconcileChecked counts one reconciliation check of source's.
func (m *Metrics) ReconcileChecked(source, result string) {
	if m == nil {
		return
	}
	m.reconciled.WithLabelValues(source, result).Inc()
}

// lagCollector computes lienthong_sync_lag_seconds at scrape time from the
// messages in flight.
type lagCollector struct {
	m       *Metrics
	sources []string
	desc    *prometheus.Desc
}

func newLagCollector(m *Metrics, sources []string) *lagCollector {
	return &lagCollector{m: m, sources: sortedUnique(sources), desc: prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "", "sync_lag_seconds"),
		"Age of the source's oldest dossier version in flight to the national portal (now minus when its record was pulled), in seconds; 0 when none is in flight.",
		[]string{"source"}, nil)}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, src := range c.sources {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.m.lag(src, now).Seconds(), src)
	}
}

// sortedUnique returns a sorted copy of names without duplicates.
func sortedUnique(names []string) []string {
	names = slices.Clone(names)
	slices.Sort(names)
	return slices.Compact(names)
}

// progressCollector reads the progress counters at scrape time.
type progressCollector struct {
	counters *progress.Counters
	sources  []string
	series   []progressSeries
}

type progressSeries struct {
	counter string // progress counter name
	desc    *prometheus.Desc
}

func newProgressCollector(counters *progress.Counters, sources []string) *progressCollector {
	sources = sortedUnique(sources)
	desc := func(name, help string, constLabels prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{"source"}, constLabels)
	}
	return &progressCollector{counters: counters, sources: sources, series: []progressSeries{
		{progress.Pulled, desc("records_pulled_total",
			"Records the source's poller pulled and published.", nil)},
		{progress.Normalised, desc("records_normalised_total",
			"Records mapped to a canonical dossier.", nil)},
		{progress.Quarantined, desc("records_quarantined_total",
			"Records and dossier versions put in quarantine (unmappable, or refused by the national portal).", nil)},
		{progress.Synced, desc("dossiers_synced_total",
			"Dossier versions the target portal acknowledged.", prometheus.Labels{"target": "national"})},
		{progress.Skipped, desc("dossiers_skipped_total",
			"Dossier versions with nothing new for the national portal.", nil)},
		{progress.Deleted, desc("dossiers_deleted_total",
			"Dossiers recorded as deleted at the source.", nil)},
	}}
}

func (c *progressCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.series {
		ch <- s.desc
	}
}

func (c *progressCollector) Collect(ch chan<- prometheus.Metric) {
	for _, src := range c.sources {
		for _, s := range c.series {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(c.counters.Get(src, s.counter)), src)
		}
	}
}

// breakerCollector reads the circuit breakers' states and counts at scrape
// time.
type breakerCollector struct {
	breakers *breaker.Set

	state, requests, successes, failures, rejected, changes, retries, lastSuccess *prometheus.Desc
}

func newBreakerCollector(breakers *breaker.Set) *breakerCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{"endpoint"}, nil)
	}
	return &breakerCollector{
		breakers:  breakers,
		state:     desc("breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
		requests:  desc("breaker_requests_total", "Calls the circuit breaker let through."),
		successes: desc("breaker_successes_total", "Calls the circuit breaker let through that counted as successes."),
		failures:  desc("breaker_failures_total", "Calls the circuit breaker let through that counted as failures."),
		rejected:  desc("breaker_rejected_total", "Calls the circuit breaker refused (open, or half-open and busy)."),
		changes:   desc("breaker_state_changes_total", "Circuit breaker state transitions, any direction."),
		retries:   desc("retries_total", "Retries of calls to the endpoint, as reported by the callers' retry loops."),
		lastSuccess: desc("last_success_timestamp_seconds",
			"Unix time the last call to the endpoint that counted as a success ended; absent when none has."),
	}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.requests, c.successes, c.failures, c.rejected, c.changes, c.retries, c.lastSuccess} {
		ch <- d
	}
}

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.breakers.Stats() {
		if v, ok := breakerState(st.State); ok {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, name)
		}
		for _, s := range []struct {
			desc *prometheus.Desc
			v    uint64
		}{
			{c.requests, st.Requests}, {c.successes, st.Successes}, {c.failures, st.Failures},
			{c.rejected, st.Rejected}, {c.changes, st.StateChanges}, {c.retries, st.Retries},
		} {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.v), name)
		}
		if !st.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(st.LastSuccess.UnixNano())/1e9, name)
		}
	}
}

// breakerState maps a breaker.Stat state to its lienthong_breaker_state
// value.
func breakerState(s string) (float64, bool) {
	switch s {
	case breaker.StateClosed:
		return BreakerClosed, true
	case breaker.StateHalfOpen:
		return BreakerHalfOpen, true
	case breaker.StateOpen:
		return BreakerOpen, true
	}
	return 0, false
}
