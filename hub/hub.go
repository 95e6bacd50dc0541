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
	eventPruner
	CreateToken(ctx context.Context, t store.APIToken) error
	IndexIdentities(ctx context.Context, links []store.IdentityLink) error
	// HeldVersions is what `hub dev` and `hub bench` poll for progress.
	HeldVersions(ctx context.Context, ids []string) (map[string]int64, error)
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
}

// New returns a hub over an open store. Counters may be shared with the
// caller to watch progress.
func New(cfg Config, st Store, counters *progress.Counters, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	if counters == nil {
		counters = progress.New()
	}
	if cfg.Instance == "" {
		cfg.Instance = "hub"
	}
	return &Hub{cfg: cfg, store: st, counters: counters, log: log,
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
	sources, topics, pub, r, m, names, handlers := p.sources, p.topics, p.pub, p.router, p.metrics, p.names, p.handlers

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var (
		errMu sync.Mutex
		errs  []error
	)
	report := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	// fail stops the hub because err stopped under it. A Watermill router
	// cannot be run again, and a handler that stopped has closed the
	// publisher it shares with the pollers and the other handlers: rather
	// than rebuild all that in-process, the hub stops whole and says why,
	// so that its supervisor restarts it (with backoff) and /healthz tells
	// the truth meanwhile. Pollers' leases and the consumer groups' partitions
	// go to the other instances as they would after a crash.
	fail := func(err error) {
		if runCtx.Err() != nil {
			return // already stopping: this is a consequence, not a cause
		}
		report(err)
		h.life.stopping(err.Error(), true)
		cancel()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.sink.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		p.norm.Run(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Run returns nil when the router closed itself because all its
		// handlers stopped: only ctx may end it without an error.
		err := r.Run(runCtx)
		h.life.routerEnded()
		if runCtx.Err() != nil {
			if err != nil {
				report(fmt.Errorf("router: %w", err))
			}
			return
		}
		var why []string
		if err != nil {
			why = append(why, err.Error())
		}
		for _, w := range handlers {
			select {
			case <-w.h.Stopped(): // nil, so never ready, if it never started
				why = append(why, w.stopped().Error())
			default:
			}
		}
		if len(why) == 0 {
			fail(errors.New("router stopped"))
		} else {
			fail(fmt.Errorf("router stopped: %s", strings.Join(why, "; ")))
		}
	}()
	select {
	case <-r.Running():
		// Running stays closed once a running router has stopped; the
		// handler watchers below then see their handlers stopped at once.
		h.life.routerStarted()
		for _, w := range handlers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-w.h.Stopped():
					fail(w.stopped())
				case <-runCtx.Done():
				}
			}()
		}
	case <-runCtx.Done():
	}
	if runCtx.Err() != nil {
		// Stopped or failed before the router ran: start nothing more.
		return h.finish(&wg, &errMu, &errs)
	}
	// Every instance runs the router; each poller and background loop runs
	// on one instance at a time, the holder of its lease. Another takes over
	// within the lease's TTL when that instance dies.
	holder := fmt.Sprintf("%s/%d/%s", h.cfg.Instance, os.Getpid(), watermill.NewShortUUID())
	ttl := durationOr(h.cfg.LeaseTTL, 10*time.Second)
	lead := func(name string, run func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := store.Lead(runCtx, h.store, name, holder, ttl, func(ctx context.Context) error {
				h.log.Info("leading", "lease", name, "holder", holder)
				return run(ctx)
			})
			if err != nil {
				fail(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	for _, src := range sources {
		p := &ingest.Poller{
			Source: src.name, Pull: src.pull, Topic: topics.Raw(src.name), Publisher: pub,
			Cursors: h.store, Events: h.store, Instance: h.cfg.Instance,
			Interval: durationOr(src.interval, time.Second), Counters: h.counters, Logger: h.log,
			Wait: h.waitFor(src.name), Retried: func() { h.breakers.CountRetry(src.name) },
			Published:  func(pulled time.Time) { m.Published(src.name, pulled) },
			MaxBackoff: 5 * time.Second,
		}
		lead("poller:"+src.name, p.Run)
	}
	loops := p.l4.loops(h.cfg)
	if keep := durationOr(h.cfg.Retention.Events, defaultEventRetention); h.cfg.Retention.Events >= 0 {
		every := durationOr(h.cfg.Retention.Interval, defaultPruneInterval)
		loops["retention"] = func(ctx context.Context) error { return pruneEvents(ctx, h.store, keep, every, h.log) }
	}
	for name, run := range loops {
		lead(name, run)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.gauges(runCtx, m, names)
	}()
	if h.cfg.HTTP.Listen != "" {
		ops := h.operatorAPI(sources, dlq.New(h.store, pub, topics, h.cfg.Instance), m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops.Run(runCtx)
		}()
		srv, err := serveHTTP(h.cfg.HTTP.Listen, h.httpHandler(p.l4, ops, m), h.log)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		h.log.Info("http listening", "addr", h.cfg.HTTP.Listen)
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	h.log.Info("hub running", "instance", h.cfg.Instance, "sources", len(sources))
	<-runCtx.Done()
	return h.finish(&wg, &errMu, &errs)
}

// finish waits, once Run's context has ended, for everything Run started
// and returns what failed.
func (h *Hub) finish(wg *sync.WaitGroup, mu *sync.Mutex, errs *[]error) error {
	h.life.stopping("shutdown requested", false)
	mu.Lock()
	failed := errors.Join(*errs...)
	mu.Unlock()
	if failed != nil {
		h.log.Error("hub stopping: no more pulls, finishing messages in flight", "error", failed.Error())
	} else {
		h.log.Info("hub stopping: no more pulls, finishing messages in flight")
	}
	wg.Wait()
	h.log.Info("hub stopped")
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(*errs...)
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
