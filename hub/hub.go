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
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/metrics"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/ingest"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/schemas"
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
	sources, err := h.sources()
	if err != nil {
		return err
	}
	topics := router.Topics{Prefix: h.cfg.Kafka.TopicPrefix}
	wlog := watermill.NewSlogLoggerWithLevelMapping(h.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})

	// Every message goes to Kafka sealed with the store's key set, and is
	// opened before a handler sees it.
	keys, err := h.cfg.Store.MessageKeys()
	if err != nil {
		return fmt.Errorf("kafka messages: %w", err)
	}
	pub, err := newPublisher(h.publisherConfig(), keys, wlog)
	if err != nil {
		return err
	}
	defer pub.Close()

	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	names := make([]string, len(sources))
	for i, src := range sources {
		names[i] = src.name
	}
	// Filled in as the handlers are added: per topic, the one handler that
	// quarantines a message it cannot open (the others skip it), with the
	// format a replay puts back on that topic.
	quarantineBy := map[string]string{}
	opener := &seal.Opener{Keys: keys, Store: h.store, QuarantineBy: quarantineBy,
		Instance: h.cfg.Instance, Log: h.log,
		Quarantined: func(source string) { h.counters.Add(source, progress.Quarantined, 1) }}
	r.AddMiddleware(middleware.Recoverer, opener.Middleware)
	m := metrics.New(h.counters, h.breakers, names)
	r.AddMiddleware(m.Middleware(""))
	if h.cfg.Router.DuplicateDeliveries {
		h.log.Warn("router: every message is handled twice (router.duplicate_deliveries); a test setting")
		r.AddMiddleware(middleware.Duplicator)
	}

	mapper, err := h.cfg.Mapper()
	if err != nil {
		return err
	}
	norm := router.NewNormaliser(mapper, h.store, h.counters, h.log, h.cfg.Instance)
	norm.Resolved = m.Resolved
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	// Each handler has a subscriber of its own, in its own consumer group
	// (named after the handler), whose last error is kept to say why the
	// handler stopped if it does.
	var handlers []watched
	subscriber := func(name, topic string) (*kafka.Subscriber, func(*message.Handler), error) {
		tap := &errorTap{LoggerAdapter: wlog, last: new(atomic.Pointer[string])}
		cfg := h.subscriberConfig(name)
		// What is in flight is what the hub holds in memory (each message
		// also a goroutine). The national sink needs many dossiers at hand
		// to fill its calls; the other handlers work one message at a time
		// and need only enough to cover their round trips: 64 kept them
		// busy in `hub bench`, and 256 cost 70 MB more at its peak.
		cfg.TopicWindowMessages = 64
		switch {
		case name == "national":
			cfg.TopicWindowMessages = 2048
		case strings.HasPrefix(name, "normalise-"):
			// A change feed lists every change, so a raw topic holds runs
			// of one dossier's versions, each waiting for the one before:
			// the window must span more dossiers to keep the normaliser
			// busy (with 64 it held `hub bench` steady back; 256 cost
			// 35 MB more at the peak of a backlog).
			cfg.TopicWindowMessages = 128
		}
		sub, err := kafka.NewSubscriber(cfg, tap)
		if err != nil {
			return nil, nil, fmt.Errorf("kafka subscriber %s: %w", name, err)
		}
		closers = append(closers, sub.Close)
		return sub, func(hd *message.Handler) { handlers = append(handlers, watched{name, topic, hd, tap}) }, nil
	}
	for _, src := range sources {
		name, topic := "normalise-"+src.name, topics.Raw(src.name)
		sub, watch, err := subscriber(name, topic)
		if err != nil {
			return err
		}
		watch(r.AddHandler(name, topic, sub, topics.Canonical(), keepOpen{pub}, norm.Handle))
		quarantineBy[name] = schemas.FormatRawMessage
	}

	portal, err := national.New(national.Config{
		BaseURL: h.cfg.National.BaseURL, Username: h.cfg.National.Username, Password: h.cfg.National.Password,
		HTTPClient: h.checkedClient(endpointNational, h.cfg.National.Timeout, national.InternalError),
	})
	if err != nil {
		return err
	}
	units := map[string]national.Unit{}
	for _, src := range sources {
		units[src.name] = src.unit
	}
	sink := router.NewNationalSink(router.NationalSinkConfig{
		Units: units, Linger: h.cfg.National.Linger, Concurrency: h.cfg.National.Concurrency, Calls: h.cfg.National.Calls, Instance: h.cfg.Instance, Effects: h.store,
		Wait: h.waitFor(endpointNational), Retried: func() { h.breakers.CountRetry(endpointNational) },
		Track: m.TrackLag, Resolved: m.Resolved,
		// The breaker paces calls to a portal that is down; a long backoff
		// on top would only delay the catch-up once it is back.
		MaxBackoff: 5 * time.Second,
	}, portal, h.store, h.counters, h.log)
	sinkSub, watch, err := subscriber("national", topics.Canonical())
	if err != nil {
		return err
	}
	watch(r.AddConsumerHandler("national", topics.Canonical(), sinkSub, sink.Handle))
	quarantineBy["national"] = schemas.FormatCanonical

	resync := &router.Resyncer{Ledger: h.store, Publisher: pub, Topic: topics.Canonical()}
	l4, err := h.buildLevel4(sources, resync, &notify.Publisher{Publisher: pub, Topic: topics.Notices()})
	if err != nil {
		return err
	}
	if l4.mail != nil {
		closers = append(closers, l4.mail.Close)
	}
	for _, spec := range l4.handlers(topics) {
		sub, watch, err := subscriber(spec.name, spec.topic)
		if err != nil {
			return err
		}
		if spec.quarantine != "" {
			quarantineBy[spec.name] = spec.quarantine
		}
		var hd *message.Handler
		if spec.handle != nil {
			hd = r.AddHandler(spec.name, spec.topic, sub, spec.out, keepOpen{pub}, spec.handle)
		} else {
			hd = r.AddConsumerHandler(spec.name, spec.topic, sub, spec.consume)
		}
		watch(hd)
		// An external system that fails now often answers a moment later;
		// past these retries the message is redelivered.
		needs := spec.needs
		hd.AddMiddleware(middleware.Retry{MaxRetries: 3, InitialInterval: 500 * time.Millisecond,
			MaxInterval: 5 * time.Second, Multiplier: 2, Logger: wlog,
			OnRetryHook: func(int, time.Duration) {
				for _, n := range needs {
					h.breakers.CountRetry(n)
				}
			}}.Middleware)
		if len(needs) > 0 {
			// Inside Retry, so each attempt waits: while a system the
			// handler needs is down, the message waits in Kafka.
			hd.AddMiddleware(h.breakers.WaitMiddleware(needs...))
		}
	}

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
		sink.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		norm.Run(runCtx)
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
	loops := l4.loops(h.cfg)
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
		srv, err := serveHTTP(h.cfg.HTTP.Listen, h.httpHandler(l4, ops, m), h.log)
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
