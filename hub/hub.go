// Package hub assembles the running hub from its configuration: pollers per
// provincial portal, the Watermill router over Kafka (normalise, national
// sink) and the durable store.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/reconcile"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/ingest"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/store"
)

// Store is the durable state the hub's stages share.
type Store interface {
	ingest.Cursors
	router.Ledger
	router.Effects
	store.Leaser
	fees.Store
	postal.Store
	notify.Store
	dlq.Store
	api.Store
	reconcile.Store
	eventPruner
	CreateToken(ctx context.Context, t store.APIToken) error
	IndexIdentities(ctx context.Context, links []store.IdentityLink) error
	// HeldVersions is what `hub dev` and `hub bench` poll for progress.
	HeldVersions(ctx context.Context, ids []string) (map[string]int64, error)
	// OverdueCounts feeds lienthong_dossiers_overdue (see gauges).
	OverdueCounts(ctx context.Context, now time.Time) (map[string]int, error)
	Close() error
}

// Hub is a running hub.
type Hub struct {
	cfg      Config
	store    Store
	counters *progress.Counters
	log      *slog.Logger
	breakers *breaker.Set
	life     life
	// id names this process among the instances: the holder of its
	// leases and the key of its figures in the store.
	id      string
	started time.Time
}

// New returns a hub over an open store. Counters may be shared with the
// caller to watch progress.
func New(cfg Config, st Store, counters *progress.Counters, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	log = tracedLogger(cfg, log)
	if counters == nil {
		counters = progress.New()
	}
	if cfg.Instance == "" {
		cfg.Instance = "hub"
	}
	return &Hub{cfg: cfg, store: st, counters: counters, log: log, started: time.Now(),
		id:       fmt.Sprintf("%s/%d/%s", cfg.Instance, os.Getpid(), watermill.NewShortUUID()),
		breakers: breaker.New(breaker.Settings{Failures: cfg.Breaker.Failures, Timeout: cfg.Breaker.Timeout}, log)}
}

// Breakers are the circuit breakers of the external endpoints, one each:
// the provinces by source name, "national", "payment", "vnpost", "sms",
// "smtp".
func (h *Hub) Breakers() *breaker.Set { return h.breakers }

// waitFor returns a wait on the named endpoints' breakers.
func (h *Hub) waitFor(names ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error { return h.breakers.Wait(ctx, names...) }
}

// Run runs the hub until ctx ends, then stops pulling, lets in-flight
// messages finish and returns nil (or what failed as it stopped). If the
// router or one of its handlers stops before ctx ends, Run stops everything
// the same way and returns an error naming what stopped.
func (h *Hub) Run(ctx context.Context) error {
	p, err := h.build()
	if err != nil {
		return err
	}
	defer p.close()
	ctx = p.traced(ctx)
	t := newTasks(ctx, &h.life)
	defer t.cancel()
	t.spawn(p.sink.Run)
	t.spawn(p.norm.Run)
	h.runRouter(t, p)
	if !h.watchHandlers(t, p) {
		// Stopped or failed before the router ran: start nothing more.
		return h.finish(t)
	}
	h.lead(t, append(h.pollers(p), h.loops(p)...))
	t.spawn(func(ctx context.Context) { h.gauges(ctx, p.metrics, p.names) })
	if h.cfg.HTTP.Listen != "" {
		shutdown, err := h.startHTTP(t, p)
		if err != nil {
			t.cancel()
			t.wg.Wait()
			return err
		}
		defer shutdown()
	}
	h.log.Info("hub running", "instance", h.cfg.Instance, "sources", len(p.sources))
	<-t.ctx.Done()
	return h.finish(t)
}

// tasks are the goroutines Run starts, the context that stops them and
// what failed under them.
type tasks struct {
	ctx    context.Context
	cancel context.CancelFunc
	life   *life
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func newTasks(ctx context.Context, l *life) *tasks {
	t := &tasks{life: l}
	t.ctx, t.cancel = context.WithCancel(ctx)
	return t
}

// spawn runs run(t.ctx) in a goroutine that finish waits for.
func (t *tasks) spawn(run func(ctx context.Context)) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		run(t.ctx)
	}()
}

func (t *tasks) report(err error) {
	t.mu.Lock()
	t.errs = append(t.errs, err)
	t.mu.Unlock()
}

func (t *tasks) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.errs...)
}

// fail stops the hub because err stopped under it. A Watermill router
// cannot be run again, and a handler that stopped has closed the
// publisher it shares with the pollers and the other handlers: rather
// than rebuild all that in-process, the hub stops whole and says why,
// so that its supervisor restarts it (with backoff) and /healthz tells
// the truth meanwhile. Pollers' leases and the consumer groups' partitions
// go to the other instances as they would after a crash.
func (t *tasks) fail(err error) {
	if t.ctx.Err() != nil {
		return // already stopping: this is a consequence, not a cause
	}
	t.report(err)
	t.life.stopping(err.Error(), true)
	t.cancel()
}

// runRouter runs the router until Run's context ends; should it stop
// before, the hub fails, naming the handlers that stopped.
func (h *Hub) runRouter(t *tasks, p *parts) {
	t.spawn(func(ctx context.Context) {
		// Run returns nil when the router closed itself because all its
		// handlers stopped: only ctx may end it without an error.
		err := p.router.Run(ctx)
		h.life.routerEnded()
		if ctx.Err() != nil {
			if err != nil {
				t.report(fmt.Errorf("router: %w", err))
			}
			return
		}
		var why []string
		if err != nil {
			why = append(why, err.Error())
		}
		for _, w := range p.handlers {
			select {
			case <-w.h.Stopped(): // nil, so never ready, if it never started
				why = append(why, w.stopped().Error())
			default:
			}
		}
		if len(why) == 0 {
			t.fail(errors.New("router stopped"))
		} else {
			t.fail(fmt.Errorf("router stopped: %s", strings.Join(why, "; ")))
		}
	})
}

// watchHandlers waits until the router runs, then has any handler that
// stops fail the hub. It returns false if the hub stops first.
func (h *Hub) watchHandlers(t *tasks, p *parts) bool {
	select {
	case <-p.router.Running():
		// Running stays closed once a running router has stopped; the
		// handler watchers below then see their handlers stopped at once.
		h.life.routerStarted()
		for _, w := range p.handlers {
			t.spawn(func(ctx context.Context) {
				select {
				case <-w.h.Stopped():
					t.fail(w.stopped())
				case <-ctx.Done():
				}
			})
		}
	case <-t.ctx.Done():
	}
	return t.ctx.Err() == nil
}

// leased is a job that one instance at a time runs, under its lease.
type leased struct {
	name string
	run  func(ctx context.Context) error
}

// pollers are a poller per source, publishing to its raw topic.
func (h *Hub) pollers(p *parts) []leased {
	var out []leased
	for _, src := range p.sources {
		pl := &ingest.Poller{
			Source: src.name, Pull: src.pull, Topic: p.topics.Raw(src.name), Publisher: p.pub,
			Cursors: h.store, Events: h.store, Instance: h.cfg.Instance,
			Interval: durationOr(src.interval, time.Second), Counters: h.counters, Logger: h.log,
			Wait: h.waitFor(src.name), Retried: func() { h.breakers.CountRetry(src.name) },
			Published:  func(pulled time.Time) { p.metrics.Published(src.name, pulled) },
			Changed:    func(n int) { p.metrics.Changed(src.name, n) },
			MaxBackoff: 5 * time.Second,
		}
		out = append(out, leased{"poller:" + src.name, pl.Run})
	}
	return out
}

// loops are the background loops: the level-4 ones, event retention and
// the signing of the audit trail's head.
func (h *Hub) loops(p *parts) []leased {
	loops := p.l4.loops(h.cfg)
	if keep := durationOr(h.cfg.Retention.Events, defaultEventRetention); h.cfg.Retention.Events >= 0 {
		every := durationOr(h.cfg.Retention.Interval, defaultPruneInterval)
		loops["retention"] = func(ctx context.Context) error { return pruneEvents(ctx, h.store, keep, every, h.log) }
	}
	if sign := h.trailLoop(); sign != nil {
		loops["trail-heads"] = sign
	}
	if h.cfg.Reconcile.Rate > 0 {
		loops["reconcile"] = p.reconciler.Run
	}
	var out []leased
	for name, run := range loops {
		out = append(out, leased{name, run})
	}
	return out
}

// lead runs each job on whichever instance holds its lease. Every instance
// runs the router; another takes a job over within the lease's TTL when
// its instance dies.
func (h *Hub) lead(t *tasks, jobs []leased) {
	holder := h.id
	ttl := durationOr(h.cfg.LeaseTTL, 10*time.Second)
	for _, job := range jobs {
		t.spawn(func(ctx context.Context) {
			err := store.Lead(ctx, h.store, job.name, holder, ttl, func(ctx context.Context) error {
				h.log.Info("leading", "lease", job.name, "holder", holder)
				return job.run(ctx)
			})
			if err != nil {
				t.fail(fmt.Errorf("%s: %w", job.name, err))
			}
		})
	}
}

// startHTTP starts the operator API and serves the hub's HTTP surface;
// shutdown stops serving.
func (h *Hub) startHTTP(t *tasks, p *parts) (shutdown func(), err error) {
	ops := h.operatorAPI(p, dlq.New(h.store, p.pub, p.topics, h.cfg.Instance))
	t.spawn(ops.Run)
	srv, err := serveHTTP(h.cfg.HTTP.Listen, p.tracer.Handler(h.httpHandler(p.l4, ops, p.metrics)), h.log)
	if err != nil {
		return nil, err
	}
	h.log.Info("http listening", "addr", h.cfg.HTTP.Listen)
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// finish waits, once Run's context has ended, for everything Run started
// and returns what failed.
func (h *Hub) finish(t *tasks) error {
	h.life.stopping("shutdown requested", false)
	if failed := t.failed(); failed != nil {
		h.log.Error("hub stopping: no more pulls, finishing messages in flight", "error", failed.Error())
	} else {
		h.log.Info("hub stopping: no more pulls, finishing messages in flight")
	}
	t.wg.Wait()
	h.log.Info("hub stopped")
	return t.failed()
}

// watched is a router handler whose stop stops the hub.
type watched struct {
	name, topic string
	h           *message.Handler
	tap         *errorTap
}

// stopped says which handler stopped and, when its subscriber logged an
// error, the last one: usually why its subscription ended.
func (w watched) stopped() error {
	if last := w.tap.last.Load(); last != nil {
		return fmt.Errorf("router handler %s stopped: its subscription to %s ended (last error: %s)", w.name, w.topic, *last)
	}
	return fmt.Errorf("router handler %s stopped: its subscription to %s ended", w.name, w.topic)
}

// errorTap is a Watermill logger that also keeps the last error logged
// through it or a logger derived from it.
type errorTap struct {
	watermill.LoggerAdapter
	last *atomic.Pointer[string]
}

func (t *errorTap) Error(msg string, err error, fields watermill.LogFields) {
	s := msg
	if err != nil {
		s += ": " + err.Error()
	}
	t.last.Store(&s)
	t.LoggerAdapter.Error(msg, err, fields)
}

func (t *errorTap) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return &errorTap{LoggerAdapter: t.LoggerAdapter.With(fields), last: t.last}
}

// keepOpen hands the shared publisher to a router handler without letting
// it close it: Watermill closes a handler's publisher when the handler
// stops, and the first handler to stop would close it under the pollers
// and the other handlers still publishing. Run closes it last.
type keepOpen struct{ message.Publisher }

func (keepOpen) Close() error { return nil }

// PublisherConfig is the Kafka publisher configuration the hub publishes
// with (brokers, topic creation, TLS, SASL). Tools that publish as the hub
// does use NewPublisher, which also seals the payloads.
func (c Config) PublisherConfig() kafka.PublisherConfig {
	if c.Instance == "" {
		c.Instance = "hub"
	}
	return (&Hub{cfg: c}).publisherConfig()
}

func (h *Hub) publisherConfig() kafka.PublisherConfig {
	c := kafka.PublisherConfig{Brokers: h.cfg.Kafka.Brokers, ClientID: "lienthong-" + h.cfg.Instance}
	if h.cfg.Kafka.Partitions > 0 {
		c.CreateTopics = &kafka.TopicCreation{Partitions: h.cfg.Kafka.Partitions, ReplicationFactor: h.cfg.Kafka.ReplicationFactor}
	}
	c.TLS, c.SASL = h.security()
	return c
}

func (h *Hub) subscriberConfig(group string) kafka.SubscriberConfig {
	session := durationOr(h.cfg.Kafka.SessionTimeout, 10*time.Second)
	c := kafka.SubscriberConfig{
		Brokers: h.cfg.Kafka.Brokers, ConsumerGroup: h.cfg.Kafka.GroupPrefix + "lienthong-" + group,
		SessionTimeout: session, HeartbeatInterval: session / 3,
		// kafka-go leaves a fetch MaxWait/4 of slack past the broker's own
		// wait when MaxWait is under a second; a busy broker misses that
		// and the reader logs an i/o timeout and reconnects. From 2s up it
		// leaves a whole second. Fetches still return as soon as data is
		// there; only stopping a partition consumer can take that long.
		FetchMaxWait: 2 * time.Second,
		FetchAhead:   4,
		// Group members (and their member IDs) name their instance.
		ClientID: "lienthong-" + h.cfg.Instance,
	}
	if h.cfg.Kafka.Partitions > 0 {
		// Subscribers start before the first publish: whoever comes first
		// creates the topic, with the configured partitions either way.
		c.CreateTopics = &kafka.TopicCreation{Partitions: h.cfg.Kafka.Partitions, ReplicationFactor: h.cfg.Kafka.ReplicationFactor}
	}
	c.TLS, c.SASL = h.security()
	return c
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// serveHTTP listens on addr and serves h until Shutdown.
func serveHTTP(addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		// Its own complaints (bad TLS handshakes, panics) as JSON log lines too.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
